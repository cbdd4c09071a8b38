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

One module per job, each name below importable from here (`lk.bench.run`):

    workloads   fresh seeded workloads, and a steady offered load from another process
    cores       pinning an engine on a core of its own
    measure     one run of a floor or an engine, or scale-out, as a `Result`
    latencies   latency under a steady offered load (simple, Flink)
    full_suite  every engine over growing workloads: what `make bench` runs
    results     saving a suite under .lab/bench/, and its README table
"""

from .cores import core_apart_from_the_stack
from .full_suite import suite
from .latencies import end_to_end_ms, flink_latency, latency
from .measure import CLAIMS, ENGINES, Result, output_pace, run, scale_out
from .results import report, save
from .workloads import WORKLOAD_SHAPE, workload

__all__ = ["CLAIMS", "ENGINES", "WORKLOAD_SHAPE", "Result", "core_apart_from_the_stack",
           "end_to_end_ms", "flink_latency", "latency", "output_pace", "report", "run",
           "save", "scale_out", "suite", "workload"]
