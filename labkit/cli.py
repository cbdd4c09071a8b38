"""The `labkit` command line: stack control, generate, consume, process, bench, features.

Every command runs inside `lab_errors`: a LabError becomes its cause and fix on
stderr and exit code 1, never a traceback.
"""

from __future__ import annotations

import functools
import inspect
import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import typer
from rich.console import Console

from . import engines, serde, stack, topics
from . import generate as generator
from .errors import LabError
from .runs import RUN_FLAGS, Flag, Outputs, RunOptions
from .settings import get_settings
from .stack import kafka_tools
from .stack.jvm import ensure_jvm_parts

app = typer.Typer(help="streaming-lab: a live Kafka / Schema Registry / Redis / Flink lab.",
                  no_args_is_help=True, pretty_exceptions_enable=False)
stack_app = typer.Typer(help="Start, stop and inspect the embedded stack.", no_args_is_help=True)
app.add_typer(stack_app, name="stack")

# Rich assumes 80 columns when output is not a terminal (CI logs, pipes): too narrow
# for the status table.
features_app = typer.Typer(help="Read what the engines wrote; rebuild Redis from it.",
                           no_args_is_help=True)
app.add_typer(features_app, name="features")

SCHEMA_HELP = "Schema version in schemas/: v1 means transactions.v1.avsc."

console = Console() if Console().is_terminal else Console(width=140)
errors = Console(stderr=True, width=None if console.is_terminal else 140)


F = TypeVar("F", bound=Callable[..., Any])


def lab_errors(command: F) -> F:
    """Run a command; a LabError becomes a short message (cause, fix) and exit code 1."""
    @functools.wraps(command)
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        try:
            return command(*args, **kwargs)
        except LabError as exc:
            errors.print(f"[bold red]error:[/] {exc.cause}", soft_wrap=True)
            if exc.fix:
                errors.print(f"[bold]fix:[/] {exc.fix}", soft_wrap=True)
            raise typer.Exit(1) from None
    return wrapped  # type: ignore[return-value]


PROFILE_HELP = ("core: Kafka, the registry, Redis (Flink jobs on a mini-cluster each); "
                "flink: the same plus a standalone Flink cluster (notebook 06 needs it); "
                "cluster: the flink profile plus a three-broker Kafka cluster (notebook 09).")


@stack_app.command()
@lab_errors
def up(flink_cluster: bool = typer.Option(
        False, "--flink-cluster", help="The same as --profile flink."),
       profile: str = typer.Option("core", "--profile", help=PROFILE_HELP),
       ) -> None:
    """Start every service that is not already running, and wait until all are healthy."""
    profile = "flink" if flink_cluster and profile == "core" else _profile(profile)
    stack.up(flink_cluster=profile != "core", cluster=profile == "cluster", console=console)
    console.print(stack.status_table(stack.status()))


def _profile(profile: str) -> str:
    from .stack.doctor import PROFILES

    if profile not in PROFILES:
        raise LabError(f"There is no profile {profile!r}.",
                       f"pass --profile {' or --profile '.join(PROFILES)}.")
    return profile


@app.command()
@lab_errors
def doctor(profile: str = typer.Option("flink", "--profile", help=PROFILE_HELP)) -> None:
    """Check that the stack can start here: every problem with its fix; exit 1 if it cannot."""
    from rich.table import Table

    from .stack import doctor as preflight

    profile = _profile(profile)
    results = preflight.checks(get_settings(), stack.services(
        flink_cluster=profile != "core", cluster=profile == "cluster"), profile=profile)
    table = Table(title=f"labkit doctor (profile {profile})")
    for column in ("check", "status", "detail", "fix"):
        table.add_column(column, overflow="fold")
    style = {"ok": "green", "warn": "yellow", "fail": "bold red"}
    for check in results:
        table.add_row(check.name, f"[{style[check.status]}]{check.status}[/]", check.detail,
                      check.fix)
    console.print(table)
    if preflight.failed(results):
        raise typer.Exit(1)


@stack_app.command()
@lab_errors
def fetch() -> None:
    """Fetch the JVM parts (Kafka, Apicurio, Flink connector jars) with Maven if missing."""
    settings = get_settings()
    ensure_jvm_parts(settings)
    console.print(f"JVM parts ready under {settings.jvm_dir}")


@stack_app.command()
@lab_errors
def down() -> None:
    """Stop the processes `labkit stack up` started (tracked by PID)."""
    stopped = stack.down(console=console)
    if not stopped:
        console.print("nothing to stop: labkit has no running processes")


