"""The `labkit` command line: stack control, generate, consume, process, bench, features.

Every command runs inside `lab_errors`: a LabError becomes its cause and fix on
stderr and exit code 1, never a traceback.
"""

from __future__ import annotations

import functools
import inspect
import json
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
from .stack.jvm import ensure_jvm_parts

app = typer.Typer(help="streaming-lab: a live Kafka / Schema Registry / Redis / Flink lab.",
                  no_args_is_help=True, pretty_exceptions_enable=False)
stack_app = typer.Typer(help="Start, stop and inspect the embedded stack.", no_args_is_help=True)
app.add_typer(stack_app, name="stack")

# Rich assumes 80 columns when output is not a terminal (CI logs, pipes): too narrow
# for the status table.
features_app = typer.Typer(help="Read what the engines wrote.", no_args_is_help=True)
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
                "flink: the same plus a standalone Flink cluster (notebook 06 needs it).")


@stack_app.command()
@lab_errors
def up(flink_cluster: bool = typer.Option(
        False, "--flink-cluster", help="The same as --profile flink."),
       profile: str = typer.Option("core", "--profile", help=PROFILE_HELP),
       ) -> None:
    """Start every service that is not already running, and wait until all are healthy."""
    stack.up(flink_cluster=flink_cluster or _profile(profile) == "flink", console=console)
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
    results = preflight.checks(get_settings(), stack.services(flink_cluster=profile == "flink"),
                               profile=profile)
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
    """Probe each service and print its version, endpoint and health (exit 1 if any is down)."""
    rows = stack.status()
    console.print(stack.status_table(rows))
    if not all(row.health.ok for row in rows):
        raise typer.Exit(1)


@stack_app.command()
@lab_errors
def logs(service: str = typer.Argument(..., help="kafka, registry, redis or flink"),
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


# `bench --only`, read as `process --only` is (the flag table's).
_partition_list = RUN_FLAGS["partitions"].read


@app.command()
@lab_errors
def bench(
    engine: str = typer.Option(None, "--engine", show_default="simple",
                               help="ceiling | passthrough | " + " | ".join(engines.ENGINES)),
    events: int = typer.Option(100_000, "--events", "-n", min=1,
                               help="Size of the fresh seeded workload."),
    partitions: int = typer.Option(2, "--partitions", min=1, help="Partitions of the workload."),
    parallelism: int = typer.Option(1, "--parallelism", "-p", min=1, help="Flink parallelism."),
    processes: int = typer.Option(1, "--processes", min=1,
                                  help="Simple engines in one group (scale-out)."),
    rate: float = typer.Option(None, "--rate", min=1.0,
                               help="Latency run: steady offered load in events/s (simple)."),
    flink_cluster: bool = typer.Option(False, "--flink-cluster",
                                       help="Run Flink engines on the standalone cluster."),
    topic: str = typer.Option(None, "--topic", help="Use this topic instead of a fresh one."),
    only: str = typer.Option(None, "--only", help="Only these partitions, e.g. 0,2 (simple)."),
    tag: str = typer.Option(None, "--tag", help="Output tag (default per engine)."),
    guarantee: str = typer.Option("at-least-once", "--guarantee",
                                  help="at-least-once | exactly-once | at-most-once (simple)."),
    members: int = typer.Option(None, "--members", min=1,
                                help="Hold back until the group has this many members "
                                "(one scale-out process; simple)."),
    instance: str = typer.Option("0", "--instance",
                                 help="This process's identity in its group (simple)."),
    suite: bool = typer.Option(False, "--suite", help="Run the full suite; save it under "
                               ".lab/bench/ (what `make bench` does)."),
    report: bool = typer.Option(False, "--report", help="Print the Markdown table of the "
                                "newest saved suite (or --from FOLDER); measures nothing."),
    report_from: str = typer.Option(None, "--from", help="A saved suite's folder, for "
                                    "--report."),
    pin: bool = typer.Option(False, "--pin", help="The engine on a core of its own: apart "
                             "from the load generator (latency runs), or from the stack's "
                             "servers (simple engine and floors)."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object per result."),
) -> None:
    """Measure an engine on the live stack: events/s, per-stage seconds, latency percentiles."""
    from . import bench as benchmarks

    def show(result: benchmarks.Result) -> None:
        text = json.dumps(result.to_dict())
        if as_json:
            print(text, flush=True)  # plain stdout: parsed by scale-out's parent process
        else:
            console.print_json(text)

    progress = console.is_terminal and not as_json
    engine_flags = {"--engine": engine is not None, "--only": only is not None,
                    "--parallelism": parallelism != 1, "--flink-cluster": flink_cluster,
                    "--tag": tag is not None, "--members": members is not None,
                    "--instance": instance != "0"}
    measuring_flags = {**engine_flags, "--events": events != 100_000,
                       "--processes": processes != 1, "--rate": rate is not None,
                       "--topic": topic is not None, "--pin": pin, "--json": as_json,
                       "--guarantee": guarantee != "at-least-once"}
    if report_from is not None and not report:
        raise LabError("--from names a saved suite for --report.", "add --report, or drop --from.")
    if report:
        _refuse("--report (it prints a saved suite)", {**measuring_flags, "--suite": suite})
        print(benchmarks.report(Path(report_from) if report_from else None))
    elif suite:
        _refuse("--suite (it runs every engine at its own sizes)", measuring_flags)
        from . import conditions

        before = conditions.snapshot()
        results = benchmarks.suite(progress=progress, show=show)
        folder = benchmarks.save(results, measured_under={
            "before": before, "after": conditions.snapshot()})
        console.print(f"saved to {folder}; `labkit bench --report` prints its table",
                      style="bold")
    elif rate is not None:
        _refuse("--rate (a latency run of the simple engine on a fresh topic)", {
            **engine_flags, "--processes": processes != 1, "--topic": topic is not None,
            "--guarantee": guarantee != "at-least-once"})
        show(benchmarks.latency(rate=rate, seconds=events / rate, partitions=partitions,
                                pin=pin))
    elif pin and processes > 1:
        raise LabError("--pin puts one engine process on a core of its own, and --processes "
                       "starts several.", "drop one of the two.")
    elif processes > 1:
        _refuse("--processes (simple engines in one group, sharing the partitions)",
                engine_flags)
        workload = topic or benchmarks.workload(events, partitions=partitions,
                                                progress=progress)
        show(benchmarks.scale_out(workload, processes=processes, guarantee=guarantee))
    else:
        show(benchmarks.run(engine or "simple", events=events, topic=topic, partitions=partitions,
                            only=_partition_list(only), parallelism=parallelism,
                            cluster=flink_cluster, tag=tag, guarantee=guarantee,
                            members=members, instance=instance, pin=pin,
                            progress=progress))


def _refuse(mode: str, flags: dict[str, bool]) -> None:
    """A LabError if any flag that `mode` would ignore was given."""
    given = [flag for flag, on in flags.items() if on]
    if given:
        raise LabError(f"{' and '.join(given)} cannot be combined with {mode}.",
                       f"drop {' and '.join(given)}, or run a separate `labkit bench`.")


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
