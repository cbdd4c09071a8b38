"""Measuring one run: a floor or an engine on a topic produced beforehand, or simple
engines scaled out over processes, each measured into a `Result`.

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
import json
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field, replace

from .. import engines, topics
from ..engines import Engine
from ..engines.floors import FLOORS, Floor, FloorRun
from ..errors import LabError
from ..instruments import Latencies, Stopwatch
from ..runs import Outputs, RunOptions, RunReport, reconcile
from .cores import core_apart_from_the_stack
from .workloads import workload

__all__ = ["CLAIMS", "ENGINES", "Result", "output_pace", "run", "scale_out",
           "stopwatch_result"]

# Every name `run` measures: the floors, then the engines.
ENGINES = (*FLOORS, *engines.ENGINES)
# The original write-up's throughput claims, in events per second, as quoted in
# problems/README.md ("The performance claims"): what notebook 05 measures.
CLAIMS = {"simple": 10_000, "flink": 100_000}


@dataclass
class Result:
    """One benchmark run. `to_dict()` is what `labkit bench run --json` prints."""

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



def stopwatch_result(engine: str, events: int, wall_s: float, stopwatch: Stopwatch,
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
        result = stopwatch_result(measured.name, events, wall_s, options.stopwatch)
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

    Each is a separate `labkit bench run` process (Python runs one thread at a time,
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
        [sys.executable, "-m", "labkit", "bench", "run", "--engine", "simple",
         "--topic", topic, "--tag", tag, "--members", str(processes), "--instance", str(i),
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
                       f"{err.strip()[-500:]}",
                       "run the same `labkit bench run` command by hand.")
    return json.loads(out)