@stack_app.command()
@lab_errors
def status() -> None:
    """Probe each service and print its version, endpoint and health (exit 1 if any is down);
    with the cluster profile, each broker, the controllers' leader, and each topic's
    partition leaders and ISR."""
    rows = stack.status()
    console.print(stack.status_table(rows))
    if any(row.name == "cluster" and row.health.version for row in rows):
        _print_cluster()
    if not all(row.health.ok for row in rows):
        raise typer.Exit(1)


def _print_cluster() -> None:
    from . import cluster

    console.print(cluster.brokers().to_string())
    console.print(f"controller quorum leader: node {cluster.controller_leader()}")
    console.print(cluster.topic_placements().to_string(index=False))


cluster_app = typer.Typer(help="Break chapter 09's Kafka cluster one broker at a time "
                          "(only brokers labkit started, by PID).", no_args_is_help=True)
app.add_typer(cluster_app, name="cluster")
BROKER = typer.Argument(..., help="The broker's id: 1, 2 or 3.")


@cluster_app.command("kill")
@lab_errors
def cluster_kill(broker: int = BROKER) -> None:
    """SIGKILL one broker: a crash; the controllers notice when its heartbeats stop."""
    from . import cluster

    cluster.kill_broker(broker)
    console.print(f"killed broker {broker}; `labkit cluster start` starts it again")


@cluster_app.command("stop")
@lab_errors
def cluster_stop(broker: int = BROKER) -> None:
    """Stop one broker cleanly (SIGTERM: it hands its leaderships over first)."""
    from . import cluster

    cluster.stop_broker(broker)
    console.print(f"stopped broker {broker}; `labkit cluster start` starts it again")


@cluster_app.command("start")
@lab_errors
def cluster_start() -> None:
    """Start every broker of the cluster that is down, and wait until all three answer."""
    from . import cluster

    started = cluster.start_brokers()
    console.print("started " + (", ".join(started) or "nothing: every broker is up"))


@app.command("kafka", context_settings={"allow_extra_args": True,
                                        "ignore_unknown_options": True})
@lab_errors
def kafka_tool(ctx: typer.Context,
               tool: str = typer.Argument(..., help=", ".join(kafka_tools.TOOLS))) -> None:
    """Run Kafka's own tool `kafka-<tool>.sh` with the arguments that follow, e.g.
    `labkit kafka topics --describe --topic T --bootstrap-server 127.0.0.1:9192`
    (--bootstrap-server defaults to LAB_KAFKA)."""
    argv = kafka_tools.tool_argv(get_settings(), tool, list(ctx.args))
    raise typer.Exit(subprocess.call(argv))


@stack_app.command()
@lab_errors
def logs(service: str = typer.Argument(..., help="kafka, registry, redis, flink or cluster"),
         lines: int = typer.Option(40, "--lines", "-n", help="How many lines from the end.")
         ) -> None:
    """Print the end of a service's log file(s) under .lab/logs/."""
    console.print(stack.logs(service, lines=lines), markup=False, highlight=False)


@stack_app.command()
@lab_errors
def reset() -> None:
    """Stop the stack and delete its data and logs (topics, registry, Redis); keep the jars."""
    stack.reset(console=console)
    console.print("stack stopped and data deleted; `labkit stack up` starts from empty")


@app.command()
@lab_errors
def generate(
    topic: str = typer.Option(..., "--topic", "-t", help="Topic to produce to (created if new)."),
    count: int = typer.Option(1000, "--count", "-n", min=1, help="How many transactions."),
    seed: int = typer.Option(generator.LAB_SEED, "--seed", help="Same seed, same data."),
    fmt: str = typer.Option("avro", "--format", help="json | avro | confluent"),
    schema: str = typer.Option("v1", "--schema", help=SCHEMA_HELP),
    rate: float = typer.Option(None, "--rate", min=0.1, help="Events per second (default: max)."),
) -> None:
    """Produce seeded synthetic transactions, keyed by card_id."""
    sent = generator.produce(topic, count, seed=seed, fmt=fmt, schema=f"transactions.{schema}",
                             rate=rate, progress=True)
    console.print(f"produced {sent} {fmt} transactions to {topic} (seed {seed})")


