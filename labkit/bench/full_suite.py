"""The full suite `make bench` runs: every engine and floor over growing workloads,
scale-out, and latency, in an order that keeps the broker's warm-up out of it."""

from __future__ import annotations

from collections.abc import Callable

from .. import engines
from .latencies import flink_latency, latency
from .measure import Result, run, scale_out
from .workloads import workload

__all__ = ["suite"]


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
