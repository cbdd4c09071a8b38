"""The `labkit` command line: stack control, generate, consume, process, bench, features."""

from __future__ import annotations

import json

import typer
from rich.console import Console

from . import generate as generator
from . import serde, stack, topics
from .errors import LabError
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


def _run(action):
    """Run a command body; a LabError becomes a short message and exit code 1."""
    try:
        return action()
    except LabError as exc:
        errors.print(f"[bold red]error:[/] {exc.cause}", soft_wrap=True)
        if exc.fix:
            errors.print(f"[bold]fix:[/] {exc.fix}", soft_wrap=True)
        raise typer.Exit(1) from None


@stack_app.command()
def up(flink_cluster: bool = typer.Option(
        False, "--flink-cluster",
        help="Also start a standalone Flink JobManager + TaskManager (REST/UI on LAB_FLINK).")
       ) -> None:
    """Start every service that is not already running, and wait until all are healthy."""
    _run(lambda: stack.up(flink_cluster=flink_cluster, console=console))
    console.print(stack.status_table(stack.status()))


@stack_app.command()
def fetch() -> None:
    """Fetch the JVM parts (Kafka, Apicurio, Flink connector jars) with Maven if missing."""
    settings = get_settings()
    _run(lambda: ensure_jvm_parts(settings))
    console.print(f"JVM parts ready under {settings.jvm_dir}")


@stack_app.command()
def down() -> None:
    """Stop the processes `labkit stack up` started (tracked by PID)."""
    stopped = _run(lambda: stack.down(console=console))
    if not stopped:
        console.print("nothing to stop: labkit has no running processes")


@stack_app.command()
def status() -> None:
    """Probe each service and print its version, endpoint and health (exit 1 if any is down)."""
    rows = stack.status()
    console.print(stack.status_table(rows))
    if not all(row.health.ok for row in rows):
        raise typer.Exit(1)


@stack_app.command()
def logs(service: str = typer.Argument(..., help="kafka, registry, redis or flink"),
         lines: int = typer.Option(40, "--lines", "-n", help="How many lines from the end.")
         ) -> None:
    """Print the end of a service's log file(s) under .lab/logs/."""
    console.print(_run(lambda: stack.logs(service, lines=lines)), markup=False, highlight=False)


@stack_app.command()
def reset() -> None:
    """Stop the stack and delete its data and logs (topics, registry, Redis); keep the jars."""
    _run(lambda: stack.reset(console=console))
    console.print("stack stopped and data deleted; `labkit stack up` starts from empty")


@app.command()
def generate(
    topic: str = typer.Option(..., "--topic", "-t", help="Topic to produce to (created if new)."),
    count: int = typer.Option(1000, "--count", "-n", min=1, help="How many transactions."),
    seed: int = typer.Option(generator.LAB_SEED, "--seed", help="Same seed, same data."),
    fmt: str = typer.Option("avro", "--format", help="json | avro | confluent"),
    schema: str = typer.Option("v1", "--schema", help=SCHEMA_HELP),
    rate: float = typer.Option(None, "--rate", min=0.1, help="Events per second (default: max)."),
) -> None:
    """Produce seeded synthetic transactions, keyed by card_id."""
    sent = _run(lambda: generator.produce(topic, count, seed=seed, fmt=fmt,
                                          schema=f"transactions.{schema}", rate=rate,
                                          progress=True))
    console.print(f"produced {sent} {fmt} transactions to {topic} (seed {seed})")


@app.command()
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
    def body() -> list[dict]:
        decode = serde.make_decoder(fmt, schema=f"transactions.{schema}",
                                    reader=reader and f"transactions.{reader}")
        return serde.decode_records(
            topics.read(topic, max_messages=max_messages, timeout_s=timeout_s), decode)

    for record in _run(body):
        console.print(record)


@app.command()
def process(
    topic: str = typer.Option(..., "--topic", "-t", help="Input topic (Confluent-framed Avro)."),
    engine: str = typer.Option("simple", "--engine", help="simple | flink"),
    from_beginning: bool = typer.Option(True, "--from-beginning/--from-committed",
                                        help="Where to start without committed offsets."),
    until_end: bool = typer.Option(True, "--until-end/--follow",
                                   help="Stop at the end offsets seen at start."),
    group: str = typer.Option(None, "--group", help="Consumer group (default per topic)."),
    tag: str = typer.Option("", "--tag", help="Suffix for output topics and Redis keys."),
    flink_cluster: bool = typer.Option(False, "--flink-cluster",
                                       help="Submit to the standalone cluster (flink engine)."),
    rebuild: bool = typer.Option(True, "--rebuild/--no-rebuild",
                                 help="Rebuild card windows from Kafka on start (simple)."),
) -> None:
    """Compute features: feature log, dead letters, Redis; print the reconciliation."""
    from .engines import flink, simple

    def body():
        if engine == "simple":
            return simple.run(topic, group=group, tag=tag, from_beginning=from_beginning,
                              until_end=until_end, rebuild=rebuild, progress=True)
        if engine == "flink":
            if not (until_end and from_beginning):
                raise LabError("The flink engine runs bounded, from the beginning, here.",
                               "drop --follow/--from-committed, or use --engine simple.")
            return flink.run(topic, tag=tag, group=group, cluster=flink_cluster)
        raise LabError(f"Unknown engine {engine!r}.", "use --engine simple or --engine flink.")

    report = _run(body)
    console.print(str(report), markup=False)
    if not report.balanced:
        raise typer.Exit(1)


def _partition_list(text: str | None) -> list[int] | None:
    try:
        return None if text is None else [int(part) for part in text.split(",")]
    except ValueError:
        raise LabError(f"--only {text!r} is not a list of partition numbers.",
                       "write it like --only 0,2.") from None


@app.command()
def bench(
    engine: str = typer.Option("simple", "--engine", help="ceiling | simple | flink | flink-sql"),
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
    suite: bool = typer.Option(False, "--suite", help="Run the full suite; save it under "
                               ".lab/bench/ (what `make bench` does)."),
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

    def body() -> None:
        progress = console.is_terminal and not as_json
        if suite:
            results = benchmarks.suite(progress=progress, report=show)
            console.print(f"saved to {benchmarks.save(results)}", style="bold")
        elif rate is not None:
            show(benchmarks.latency(rate=rate, seconds=events / rate, partitions=partitions))
        elif processes > 1:
            workload = topic or benchmarks.workload(events, partitions=partitions,
                                                    progress=progress)
            show(benchmarks.scale_out(workload, processes=processes))
        else:
            show(benchmarks.run(engine, events=events, topic=topic, partitions=partitions,
                                only=_partition_list(only), parallelism=parallelism,
                                cluster=flink_cluster, tag=tag, progress=progress))

    _run(body)


@features_app.command("get")
def features_get(card_id: str = typer.Argument(..., help="e.g. card-0007"),
                 topic: str = typer.Option(..., "--topic", "-t", help="The run's input topic."),
                 tag: str = typer.Option("", "--tag")) -> None:
    """Print a card's latest feature record from Redis, as typed JSON."""
    from .processing import Outputs
    from .sinks import RedisFeatureSink

    record = RedisFeatureSink(key_prefix=Outputs(topic, tag).redis_prefix).read_features(card_id)
    if not record:
        errors.print(f"no features for {card_id} from {topic}{tag}")
        raise typer.Exit(1)
    console.print_json(json.dumps(record))
