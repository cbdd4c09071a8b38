"""Benchmarks: bounded, seeded workloads on the live stack, each measured into a `Result`.

What each engine name measures (on a topic produced beforehand, so producing
is never part of the time):

    ceiling      the simple engine's consume loop and decoder with nothing after
                 them: the practical upper bound of a Python engine in this layout
    passthrough  the ceiling plus encoding a feature-log record per message and
                 producing it: the serialization floor any Python engine of this
                 contract pays (no features, no Redis)
    simple       the simple engine end to end: Kafka -> features -> Redis + feature log
    flink        the PyFlink DataStream job (mini-cluster, or the standalone cluster)
    flink-sql    the Table API variant: the windowed aggregates computed in the JVM

The first two are floors (`labkit.engines.floors`), the others engines of the
registry (`labkit.engines.ENGINES`). A benchmark asks either what it needs to
know (the options taken, whether Flink runs it, where the run wrote), never
compares names: tests/unit/test_engine_registry.py checks.

`wall_s` is the whole call, start-up included (a Flink job spends seconds
starting). `loop_s`, where the engine can tell, is the time spent in its
message loop; `events_per_s` uses it when known, else `wall_s`. Every engine
that writes a feature log also gets `startup_s` (from the call to its first
feature record) and `steady_per_s` (feature records per second from its first
to its last), read from the log's broker append times. Numbers are this
machine at this moment: for comparing engines within one run, never for
asserting in tests.
"""

from __future__ import annotations

import contextlib
import csv
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path

from . import conditions, engines, generate, serde, stack, topics
from .engines import Engine, flink_sql
from .engines.floors import FLOORS, Floor, FloorRun
from .errors import LabError
from .instruments import Latencies, Stopwatch, percentiles
from .runs import Outputs, RunOptions, RunReport, reconcile
from .settings import get_settings

__all__ = ["CLAIMS", "ENGINES", "Result", "core_apart_from_the_stack", "end_to_end_ms",
           "flink_latency", "latency", "output_pace", "report", "run", "save", "scale_out",
           "suite", "workload"]

# Every name `run` measures: the floors, then the engines.
ENGINES = (*FLOORS, *engines.ENGINES)
# The original write-up's throughput claims, in events per second, as quoted in
# problems/README.md ("The performance claims"): what notebook 05 measures.
CLAIMS = {"simple": 10_000, "flink": 100_000}
WORKLOAD_SHAPE = {"n_cards": 1000, "late_share": 0.01, "jitter_ms": 10 * 60 * 1000}


@dataclass
class Result:
    """One benchmark run. `to_dict()` is what `labkit bench --json` prints."""

    engine: str
    events: int
    wall_s: float
    loop_s: float | None = None
    partitions: int = 1
    parallelism: int = 1
    processes: int = 1
    cluster: bool = False  # a Flink engine on the standalone cluster
    rate: float | None = None
    tag: str = ""  # where the run wrote: an engine's `outputs(topic, tag)`
    guarantee: str = ""  # the delivery guarantee of an engine that takes one (else "")
    stages_s: dict[str, float] = field(default_factory=dict)
    latency_ms: dict[str, dict[str, float]] = field(default_factory=dict)
    startup_s: float | None = None  # from the call to the first feature record
    steady_per_s: float | None = None  # feature records/s, first to last (`output_pace`)
    breakdown_ms: dict[str, dict[str, float]] = field(default_factory=dict)  # latency stages
    pinned: bool = False  # the engine on a core of its own (`run`, `latency`: apart from what)
    alongside: dict[str, float] = field(default_factory=dict)  # latency runs: CPU s per process
    started_at: float = 0.0  # epoch seconds when the message loop began (scale-out sums)
    finished_at: float = 0.0
    latencies: Latencies | None = field(default=None, repr=False)

    @property
    def events_per_s(self) -> float:
        return self.events / (self.loop_s or self.wall_s)

    def to_dict(self) -> dict:
        data = asdict(self)
        del data["latencies"]
        data["events_per_s"] = round(self.events_per_s)
        if self.steady_per_s is not None:
            data["steady_per_s"] = round(self.steady_per_s)
        return data


