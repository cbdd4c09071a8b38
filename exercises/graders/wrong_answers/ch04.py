"""Plausible wrong answers to chapter 04's exercises: each is the reference solution with one
function replaced, and `exercises/graders/ch04.py` must fail it with `fails_with` in its line.

The loops use the reference's `_Run` (assignment, windows, producing each output) and change
only what the lesson is about: the order of the steps that end each batch."""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Callable

from confluent_kafka import Consumer, Producer, TopicPartition

import labkit as lk
from labkit.check import wrong_answer
from labkit.features import CardWindow
from labkit.runs import Outputs
from labkit.sinks import RedisFeatureSink

solution = lk.check.load("04", solutions=True)
TEN_MINUTES_MS = solution.TEN_MINUTES_MS


def _loop(topic: str, outputs: Outputs, consumer: Consumer, producer: Producer,
          end_batch: Callable[[object, list, list[dict]], None]) -> int:
    """The reference's loop: each batch consumed, checked, windowed and produced, then
    `end_batch(run, batch, feature records)`: the steps whose order is the lesson."""
    run = solution._Run(topic, outputs, consumer, producer)
    for batch in run.batches():
        end_batch(run, batch, run.produce(batch))
    return run.processed


def _wait(producer: Producer, run) -> None:
    """The reference's wait: every delivery acknowledged, none failed, or raise."""
    if producer.flush(30) or run.failed:
        raise RuntimeError(f"not acknowledged: {run.failed[:1]}")


@wrong_answer("process_topic", fails_with="consumed a new batch before committing")
def one_flush_at_the_end(topic: str, outputs: Outputs, *, consumer: Consumer,
                         producer: Producer, sink: RedisFeatureSink) -> int:
    """Produces and writes Redis per batch, then flushes once (result ignored) and commits
    once, at the very end."""
    offsets: list = []

    def end_batch(run, batch, records) -> None:
        sink.write_latest(records)
        offsets[:] = run.finished(batch)
    processed = _loop(topic, outputs, consumer, producer, end_batch)
    producer.flush(30)
    consumer.commit(offsets=offsets, asynchronous=False)
    return processed


@wrong_answer("process_topic", fails_with="(flush() returned 1")
def flush_result_ignored(topic: str, outputs: Outputs, *, consumer: Consumer,
                         producer: Producer, sink: RedisFeatureSink) -> int:
    """Flushes per batch but ignores what flush() returns: it checks the failed reports
    only, before the late ones arrive."""
    def end_batch(run, batch, records) -> None:
        sink.write_latest(records)
        producer.flush(30)
        if run.failed:
            raise RuntimeError(f"not acknowledged: {run.failed[0]}")
        consumer.commit(offsets=run.finished(batch), asynchronous=False)
    return _loop(topic, outputs, consumer, producer, end_batch)


@wrong_answer("process_topic", fails_with="(a delivery report with an error")
def delivery_reports_ignored(topic: str, outputs: Outputs, *, consumer: Consumer,
                             producer: Producer, sink: RedisFeatureSink) -> int:
    """Trusts flush() == 0 alone: a message the broker rejected has been reported, with an
    error, and the batch is committed anyway."""
    def end_batch(run, batch, records) -> None:
        sink.write_latest(records)
        if producer.flush(30):
            raise RuntimeError("a delivery is still waiting")
        consumer.commit(offsets=run.finished(batch), asynchronous=False)
    return _loop(topic, outputs, consumer, producer, end_batch)


@wrong_answer("process_topic", fails_with="was not acknowledged")
def commit_before_flush(topic: str, outputs: Outputs, *, consumer: Consumer,
                        producer: Producer, sink: RedisFeatureSink) -> int:
    """Commits each batch as soon as it is produced, then waits for the acknowledgements."""
    def end_batch(run, batch, records) -> None:
        consumer.commit(offsets=run.finished(batch), asynchronous=False)
        sink.write_latest(records)
        _wait(producer, run)
    return _loop(topic, outputs, consumer, producer, end_batch)


@wrong_answer("process_topic", fails_with="reached Redis")
def redis_after_commit(topic: str, outputs: Outputs, *, consumer: Consumer,
                       producer: Producer, sink: RedisFeatureSink) -> int:
    """Commits once Kafka acknowledged, and writes Redis after the commit."""
    def end_batch(run, batch, records) -> None:
        _wait(producer, run)
        consumer.commit(offsets=run.finished(batch), asynchronous=False)
        sink.write_latest(records)
    return _loop(topic, outputs, consumer, producer, end_batch)


