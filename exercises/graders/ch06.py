"""Graders for chapter 06: expectations from labkit's own runs and from the broker's data."""

from __future__ import annotations

import random
from functools import cache
from types import ModuleType

from confluent_kafka import TopicPartition

import labkit as lk
from labkit.check import Wrong, grader
from labkit.engines.rebuild import REBUILD_HORIZON_MS
from labkit.runs import Outputs

# Frames with bytes left over after the record, added to the hostile topic: as many as no
# hostile kind has, so a count off by exactly this many points at them.
TRAILING = 5


@cache
def _hostile_run() -> str:
    """A hostile topic (2 partitions): labkit's hostile messages, then valid frames with 1 to
    TRAILING bytes left over after the record; processed once by the simple engine."""
    topic = lk.topics.fresh_topic("ch06-hostile", partitions=2)
    lk.generate.produce_hostile(topic, 600, bad_share=0.3, n_cards=40)
    encode = lk.serde.make_encoder("confluent", topic=topic)
    lk.topics.produce(topic, [(txn["card_id"].encode(), encode(txn) + b"\x00" * extra)
                              for extra, txn in enumerate(lk.generate.transactions(
                                  TRAILING, seed=606, n_cards=40), start=1)])
    lk.engines.run("simple", topic)
    return topic


def _letters(topic: str) -> dict[tuple[int, int], str]:
    """labkit's reading of the run's dead letters: (source partition, offset) -> reason."""
    return {(letter.source.partition, letter.source.offset): letter.reason
            for letter in lk.runs.read_dead_letters(Outputs(topic))}


@grader("dead_letter_reasons",
        hint="key by the dlq.partition and dlq.offset headers, not by where the letter sits")
def grade_dead_letter_reasons(module: ModuleType) -> None:
    topic = _hostile_run()
    expected = _letters(topic)
    got = module.dead_letter_reasons(Outputs(topic).dlq)
    if not isinstance(got, dict):
        raise Wrong("the answer must be a dict", expected="dict", got=type(got).__name__)
    if got != expected:
        missing = sorted(set(expected.items()) - set(got.items()))[:3]
        extra = sorted(set(got.items()) - set(expected.items()))[:3]
        raise Wrong(f"{len(expected)} dead letters, keyed by their source (partition, offset); "
                    f"you have {len(got)}. First expected but missing or different: {missing}; "
                    f"first not expected: {extra}")


@cache
def _timed_topic() -> tuple[str, dict[int, list[int]]]:
    """Two partitions of messages with known, growing timestamps (CreateTime, set by the
    producer, 10-110 s apart); partition 1's first 40 records deleted, so it starts at 40.

    The timestamps start at lk.generate.START_MS, which may be months ago: kept for ever
    (retention.ms -1), or the broker's retention check, every 5 minutes, deletes them
    while they are being graded."""
    topic = lk.topics.create_topic(f"ch06-timed-{lk.topics.run_id()}", partitions=2,
                                   config={"retention.ms": "-1"})
    rng = random.Random(6)
    producer = lk.clients.producer()
    stamps: dict[int, list[int]] = {}
    for partition, count in ((0, 300), (1, 200)):
        ts = lk.generate.START_MS
        stamps[partition] = []
        for index in range(count):
            ts += rng.randint(10_000, 110_000)
            stamps[partition].append(ts)
            producer.produce(topic, value=b"%d" % index, partition=partition, timestamp=ts)
    producer.flush(30)
    admin = lk.clients.admin()  # keep a reference: the request dies with its client
    for future in admin.delete_records([TopicPartition(topic, 1, 40)]).values():
        future.result(timeout=30)
    return topic, stamps


def _first_within(stamps: list[int], low: int, committed: int, horizon_ms: int) -> int:
    """Independently: the first offset from `low` whose timestamp is within the horizon."""
    start = stamps[committed - 1] - horizon_ms
    return next(offset for offset in range(low, committed) if stamps[offset] >= start)


@grader("replay_start",
        hint="the last *processed* message is at committed - 1; offsets below the low "
             "watermark no longer exist")
def grade_replay_start(module: ModuleType) -> None:
    topic, stamps = _timed_topic()
    on_the_bound = stamps[0][199] - stamps[0][150]  # offset 150 is exactly horizon_ms older
    cases = [(0, 250, REBUILD_HORIZON_MS, ""), (0, 300, 10 * 60_000, ""),
             (0, 1, REBUILD_HORIZON_MS, " (only one message processed)"),
             (1, 150, 24 * REBUILD_HORIZON_MS, " (the horizon reaches past the first offset)"),
             (1, 120, 30 * 60_000, ""),
             (0, 200, on_the_bound, " (offset 150's timestamp is exactly the last processed "
                                    "one's minus horizon_ms: \"at least\" includes it)")]
    for partition, committed, horizon_ms, note in cases:
        low = 40 if partition == 1 else 0
        expected = _first_within(stamps[partition], low, committed, horizon_ms)
        got = module.replay_start(topic, partition, committed, horizon_ms=horizon_ms)
        if got != expected:
            raise Wrong(f"partition {partition}, committed {committed}, horizon "
                        f"{horizon_ms:,} ms{note}", expected=expected, got=got)


@grader("guarded_decode",
        hint="check the magic byte and the length before decoding; count left-over bytes as "
             "a failure; catch per message")
def grade_guarded_decode(module: ModuleType) -> None:
    topic = _hostile_run()
    undecodable = sum(reason == "undecodable" for reason in _letters(topic).values())
    expected = (lk.topics.count(topic) - undecodable, undecodable)
    got = module.guarded_decode(topic)
    if not isinstance(got, tuple | list) or len(got) != 2:
        raise Wrong("the answer must be a pair (decoded, dead_lettered)", got=got)
    if tuple(got) == (expected[0] + TRAILING, expected[1] - TRAILING):
        raise Wrong(f"(decoded, dead-lettered) on a hostile topic: {TRAILING} decoded too many, "
                    f"as many as the frames with bytes left over after the record (compare "
                    "buffer.tell() with the body's length)", expected=expected, got=got)
    if tuple(got) != expected:
        raise Wrong("(decoded, dead-lettered) on a hostile topic", expected=expected, got=got)