def workload(events: int, *, partitions: int = 2, seed: int = generate.LAB_SEED,
             progress: bool = False) -> str:
    """A fresh topic holding `events` seeded Confluent-Avro transactions over 1,000 cards."""
    topic = topics.fresh_topic(f"bench-{events}", partitions=partitions)
    generate.produce(topic, events, seed=seed, fmt="confluent", progress=progress,
                     **WORKLOAD_SHAPE)
    return topic


def _stopwatch_result(engine: str, events: int, wall_s: float, stopwatch: Stopwatch,
                      **extra) -> Result:
    loop_s = sum(stopwatch.seconds.values())
    return Result(engine, events, round(wall_s, 3), round(loop_s, 3),
                  stages_s={stage: round(s, 3) for stage, s in stopwatch.seconds.items()},
                  started_at=stopwatch.began_at, finished_at=stopwatch.ended_at, **extra)


def _consumed(topic: str, partitions: list[int] | None) -> int:
    """Messages in the topic's (chosen) partitions: what a bounded run processed."""
    if partitions is None:
        return topics.count(topic)
    counts = topics.partition_counts(topic)
    return sum(counts[partition] for partition in partitions)


def output_pace(feature_log: str, started_at: float, records: int
                ) -> tuple[float | None, float | None]:
    """(start-up seconds, steady feature records per second) of a run that began at
    `started_at` (epoch s) and wrote `records` feature records to `feature_log`.

    Start-up is the call's start to the first record's broker append time;
    steady is the records after the first over the span to the last one
    (notebook 05's exercises define it so). Feature logs use LogAppendTime, so
    these are when the records became available, whatever the engine stamped.
    """
    span = topics.timestamp_span(feature_log)
    if span is None:
        return None, None
    first_ms, last_ms = span
    startup_s = round(first_ms / 1000 - started_at, 3)
    if last_ms <= first_ms or records < 2:
        return startup_s, None
    return startup_s, (records - 1) / ((last_ms - first_ms) / 1000)


def _measured(name: str) -> Floor | Engine:
    """The floor or the engine called `name` (a LabError if there is neither)."""
    return FLOORS.get(name) or engines.get(name)


def _measure(measured: Floor | Engine, topic: str, options: RunOptions) -> Result:
    """One run, timed whole and, where it has a stopwatch, per stage; its start-up and
    steady pace from its feature log, if it wrote one."""
    started_at, began = time.time(), time.perf_counter()
    ran: FloorRun | RunReport = measured.run(topic, options)
    events = _consumed(topic, options.partitions)
    wall_s = time.perf_counter() - began
    if options.stopwatch is None:  # Flink does not tell its loop time apart
        result = Result(measured.name, events, round(wall_s, 3),
                        parallelism=options.parallelism)
    else:
        result = _stopwatch_result(measured.name, events, wall_s, options.stopwatch)
    if ran.outputs is not None:
        result.startup_s, result.steady_per_s = output_pace(ran.outputs.features, started_at,
                                                            ran.feature_records)
    return result


def run(engine: str, *, events: int | None = None, topic: str | None = None,
        partitions: int = 2, only: list[int] | None = None, parallelism: int = 1,
        cluster: bool = False, tag: str | None = None, guarantee: str = "at-least-once",
        members: int | None = None, instance: str = "0", pin: bool = False,
        progress: bool = False) -> Result:
    """Benchmark one engine on `topic` (or a fresh workload of `events` on `partitions`).

    `only` restricts the simple engine / ceiling to some partitions; `guarantee`,
    `members` and `instance` are the simple engine's (one scale-out process waits
    for `members` in its group); `parallelism` and `cluster` are for the Flink
    engines. With `pin`, the engine runs on one core and the stack's servers on
    the others (`core_apart_from_the_stack`): the simple engine and the floors,
    which run in this process. An option the engine does not take is refused (a
    LabError), before any workload is made.
    """
    measured = _measured(engine)
    if pin and measured.flink:
        raise LabError(f"Pinning runs the engine in this process on a core of its own; the "
                       f"{engine} engine runs in Flink's JVM.", "drop pin (--pin).")
    options = RunOptions(tag=tag or "", partitions=only, parallelism=parallelism,
                         cluster=cluster, guarantee=guarantee, members=members,
                         instance=instance, progress=progress and "progress" in measured.takes,
                         stopwatch=Stopwatch() if "stopwatch" in measured.takes else None)
    measured.check(options)
    # A fresh tag is a fresh consumer group: the run starts at the beginning of the topic.
    if tag is None and "tag" in measured.takes:  # (the ceiling writes nothing: no tag)
        options = replace(options, tag=f".{engine}-p{parallelism}-{topics.run_id()}")
    if topic is None:
        if not events:
            raise LabError("Nothing to benchmark.", "pass events=N (or --events N), or a topic.")
        topic = workload(events, partitions=partitions, progress=progress)
    with core_apart_from_the_stack() if pin else contextlib.nullcontext():
        result = _measure(measured, topic, options)
    result.pinned = pin
    result.partitions = int(topics.describe(topic)["partitions"])
    result.cluster = cluster
    result.tag = options.tag
    result.guarantee = guarantee if "guarantee" in measured.takes else ""
    return result