@app.command()
@lab_errors
def consume(
    topic: str = typer.Option(..., "--topic", "-t"),
    fmt: str = typer.Option("avro", "--format",
                            help="json-naive (the bug) | json | avro | confluent"),
    schema: str = typer.Option("v1", "--schema", help="Writer schema for --format avro. "
                               + SCHEMA_HELP),
    reader: str = typer.Option(None, "--reader",
                               help="Reader schema to resolve records to (avro, confluent)."),
    max_messages: int = typer.Option(5, "--max-messages", "-n", min=1),
    timeout_s: float = typer.Option(10.0, "--timeout-s"),
) -> None:
    """Read a topic from the start and print each decoded record (bounded)."""
    decode = serde.make_decoder(fmt, schema=f"transactions.{schema}",
                                reader=reader and f"transactions.{reader}")
    records = topics.read(topic, max_messages=max_messages, timeout_s=timeout_s)
    for record in serde.decode_records(records, decode):
        console.print(record)


def _parameter(flag: Flag) -> inspect.Parameter:
    """Run flag `flag` as a keyword parameter typer reads: its type, RunOptions' default,
    and help that names the engines that take it (the registry's `takes`)."""
    default = RunOptions.__dataclass_fields__[flag.option].default
    option = typer.Option(default, flag.names, *filter(None, [flag.short]), min=flag.minimum,
                          help=f"{flag.help} Engines: {', '.join(engines.takers(flag.option))}.")
    return inspect.Parameter(flag.option, inspect.Parameter.KEYWORD_ONLY, default=option,
                             annotation=flag.kind if default is not None else flag.kind | None)


def _with_run_flags(command: F) -> F:
    """`command` with one typer option per run flag (`runs.RUN_FLAGS`) after its own
    parameters: the table is their one definition. `command` gets their values, read
    back as run options, in its keyword `options`."""
    own = [param for param in inspect.signature(command).parameters.values()
           if param.name != "options"]
    flags = [_parameter(flag) for flag in RUN_FLAGS.values()]

    @functools.wraps(command)
    def wrapped(**given: Any) -> Any:
        options = {name: flag.read(given.pop(name)) for name, flag in RUN_FLAGS.items()}
        return command(**given, options=options)

    wrapped.__signature__ = inspect.Signature([*own, *flags])  # type: ignore[attr-defined]
    wrapped.__annotations__ = {param.name: param.annotation for param in [*own, *flags]}
    return wrapped  # type: ignore[return-value]


@app.command()
@lab_errors
@_with_run_flags
def process(
    topic: str = typer.Option(..., "--topic", "-t", help="Input topic (Confluent-framed Avro)."),
    engine: str = typer.Option("simple", "--engine", help=" | ".join(engines.ENGINES)),
    *, options: dict[str, Any],
) -> None:
    """Compute features: feature log, dead letters, Redis; print the reconciliation.

    Processes started with the same --group share the partitions (Kafka's group
    protocol). An option the engine does not take is refused, never ignored: each
    option's help names the engines that take it.
    """
    spec = engines.get(engine)
    report = spec.run(topic, engines.options_for(**options,
                                                 progress="progress" in spec.takes))
    console.print(str(report), markup=False)
    if not report.balanced:
        raise typer.Exit(1)


bench_app = typer.Typer(help="Measure the engines on the live stack (events/s, per-stage "
                        "seconds, latency percentiles); run, save and report the full suite.",
                        no_args_is_help=True)
app.add_typer(bench_app, name="bench")

# The options several `labkit bench` subcommands share, defined once.
BENCH_EVENTS = typer.Option(100_000, "--events", "-n", min=1,
                            help="Size of the fresh seeded workload.")
BENCH_PARTITIONS = typer.Option(2, "--partitions", min=1, help="Partitions of the workload.")
BENCH_TOPIC = typer.Option(None, "--topic", help="Use this topic instead of a fresh one.")
BENCH_GUARANTEE = typer.Option("at-least-once", "--guarantee",
                               help="at-least-once | exactly-once | at-most-once (simple).")
BENCH_JSON = typer.Option(False, "--json", help="Print one JSON object per result.")


def _show(result: dict, as_json: bool) -> None:
    """Print a result (`Result.to_dict()`): plain on stdout with --json, which scale-out's
    parent process parses, else pretty."""
    text = json.dumps(result)
    if as_json:
        print(text, flush=True)
    else:
        console.print_json(text)


# `bench run --only`, read as `process --only` is (the flag table's).
_partition_list = RUN_FLAGS["partitions"].read