@wrong_answer("process_topic", fails_with="asynchronous unless you pass asynchronous=False")
def asynchronous_commit(topic: str, outputs: Outputs, *, consumer: Consumer,
                        producer: Producer, sink: RedisFeatureSink) -> int:
    """Commits with consumer.commit(offsets=...): asynchronous, by default."""
    def end_batch(run, batch, records) -> None:
        sink.write_latest(records)
        _wait(producer, run)
        consumer.commit(offsets=run.finished(batch))
    return _loop(topic, outputs, consumer, producer, end_batch)


@wrong_answer("process_topic", fails_with="the last processed + 1")
def commits_the_last_offset(topic: str, outputs: Outputs, *, consumer: Consumer,
                            producer: Producer, sink: RedisFeatureSink) -> int:
    """Commits each partition's last processed offset, not the next one to read."""
    def end_batch(run, batch, records) -> None:
        sink.write_latest(records)
        _wait(producer, run)
        consumer.commit(offsets=[TopicPartition(topic, tp.partition, tp.offset - 1)
                                 for tp in run.finished(batch)], asynchronous=False)
    return _loop(topic, outputs, consumer, producer, end_batch)


@wrong_answer("txn_count_10m", fails_with="txn_count_10m of card-edge")
def bound_included(window: CardWindow) -> int:
    """Counts [T - 10 min, T]: bisect_left keeps the event exactly 10 minutes old."""
    return len(window.times) - bisect_left(window.times, window.clock_ms - TEN_MINUTES_MS)


@wrong_answer("txn_count_10m", fails_with="txn_count_10m of")
def the_whole_hour(window: CardWindow) -> int:
    """Counts every event the window holds: that is txn_count_1h."""
    return len(window.times)


@wrong_answer("txn_count_10m", fails_with="txn_count_10m of card-edge")
def newest_excluded(window: CardWindow) -> int:
    """Counts (T - 10 min, T): the event at T itself is left out."""
    return bisect_left(window.times, window.clock_ms) - bisect_right(
        window.times, window.clock_ms - TEN_MINUTES_MS)


def _differing(left: list[dict], right: list[dict], *, same=lk.parity.same,
               missing=lambda ours, theirs: sorted(ours.keys() ^ theirs.keys()),
               get=dict.get) -> dict[str, list[str]]:
    """The reference's comparison, with how values compare, which txn_ids are missing and
    how a feature is read replaceable."""
    ours = {record["txn_id"]: record for record in left}
    theirs = {record["txn_id"]: record for record in right}
    differing: dict[str, list[str]] = {}
    for txn_id in sorted(ours.keys() & theirs.keys()):
        for name in sorted(ours[txn_id].keys() | theirs[txn_id].keys()):
            if not same(get(ours[txn_id], name), get(theirs[txn_id], name))[0]:
                differing.setdefault(name, []).append(txn_id)
    if missing(ours, theirs):
        differing["missing"] = missing(ours, theirs)
    return differing


@wrong_answer("differing_records", fails_with="records that differ, per feature")
def exact_floats(left: list[dict], right: list[dict]) -> dict[str, list[str]]:
    """Compares floats with ==: rounding noise counts as a difference."""
    return _differing(left, right, same=lambda a, b: (type(a) is type(b) and a == b, 0.0))


@wrong_answer("differing_records", fails_with="records that differ, per feature")
def missing_on_one_side(left: list[dict], right: list[dict]) -> dict[str, list[str]]:
    """Lists as missing only the txn_ids of the left log that the right one lacks."""
    return _differing(left, right, missing=lambda ours, theirs: sorted(ours.keys() - theirs))


@wrong_answer("differing_records", fails_with="raised KeyError")
def every_record_has_every_feature(left: list[dict], right: list[dict]) -> dict[str, list[str]]:
    """Reads each feature as record[name]: a feature absent from one record raises."""
    return _differing(left, right, get=dict.__getitem__)


@wrong_answer("differing_records", fails_with="a log against itself in another order")
def by_position(left: list[dict], right: list[dict]) -> dict[str, list[str]]:
    """Pairs the records by position, not by txn_id."""
    differing: dict[str, list[str]] = {}
    for a, b in zip(left, right, strict=False):
        for name in sorted(a.keys() | b.keys()):
            if not lk.parity.same(a.get(name), b.get(name))[0]:
                differing.setdefault(name, []).append(a["txn_id"])
    return differing