def scale_out(topic: str, *, processes: int = 2, guarantee: str = "at-least-once") -> Result:
    """`processes` simple engines in one consumer group, sharing the partitions.

    Each is a separate `labkit bench` process (Python runs one thread at a time,
    so more engines means more processes), a member of one group (the run's
    tag names it) with an instance of its own. Each holds back until the group
    has all its members, so the run measures `processes` engines rather than the
    first one to start alone; throughput counts from the first message loop's
    start to the last one's end, so start-up is excluded.
    """
    partitions = int(topics.describe(topic)["partitions"])
    if partitions < processes:
        raise LabError(f"{topic!r} has {partitions} partition(s) for {processes} processes.",
                       "give the workload at least one partition per process.")
    tag = f".scale-{processes}-{topics.run_id()}"
    started_at, began = time.time(), time.perf_counter()
    children = [subprocess.Popen(
        [sys.executable, "-m", "labkit", "bench", "--engine", "simple", "--topic", topic,
         "--tag", tag, "--members", str(processes), "--instance", str(i),
         "--guarantee", guarantee, "--json"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for i in range(processes)]
    parts = [_child_result(child) for child in children]
    first, last = min(p["started_at"] for p in parts), max(p["finished_at"] for p in parts)
    result = Result("simple", topics.count(topic), round(time.perf_counter() - began, 3),
                    round(last - first, 3), partitions=partitions, processes=processes,
                    tag=tag, guarantee=guarantee, started_at=first, finished_at=last)
    outputs = Outputs(topic, tag)
    records = reconcile("simple", outputs,
                        transactional=guarantee == "exactly-once").feature_records
    result.startup_s, result.steady_per_s = output_pace(outputs.features, started_at, records)
    return result


def _child_result(child: subprocess.Popen) -> dict:
    out, err = child.communicate()
    if child.returncode != 0:
        raise LabError(f"A benchmark process failed (exit {child.returncode}): "
                       f"{err.strip()[-500:]}", "run the same `labkit bench` command by hand.")
    return json.loads(out)


@contextlib.contextmanager
def _pinned(cores: set[int] | None) -> Iterator[None]:
    """Run this thread, and the threads it starts meanwhile, on `cores` (None: leave as is).

    Linux applies affinity per thread and new threads inherit it, so the Kafka
    client threads an engine starts inside the block run on `cores` too.
    """
    if cores is None:
        yield
        return
    before = os.sched_getaffinity(0)
    os.sched_setaffinity(0, cores)
    try:
        yield
    finally:
        os.sched_setaffinity(0, before)


def _threads(pid: int) -> list[int]:
    """The thread ids of process `pid` now (affinity is set per thread)."""
    return [int(task) for task in os.listdir(f"/proc/{pid}/task")]


def _set_affinity(cores_of: dict[int, set[int]]) -> None:
    """Every thread of each process on its cores (threads that end meanwhile are skipped)."""
    for pid, cores in cores_of.items():
        for thread in _threads(pid):
            with contextlib.suppress(ProcessLookupError, FileNotFoundError):
                os.sched_setaffinity(thread, cores)


@contextlib.contextmanager
def core_apart_from_the_stack() -> Iterator[None]:
    """This process, every thread of it, on one core; every server labkit runs (Kafka, the
    registry, Redis, Flink), every thread of them, on the other cores; as before after.

    What "on one core" means for a claim about the engine: librdkafka's threads
    share the engine's core, and the brokers it talks to never take it. Threads
    started meanwhile inherit their creator's core, so all threads are put back.
    """
    cores = sorted(os.sched_getaffinity(0))
    run_dir = get_settings().run_dir
    servers = [pid for name in stack.process.tracked_names(run_dir)
               if (pid := stack.process.running_pid(name, run_dir))]
    if len(cores) < 2 or not servers:
        raise LabError(f"Pinning needs two cores and labkit's own servers; this process may "
                       f"use {len(cores)} core(s), and labkit runs {len(servers)} server(s).",
                       "run without pin, or on the stack `labkit stack up` started.")
    pinned = {os.getpid(): {cores[0]}, **{pid: set(cores[1:]) for pid in servers}}
    before = {pid: os.sched_getaffinity(pid) for pid in pinned}
    _set_affinity(pinned)
    try:
        yield
    finally:
        _set_affinity(before)


def _cores_apart() -> tuple[set[int], set[int]]:
    """One core for the engine, another for the load generator."""
    cores = sorted(os.sched_getaffinity(0))
    if len(cores) < 2:
        raise LabError(f"Pinning needs two cores; this process may use {len(cores)}.",
                       "run the latency benchmark with pin=False (no --pin).")
    return {cores[0]}, {cores[1]}


def _start_load(topic: str, events: int, rate: float) -> subprocess.Popen:
    """A `labkit generate --rate` process sending `events` to `topic` at `rate` events/s."""
    return subprocess.Popen(
        [sys.executable, "-m", "labkit", "generate", "--topic", topic, "--count", str(events),
         "--rate", str(rate), "--format", "confluent"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


def _finish_load(producer: subprocess.Popen) -> None:
    """Wait for the load generator; a LabError if it failed."""
    _, err = producer.communicate()
    if producer.returncode != 0:
        raise LabError(f"The load generator failed: {err.strip()[-500:]}",
                       "run `labkit generate` by hand to see why.")


def latency(*, rate: float = 5_000, seconds: float = 6, partitions: int = 2,
            pin: bool = False) -> Result:
    """The simple engine under a steady offered load of `rate` events/s from another process.

    The engine starts first and waits; then a `labkit generate --rate` process
    sends `rate * seconds` events. The first second is warm-up (connections,
    first fetches) and is left out of the percentiles. With `pin`, the engine
    runs on one core and the generator on another, so the two never queue for
    the same core (Kafka and Redis still run on either). `alongside` says which
    processes used the CPU meanwhile, and how many seconds of it.
    """
    engine_cores, generator_cores = _cores_apart() if pin else (None, None)
    events = int(rate * seconds)
    topic = topics.fresh_topic("bench-latency", partitions=partitions)
    producer = _start_load(topic, events, rate)
    if generator_cores:  # before its interpreter has started any Kafka thread
        os.sched_setaffinity(producer.pid, generator_cores)
    latencies, stopwatch = Latencies(), Stopwatch()
    cpu_before = conditions.cpu_ticks()
    began = time.perf_counter()
    try:
        with _pinned(engine_cores):
            engines.run("simple", topic, tag=".bench-latency", until_end=False,
                        max_messages=events, stopwatch=stopwatch, latencies=latencies)
    finally:
        _finish_load(producer)
    steady = latencies.since(int(rate))
    result = _stopwatch_result("simple", len(latencies.processing_ms),
                               time.perf_counter() - began, stopwatch, partitions=partitions,
                               rate=rate, latencies=steady, pinned=pin)
    result.latency_ms = {"processing": percentiles(steady.processing_ms),
                         "end_to_end": percentiles(steady.end_to_end_ms)}
    result.breakdown_ms = steady.breakdown()
    result.alongside = {what: seconds for what, _pid, seconds in
                        conditions.busiest(cpu_before, conditions.cpu_ticks(), top=4)}
    return result


def end_to_end_ms(sent: list[tuple[str, int]], appended: list[tuple[str, int]], *,
                  sent_after_ms: int | None = None) -> list[float]:
    """Per input (txn_id, sent ms), in send order: its first feature record's append time
    (txn_id, ms) minus the send time. Inputs with no feature record are left out, and
    so are those sent at or before `sent_after_ms` (a warm-up)."""
    first: dict[str, int] = {}
    for txn_id, appended_ms in appended:  # a replay may write a record twice: the first counts
        first[txn_id] = min(appended_ms, first.get(txn_id, appended_ms))
    return [float(first[txn_id] - sent_ms) for txn_id, sent_ms in sorted(sent, key=lambda s: s[1])
            if txn_id in first and (sent_after_ms is None or sent_ms > sent_after_ms)]


def _txn_times(topic: str, decode: Callable[[bytes], dict]) -> list[tuple[str, int]]:
    """(txn_id, record timestamp) of every record in `topic`."""
    records = topics.read_all(topic)
    return [(row["txn_id"], record.timestamp_ms)
            for record, row in zip(records, serde.decode_records(records, decode), strict=True)]


def _held_by_watermark(events: int) -> int:
    """How many of the generator's first `events` a followed SQL job may never write.

    An OVER window writes a row once the watermark (newest event time, per
    partition, minus WATERMARK_DELAY_S) passes it; with no events after the
    load, the last stretch of event time waits in state. Twice the delay
    covers the partitions' newest events differing. Events are seeded, so this
    counts them.
    """
    stamps = [record["timestamp"] for record in generate.transactions(events)]
    horizon = max(stamps) - 2 * flink_sql.WATERMARK_DELAY_S * 1000
    return sum(stamp > horizon for stamp in stamps)


def flink_latency(engine: str = "flink", *, rate: float = 500, seconds: float = 6,
                  partitions: int = 2, bundle_time_ms: int | None = None) -> Result:
    """A Flink engine (mini-cluster) under a steady offered load: end-to-end latency per record.

    The job follows a fresh topic; once it runs, a `labkit generate --rate`
    process sends `rate * seconds` events; the job is cancelled when its
    outputs hold them all (the SQL job: all but the tail its watermark holds).
    Latency is the feature record's broker append time (LogAppendTime) minus
    the input's producer CreateTime, matched by txn_id. It includes: producer
    batching and send -> broker append -> the Flink Kafka source's fetch ->
    (DataStream) the Python operator, whose input is shipped in bundles that
    close after `python.fn-execution.bundle.time` (Flink's default 1000 ms;
    `bundle_time_ms` sets it for this run) or `bundle.size` records; (SQL) the
    watermark passing the event -> the Kafka sink's producer -> broker append.

    Warm-up: Flink reports a job RUNNING before its tasks are deployed and its
    Python operator is open, so the first events queue behind the start-up.
    The percentiles count only events sent more than a second after the job's
    first output reached the broker: by then the pipeline has worked end to
    end and the start-up queue has had a second to drain.
    """
    spec = engines.get(engine)
    events = int(rate * seconds)
    topic = topics.fresh_topic(f"bench-latency-{engine}", partitions=partitions)
    # Rows that go late behind a watermark also wait for it (the SQL job): the tail never does.
    wanted = events - (_held_by_watermark(events) if spec.late_topic else 0)
    # The load starts when the job is RUNNING (`started`), not before: events sent
    # while the mini-cluster starts (10-20 s) would only measure its start-up.
    load: list[subprocess.Popen] = []
    settings = {"python.fn-execution.bundle.time": str(bundle_time_ms)} if bundle_time_ms else None
    tag = f".latency-{topics.run_id()}"
    started_at, began = time.time(), time.perf_counter()
    try:
        outputs = spec.run(topic, engines.options_for(
            tag=tag, until_end=False, max_messages=wanted, flink_settings=settings,
            started=lambda: load.append(_start_load(topic, events, rate)))).outputs
    finally:
        for producer in load:
            _finish_load(producer)
    wall_s = time.perf_counter() - began
    sent = _txn_times(topic, serde.ConfluentDecoder())
    appended = _txn_times(outputs.features, serde.make_decoder(spec.feature_format))
    all_ms = end_to_end_ms(sent, appended)
    first_output_ms = min(appended_ms for _, appended_ms in appended)
    steady = Latencies(end_to_end_ms=end_to_end_ms(sent, appended,
                                                   sent_after_ms=first_output_ms + 1_000))
    return Result(engine, len(all_ms), round(wall_s, 3), partitions=partitions, rate=rate,
                  tag=tag, latency_ms={"end_to_end": percentiles(steady.end_to_end_ms)},
                  started_at=started_at, finished_at=time.time(), latencies=steady)


def suite(*, sizes: tuple[int, ...] = (10_000, 100_000, 1_000_000),
          flink_sizes: tuple[int, ...] = (100_000, 1_000_000), partitions: int = 2,
          progress: bool = False, show: Callable[[Result], None] = lambda _r: None
          ) -> list[Result]:
    """Every engine over growing workloads: the floors, the simple engine at-least-once
    and exactly-once, scale-out, the Flink engines at parallelism 1 and 2 (on the
    workloads of `flink_sizes`: at 10K events a Flink run is all start-up), and the
    flink engine on the standalone cluster too. Latency (the simple engine unpinned
    and pinned, the Flink engines at a lower load) before the largest workload: by
    then the broker has warmed up (a freshly started one spends its first minutes
    compiling its hot paths), and no million-event topic is being written out of the
    page cache yet.

    One workload per size, shared by all engines (each writes its own outputs).
    `show` sees each result as soon as it is measured.
    """
    results = []

    def keep(result: Result) -> None:
        results.append(result)
        show(result)

    def throughput(events: int) -> None:
        topic = workload(events, partitions=partitions, progress=progress)
        keep(run("ceiling", topic=topic))
        keep(run("passthrough", topic=topic))
        keep(run("simple", topic=topic, progress=progress))
        keep(run("simple", topic=topic, guarantee="exactly-once", progress=progress))
        keep(scale_out(topic, processes=partitions))
        if events in flink_sizes:
            for engine in (name for name, spec in engines.ENGINES.items() if spec.flink):
                for parallelism in (1, 2):
                    keep(run(engine, topic=topic, parallelism=parallelism))
            keep(run("flink", topic=topic, cluster=True))

    *smaller, largest = sorted(sizes)
    for events in smaller:
        throughput(events)
    keep(latency())
    keep(latency(pin=True))
    for engine in ("flink", "flink-sql"):  # a load each can keep up with on two cores
        keep(flink_latency(engine, rate=500, seconds=6))
    throughput(largest)
    return results


def save(results: list[Result], directory: Path | None = None, *,
         measured_under: dict | None = None) -> Path:
    """Write results as JSON and CSV, and the conditions they were measured under, under
    `.lab/bench/<UTC time>/`; return the folder."""
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    folder = directory or get_settings().home / "bench" / stamp
    folder.mkdir(parents=True, exist_ok=True)
    rows = [result.to_dict() for result in results]
    (folder / "results.json").write_text(json.dumps(rows, indent=2))
    if measured_under is not None:
        (folder / "conditions.json").write_text(json.dumps(measured_under, indent=2))
    columns = ["engine", "events", "partitions", "parallelism", "processes", "rate", "wall_s",
               "loop_s", "events_per_s"]
    with (folder / "results.csv").open("w", newline="") as out:
        writer = csv.DictWriter(out, fieldnames=columns, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)
    return folder


# --- the README's table, from a saved suite -------------------------------------------

def report(folder: Path | None = None) -> str:
    """The Markdown performance table of a saved `make bench` run (the newest by default).

    With the conditions it was measured under and the command that made it, so
    the table in the README is this function's output, never typed.
    """
    folder = folder or _newest_run()
    if not (folder / "results.json").is_file():
        raise LabError(f"{folder} holds no saved benchmark run (no results.json).",
                       "pass the folder `make bench` saved, e.g. .lab/bench/<UTC time>/.")
    rows = json.loads((folder / "results.json").read_text())
    measured_under = _read_json(folder / "conditions.json")
    sizes = sorted({row["events"] for row in rows if row["rate"] is None})
    lines = [_report_header(folder, measured_under), "",
             "| engine (`labkit bench --engine …`) | " + " | ".join(map(_events, sizes)) + " |",
             "|---|" + "---|" * len(sizes)]
    for label, configuration in _REPORT_ROWS:
        cells = [" / ".join(_pace(row) for row in rows if _matches(row, configuration)
                            and row["events"] == size and row["rate"] is None) or "-"
                 for size in sizes]
        if any(cell != "-" for cell in cells):
            lines.append(f"| {label} | " + " | ".join(cells) + " |")
    lines += ["", *_share_lines(rows, sizes), *_startup_lines(rows), *_latency_lines(rows)]
    return "\n".join(lines)


# What a saved result left empty, or an older run did not record, stands for.
_UNRECORDED = {"cluster": False, "guarantee": "at-least-once"}


def _matches(row: dict, configuration: dict) -> bool:
    """Whether a saved result is of `configuration` (field -> value)."""
    return all((row.get(name) or _UNRECORDED.get(name)) == value
               for name, value in configuration.items())


def _flink(engine: str, parallelism: int, *, cluster: bool = False) -> dict:
    return {"engine": engine, "parallelism": parallelism, "cluster": cluster}


_PASSTHROUGH = {"engine": "passthrough"}
_SIMPLE = {"engine": "simple", "processes": 1, "guarantee": "at-least-once"}
# Each row's label and the configuration of the results it shows. A cell is "whole
# run · steady state" (`_pace`); the floors have no start-up to leave out, so one figure.
_REPORT_ROWS: list[tuple[str, dict]] = [
    ("`ceiling`: consume + Avro decode only", {"engine": "ceiling"}),
    ("`passthrough`: the ceiling + encode and produce a feature record per event",
     _PASSTHROUGH),
    ("`simple`: the whole pipeline, one process", _SIMPLE),
    ("`simple`, exactly-once (`--guarantee exactly-once`): one Kafka transaction per batch",
     {**_SIMPLE, "guarantee": "exactly-once"}),
    ("`simple`, two processes (`--processes 2`)", {**_SIMPLE, "processes": 2}),
    ("`flink`: PyFlink DataStream, parallelism 1", _flink("flink", 1)),
    ("`flink`, parallelism 2", _flink("flink", 2)),
    ("`flink` on the standalone cluster (`--flink-cluster`), parallelism 1",
     _flink("flink", 1, cluster=True)),
    ("`flink-jvm`: the same job, Avro decoded in the JVM, parallelism 1",
     _flink("flink-jvm", 1)),
    ("`flink-jvm`, parallelism 2", _flink("flink-jvm", 2)),
    ("`flink-sql`: Flink SQL OVER windows, parallelism 1", _flink("flink-sql", 1)),
    ("`flink-sql`, parallelism 2", _flink("flink-sql", 2)),
]


def _newest_run() -> Path:
    runs = sorted(p.parent for p in (get_settings().home / "bench").glob("*/results.json"))
    if not runs:
        raise LabError("No saved benchmark run under .lab/bench/.",
                       "run `make bench` first (or pass the folder of a saved run).")
    return runs[-1]


def _read_json(path: Path) -> dict:
    return json.loads(path.read_text()) if path.exists() else {}


def _report_header(folder: Path, measured_under: dict) -> str:
    text = ("Generated by `labkit bench --report` from the `make bench` (`labkit bench --suite`) "
            f"run saved as `{folder.name}`.")
    if not measured_under:
        return text + " Its conditions were not recorded."
    before, after = measured_under.get("before", {}), measured_under.get("after", {})
    services = before.get("services", {})
    versions = before.get("versions", {})
    return (text + f" Measured {before.get('utc', '?')} UTC on {before.get('cores')} cores "
            f"({before.get('cpu')}), {before.get('memory_gib')} GiB, shared by the stack and "
            f"the engine. Load average (1 min) {before.get('load', {}).get('1min')} before, "
            f"{after.get('load', {}).get('1min')} after. Kafka "
            f"{services.get('kafka', {}).get('version', '?')}, Flink "
            f"{versions.get('apache-flink', '?')}, Redis "
            f"{services.get('redis', {}).get('version', '?')}, Python "
            f"{versions.get('python', '?')}; Redis held {before.get('redis_keys')} keys, "
            f"append-only file {before.get('redis_aof_mb')} MB." + _memory_sentence(
                services, after.get("services", {})))


def _memory_sentence(before: dict, after: dict) -> str:
    """Each service's resident memory when the run began, and its peak by the end."""
    parts = [f"{name} {row['resident_mib']:,} MiB at the start, {after[name]['peak_mib']:,} "
             "at its peak" for name, row in before.items()
             if row.get("resident_mib") and after.get(name, {}).get("peak_mib")]
    return f" Resident memory: {'; '.join(parts)}." if parts else ""


def _events(count: int) -> str:
    return f"{count // 1_000_000}M events" if count >= 1_000_000 else f"{count // 1000}K"


def _rate(per_s: float) -> str:
    return f"{per_s / 1000:.1f}K/s" if per_s < 10_000 else f"{per_s / 1000:.0f}K/s"


def _pace(row: dict) -> str:
    """A floor's rate in its loop; an engine's whole run (events over the wall time), then
    its steady state (`output_pace`), where measured."""
    if row["engine"] in FLOORS:  # a floor: no start-up to leave out
        return _rate(row["events_per_s"])
    whole = _rate(row["events"] / row["wall_s"])
    steady = row.get("steady_per_s")
    return whole if steady is None else f"{whole} · {_rate(steady)}"


def _share_lines(rows: list[dict], sizes: list[int]) -> list[str]:
    """The simple engine's steady state as a share of passthrough's, per workload."""
    shares = []
    for size in sizes:
        floor = [r for r in rows if _matches(r, _PASSTHROUGH) and r["events"] == size
                 and r.get("steady_per_s")]
        engine = [r for r in rows if _matches(r, _SIMPLE) and r["events"] == size
                  and r["rate"] is None and r.get("steady_per_s")]
        if floor and engine:
            share = engine[0]["steady_per_s"] / floor[0]["steady_per_s"]
            shares.append(f"{_events(size)} {share:.0%}")
    if not shares:
        return []
    return [f"- `simple` (one process) at a share of `passthrough`, steady states: "
            f"{', '.join(shares)}."]


def _startup_lines(rows: list[dict]) -> list[str]:
    """Start-up seconds (the call to the first feature record) per configuration."""
    parts = []
    for label, configuration in _REPORT_ROWS:
        seconds = [r["startup_s"] for r in rows if _matches(r, configuration)
                   and r["rate"] is None and r.get("startup_s") is not None]
        if seconds:
            name = label.split(":")[0]
            low, high = min(seconds), max(seconds)
            parts.append(f"{name} {low:.1f} s" if high - low < 0.05
                         else f"{name} {low:.1f}-{high:.1f} s")
    if not parts:
        return []
    return ["- Start-up, from the call to the first feature record (lowest-highest over the "
            f"workloads): {'; '.join(parts)}."]


def _latency_lines(rows: list[dict]) -> list[str]:
    lines = []
    for row in rows:
        if row["rate"] is None or not row["latency_ms"]:
            continue
        parts = "; ".join(f"{kind.replace('_', ' ')} " + ", ".join(
            f"{point} {ms:.1f} ms" for point, ms in points.items())
            for kind, points in row["latency_ms"].items())
        pinned = ", engine and load generator pinned to separate cores" if row["pinned"] else ""
        alongside = ", ".join(f"{what} {seconds:.1f} s"
                              for what, seconds in row.get("alongside", {}).items())
        tail = row.get("breakdown_ms", {}).get("tail", {})
        spent = ", ".join(f"{stage} {ms:.1f} ms" for stage, ms in tail.items())
        lines.append(f"- Latency of `{row['engine']}` at a steady {row['rate']:,.0f} events/s "
                     f"for {row['events'] / row['rate']:.0f} s (warm-up left out"
                     f"{pinned}): {parts}."
                     + (f" The slowest 1 % spent, on average: {spent}." if spent else "")
                     + (f" CPU time meanwhile: {alongside}." if alongside else ""))
    return lines