@bench_app.command("run")
@lab_errors
def bench_run(
    engine: str = typer.Option("simple", "--engine",
                               help="ceiling | passthrough | " + " | ".join(engines.ENGINES)),
    events: int = BENCH_EVENTS,
    topic: str = BENCH_TOPIC,
    partitions: int = BENCH_PARTITIONS,
    only: str = typer.Option(None, "--only", help="Only these partitions, e.g. 0,2 (simple)."),
    parallelism: int = typer.Option(1, "--parallelism", "-p", min=1, help="Flink parallelism."),
    flink_cluster: bool = typer.Option(False, "--flink-cluster",
                                       help="Run Flink engines on the standalone cluster."),
    tag: str = typer.Option(None, "--tag", help="Output tag (default per engine)."),
    guarantee: str = BENCH_GUARANTEE,
    members: int = typer.Option(None, "--members", min=1,
                                help="Hold back until the group has this many members "
                                "(one scale-out process; simple)."),
    instance: str = typer.Option("0", "--instance",
                                 help="This process's identity in its group (simple)."),
    pin: bool = typer.Option(False, "--pin", help="The engine on a core of its own, apart "
                             "from the stack's servers (simple engine and floors)."),
    as_json: bool = BENCH_JSON,
) -> None:
    """One engine or floor on a fresh seeded workload (or --topic): events/s, per-stage seconds.

    An option the engine does not take is refused, before any workload is made.
    """
    from . import bench

    _show(bench.run(engine, events=events, topic=topic, partitions=partitions,
                    only=_partition_list(only), parallelism=parallelism, cluster=flink_cluster,
                    tag=tag, guarantee=guarantee, members=members, instance=instance, pin=pin,
                    progress=console.is_terminal and not as_json).to_dict(), as_json)


@bench_app.command("latency")
@lab_errors
def bench_latency(
    rate: float = typer.Option(5_000, "--rate", min=1.0,
                               help="Steady offered load in events/s."),
    events: int = typer.Option(100_000, "--events", "-n", min=1,
                               help="Events to send: the load lasts events / rate seconds."),
    partitions: int = BENCH_PARTITIONS,
    pin: bool = typer.Option(False, "--pin", help="The engine on one core, the load "
                             "generator on another."),
    as_json: bool = BENCH_JSON,
) -> None:
    """The simple engine's latency percentiles under a steady offered load.

    The load comes from another process, on a fresh topic; processing and end to end.
    """
    from . import bench

    _show(bench.latency(rate=rate, seconds=events / rate, partitions=partitions,
                        pin=pin).to_dict(), as_json)


@bench_app.command("scale-out")
@lab_errors
def bench_scale_out(
    processes: int = typer.Option(2, "--processes", min=1,
                                  help="Simple engines in one group, a process each."),
    events: int = BENCH_EVENTS,
    topic: str = BENCH_TOPIC,
    partitions: int = BENCH_PARTITIONS,
    guarantee: str = BENCH_GUARANTEE,
    as_json: bool = BENCH_JSON,
) -> None:
    """Simple engines in one consumer group, a process each, sharing the partitions.

    Events/s counts from the first message loop's start to the last one's end.
    """
    from . import bench

    workload = topic or bench.workload(events, partitions=partitions,
                                       progress=console.is_terminal and not as_json)
    _show(bench.scale_out(workload, processes=processes, guarantee=guarantee).to_dict(),
          as_json)


@bench_app.command("suite")
@lab_errors
def bench_suite() -> None:
    """The full suite (what `make bench` runs), saved under .lab/bench/<UTC time>/.

    Every engine at 10K..1M events, scale-out and latency, with the conditions
    they were measured under.
    """
    from . import bench, conditions

    before = conditions.snapshot()
    results = bench.suite(progress=console.is_terminal,
                          show=lambda result: _show(result.to_dict(), as_json=False))
    folder = bench.save(results, measured_under={"before": before,
                                                  "after": conditions.snapshot()})
    console.print(f"saved to {folder}; `labkit bench report` prints its table", style="bold")


@bench_app.command("report")
@lab_errors
def bench_report(
    folder: str = typer.Option(None, "--from", help="A saved suite's folder (default: the "
                               "newest under .lab/bench/)."),
) -> None:
    """Print a saved suite as the README's Markdown performance table; measures nothing."""
    from . import bench

    print(bench.report(Path(folder) if folder else None))


