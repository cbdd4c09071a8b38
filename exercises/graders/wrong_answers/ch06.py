"""Plausible wrong answers to chapter 06's exercises: each is the reference solution with one
function replaced, and `exercises/graders/ch06.py` must fail it with `fails_with` in its line."""

from __future__ import annotations

import io
import json
from functools import cache

from confluent_kafka import TopicPartition
from confluent_kafka.schema_registry.error import SchemaRegistryError
from fastavro import parse_schema, schemaless_reader

import labkit as lk
from labkit.check import wrong_answer

solution = lk.check.load("06", solutions=True)


def _letters(dlq_topic: str) -> list:
    """Every dead letter, read with the reference's bounded reader."""
    consumer = lk.clients.consumer()
    try:
        return list(solution._messages(consumer, dlq_topic))
    finally:
        consumer.close()


def _header(msg, name: str) -> str:
    return dict(msg.headers() or [])[name].decode()


@wrong_answer("dead_letter_reasons", fails_with="dead letters, keyed by their source")
def keyed_by_the_letter(dlq_topic: str) -> dict[tuple[int, int], str]:
    """Keys each reason by where the dead letter sits in the dead-letter topic."""
    return {(msg.partition(), msg.offset()): _header(msg, "dlq.reason")
            for msg in _letters(dlq_topic)}


@wrong_answer("dead_letter_reasons", fails_with="dead letters, keyed by their source")
def error_for_reason(dlq_topic: str) -> dict[tuple[int, int], str]:
    """Takes the dlq.error header (the details) for the reason."""
    return {(int(_header(msg, "dlq.partition")), int(_header(msg, "dlq.offset"))):
            _header(msg, "dlq.error") for msg in _letters(dlq_topic)}


@wrong_answer("dead_letter_reasons", fails_with="dead letters, keyed by their source")
def first_partition_only(dlq_topic: str) -> dict[tuple[int, int], str]:
    """Reads partition 0 of the dead-letter topic only."""
    return {(int(_header(msg, "dlq.partition")), int(_header(msg, "dlq.offset"))):
            _header(msg, "dlq.reason") for msg in _letters(dlq_topic) if msg.partition() == 0}


def _replay_from(topic: str, partition: int, at: int, shift_ms: int) -> int:
    """The offsets_for_times answer for the timestamp of offset `at` plus `shift_ms`."""
    consumer = lk.clients.consumer()
    try:
        low, _high = consumer.get_watermark_offsets(TopicPartition(topic, partition), timeout=10)
        consumer.assign([TopicPartition(topic, partition, at)])
        msg = consumer.poll(10.0)
        found = consumer.offsets_for_times(
            [TopicPartition(topic, partition, msg.timestamp()[1] + shift_ms)], timeout=10)[0]
        return max(low, found.offset) if found.offset >= 0 else low
    finally:
        consumer.close()


@wrong_answer("replay_start", fails_with="partition 0, committed 250")
def from_the_committed_offset(topic: str, partition: int, committed: int, *,
                              horizon_ms: int) -> int:
    """Measures back from the message at `committed`: the next to process, not the last
    processed."""
    return _replay_from(topic, partition, min(committed, 299), -horizon_ms)


@wrong_answer("replay_start", fails_with="\"at least\" includes it")
def strictly_within(topic: str, partition: int, committed: int, *, horizon_ms: int) -> int:
    """Asks for the first record strictly newer than the bound: the one on it is left out."""
    return _replay_from(topic, partition, committed - 1, 1 - horizon_ms)


@wrong_answer("replay_start", fails_with="the horizon reaches past the first offset")
def from_offset_zero(topic: str, partition: int, committed: int, *, horizon_ms: int) -> int:
    """Falls back to offset 0 when the horizon reaches past the start: deleted records."""
    start = solution.replay_start(topic, partition, committed, horizon_ms=horizon_ms)
    consumer = lk.clients.consumer()
    try:
        low, _high = consumer.get_watermark_offsets(TopicPartition(topic, partition), timeout=10)
    finally:
        consumer.close()
    return 0 if start == low else start


def _count(topic: str, decodes) -> tuple[int, int]:
    """(decoded, dead) over the topic, with the reference's bounded reader."""
    consumer = lk.clients.consumer()
    try:
        outcomes = [decodes(msg.value()) for msg in solution._messages(consumer, topic)]
    finally:
        consumer.close()
    return sum(outcomes), len(outcomes) - sum(outcomes)


@cache
def _writer(schema_id: int) -> dict | None:
    """The writer schema of `schema_id`, None if the registry does not know it (once per id)."""
    try:
        found = lk.clients.registry_client().get_schema(schema_id)
    except SchemaRegistryError:
        return None
    return parse_schema(json.loads(found.schema_str))


@wrong_answer("guarded_decode", fails_with="as many as the frames with bytes left over")
def leftover_bytes_unchecked(topic: str) -> tuple[int, int]:
    """Decodes one record and never checks that it used the whole body."""
    def decodes(value: bytes | None) -> bool:
        if not value or len(value) < 5 or value[0] != 0:
            return False
        try:
            schemaless_reader(io.BytesIO(value[5:]), _writer(int.from_bytes(value[1:5], "big")))
        except Exception:
            return False
        return True
    return _count(topic, decodes)


@wrong_answer("guarded_decode", fails_with="(decoded, dead-lettered) on a hostile topic")
def magic_byte_unchecked(topic: str) -> tuple[int, int]:
    """Skips the magic byte check: a frame starting 0x07 with a known id decodes."""
    def decodes(value: bytes | None) -> bool:
        if not value or len(value) < 5:
            return False
        try:
            body = io.BytesIO(value[5:])
            schemaless_reader(body, _writer(int.from_bytes(value[1:5], "big")))
        except Exception:
            return False
        return body.tell() == len(value) - 5
    return _count(topic, decodes)


@wrong_answer("guarded_decode", fails_with="raised labkit.errors.DecodeError")
def unguarded(topic: str) -> tuple[int, int]:
    """Decodes each message with no guard: the first bad one raises out of the function."""
    return _count(topic, lambda value: bool(lk.serde.ConfluentDecoder()(value)))


@wrong_answer("guarded_decode", fails_with="(decoded, dead-lettered) on a hostile topic")
def guard_around_the_loop(topic: str) -> tuple[int, int]:
    """Guards the loop, not each message: the first bad message ends it, and every message
    after it counts as dead-lettered."""
    decode, decoded = lk.serde.ConfluentDecoder(), 0
    consumer = lk.clients.consumer()
    try:
        for msg in solution._messages(consumer, topic):
            decode(msg.value())
            decoded += 1
    except Exception:
        pass
    finally:
        consumer.close()
    return decoded, lk.topics.count(topic) - decoded
