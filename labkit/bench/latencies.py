"""Latency under a steady offered load: the simple engine's per message (processing and
end to end), a Flink engine's end to end per record, from its feature log."""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Callable

from .. import conditions, engines, generate, serde, topics
from ..engines import flink_sql
from ..instruments import Latencies, Stopwatch, percentiles
from .cores import cores_apart, pinned
from .measure import Result, stopwatch_result
from .workloads import finish_load, start_load

__all__ = ["end_to_end_ms", "flink_latency", "latency"]


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
    engine_cores, generator_cores = cores_apart() if pin else (None, None)
    events = int(rate * seconds)
    topic = topics.fresh_topic("bench-latency", partitions=partitions)
    producer = start_load(topic, events, rate)
    if generator_cores:  # before its interpreter has started any Kafka thread
        os.sched_setaffinity(producer.pid, generator_cores)
    latencies, stopwatch = Latencies(), Stopwatch()
    cpu_before = conditions.cpu_ticks()
    began = time.perf_counter()
    try:
        with pinned(engine_cores):
            engines.run("simple", topic, tag=".bench-latency", until_end=False,
                        max_messages=events, stopwatch=stopwatch, latencies=latencies)
    finally:
        finish_load(producer)
    steady = latencies.since(int(rate))
    result = stopwatch_result("simple", len(latencies.processing_ms),
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
            started=lambda: load.append(start_load(topic, events, rate)))).outputs
    finally:
        for producer in load:
            finish_load(producer)
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