@app.command()
@lab_errors
def lag(group: str = typer.Option(..., "--group", "-g", help="The consumer group."),
        topic: str = typer.Option(None, "--topic", "-t",
                                  help="Every partition of this topic (default: every "
                                  "partition the group has committed on).")) -> None:
    """Per partition: the group's committed offset, the end offset, the lag between them, and
    the member that holds the partition now ("-": no member does)."""
    from rich.table import Table

    from . import groups

    rows = groups.lag(group, topic)
    if not rows:
        errors.print(f"group {group!r} has committed nothing"
                     + (f" on {topic}" if topic else ""))
        raise typer.Exit(1)
    held_by = groups.owners(group)
    table = Table(title=f"consumer group {group}")
    for column in ("topic", "partition", "committed", "end", "lag", "member"):
        table.add_column(column, justify="right" if column in ("partition", "committed", "end",
                                                               "lag") else "left")
    for row in rows:
        table.add_row(row.topic, str(row.partition),
                      "-" if row.committed is None else f"{row.committed:,}", f"{row.end:,}",
                      f"{row.lag:,}", held_by.get((row.topic, row.partition), "-"))
    console.print(table)
    console.print(f"total lag {sum(row.lag for row in rows):,}")


@app.command("check")
@lab_errors
def check_exercises(
    chapter: str = typer.Argument(None, help="Chapter number, e.g. 01 (or --all)."),
    solutions: bool = typer.Option(False, "--solutions",
                                   help="Grade the reference solutions instead of your file."),
    every: bool = typer.Option(False, "--all",
                               help="Grade every chapter; print a progress table."),
) -> None:
    """Grade a chapter's exercises (exercises/chNN_*.py) against the live stack."""
    from . import check

    if every == (chapter is not None):
        raise LabError("Name one chapter, or --all (not both).",
                       "e.g. `labkit check 01`, or `labkit check --all`.")
    if every:
        passed, total = _check_every_chapter(solutions)
    else:
        grades = check.check(chapter, solutions=solutions, directory=check.EXERCISES_DIR)
        for grade in grades:
            console.print(str(grade), markup=False, highlight=False)
        passed, total = sum(grade.passed for grade in grades), len(grades)
    console.print(f"{passed} of {total} exercises pass", style="bold")
    if passed < total:
        raise typer.Exit(1)


def _check_every_chapter(solutions: bool) -> tuple[int, int]:
    """Grade each chapter in turn; print one row per chapter; return (passed, total)."""
    from rich.table import Table

    from . import check

    table = Table(title="exercises" + (" (reference solutions)" if solutions else ""))
    for column in ("chapter", "topic", "passed", "not passing yet"):
        table.add_column(column, justify="right" if column == "passed" else "left")
    passed = total = 0
    folder = check.EXERCISES_DIR
    for chapter in check.chapters(folder):
        with errors.status(f"grading chapter {chapter} …"):
            grades = check.check(chapter, solutions=solutions, directory=folder)
        ok = sum(grade.passed for grade in grades)
        passed, total = passed + ok, total + len(grades)
        failing = ", ".join(grade.exercise for grade in grades if not grade.passed)
        table.add_row(chapter, check.topic(chapter, folder), f"{ok} / {len(grades)}",
                      failing or "-")
    console.print(table)
    if passed < total:
        console.print("`labkit check NN` shows why an exercise fails.", markup=False,
                      highlight=False)
    return passed, total


@features_app.command("get")
@lab_errors
def features_get(card_id: str = typer.Argument(..., help="e.g. card-0007"),
                 topic: str = typer.Option(..., "--topic", "-t", help="The run's input topic."),
                 tag: str = typer.Option("", "--tag")) -> None:
    """Print a card's latest feature record from Redis, as typed JSON."""
    from .sinks import RedisFeatureSink

    record = RedisFeatureSink(key_prefix=Outputs(topic, tag).redis_prefix).read_features(card_id)
    if not record:
        errors.print(f"no features for {card_id} from {topic}{tag}")
        raise typer.Exit(1)
    console.print_json(json.dumps(record))


@features_app.command("restore")
@lab_errors
def features_restore(
    topic: str = typer.Option(..., "--topic", "-t", help="A run's changelog "
                              "(<input>.features<tag>.latest) or its feature log."),
    prefix: str = typer.Option(None, "--prefix", help="Redis key prefix (default: the run's, "
                               "from the topic's name: features:<input><tag>:)."),
) -> None:
    """Rebuild Redis from a changelog or a feature log: each card's latest record, and a
    tombstoned card's key deleted."""
    from . import changelog
    from .sinks import RedisFeatureSink

    sink = RedisFeatureSink(key_prefix=prefix or changelog.redis_prefix_for(topic))
    # Only in a real terminal: Jupyter's `!labkit ...` is a pipe that rich may still colour.
    restored = changelog.restore(topic, sink, progress=sys.stderr.isatty())
    console.print(f"{restored} into {sink.key_prefix}*", markup=False, highlight=False)
