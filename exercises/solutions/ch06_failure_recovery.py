"""Reference solutions for exercises/ch06_failure_recovery.py (notebook 06)."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator

from confluent_kafka import Consumer, Message, TopicPartition
from confluent_kafka.schema_registry.error import SchemaRegistryError
from fastavro import parse_schema, schemaless_reader

import labkit as lk


def _messages(consumer: Consumer, topic: str) -> Iterator[Message]:
    """Every message of `topic`, from each partition's low to its high watermark now."""
    partitions = consumer.list_topics(topic, timeout=10).topics[topic].partitions
    ends = {}
    for partition in partitions:
        low, high = consumer.get_watermark_offsets(TopicPartition(topic, partition), timeout=10)
        if high > low:
            ends[partition] = high
    consumer.assign([TopicPartition(topic, p, consumer.get_watermark_offsets(
        TopicPartition(topic, p), timeout=10)[0]) for p in ends])
    while ends:
        msg = consumer.poll(10.0)
        if msg is None:
            raise TimeoutError(f"no message from {topic!r} within 10 s")
        if msg.error() is not None:
            continue
        yield msg
        if msg.offset() + 1 >= ends.get(msg.partition(), 0):
            ends.pop(msg.partition(), None)


def dead_letter_reasons(dlq_topic: str) -> dict[tuple[int, int], str]:
    """Read every dead letter and key its reason by the source partition and offset."""
    consumer = lk.clients.consumer()
    try:
        reasons = {}
        for msg in _messages(consumer, dlq_topic):
            headers = {name: value.decode() for name, value in msg.headers() or []}
            source = (int(headers["dlq.partition"]), int(headers["dlq.offset"]))
            reasons[source] = headers["dlq.reason"]
        return reasons
    finally:
        consumer.close()


def replay_start(topic: str, partition: int, committed: int, *, horizon_ms: int) -> int:
    """The timestamp of the last processed message, minus the horizon, through the time index."""
    consumer = lk.clients.consumer()
    try:
        low, _high = consumer.get_watermark_offsets(TopicPartition(topic, partition), timeout=10)
        consumer.assign([TopicPartition(topic, partition, committed - 1)])
        last = consumer.poll(10.0)
        if last is None or last.error() is not None:
            raise RuntimeError(f"cannot read offset {committed - 1} of {topic}[{partition}]")
        start = last.timestamp()[1] - horizon_ms
        found = consumer.offsets_for_times([TopicPartition(topic, partition, start)],
                                           timeout=10)[0]
        return max(low, found.offset) if found.offset >= 0 else low
    finally:
        consumer.close()


def guarded_decode(topic: str) -> tuple[int, int]:
    """Check the frame, look the schema up, decode exactly one record; count, never raise."""
    registry = lk.clients.registry_client()
    writers: dict[int, dict | None] = {}  # schema id -> parsed schema, None if unknown

    def writer(schema_id: int) -> dict | None:
        if schema_id not in writers:
            try:
                found = registry.get_schema(schema_id)
                writers[schema_id] = parse_schema(json.loads(found.schema_str))
            except SchemaRegistryError:
                writers[schema_id] = None
        return writers[schema_id]

    def decodes(value: bytes | None) -> bool:
        if not value or len(value) < 5 or value[0] != 0:
            return False
        schema = writer(int.from_bytes(value[1:5], "big"))
        if schema is None:
            return False
        body = io.BytesIO(value[5:])
        try:
            schemaless_reader(body, schema)
        except Exception:  # any failure to decode is the answer
            return False
        return body.tell() == len(value) - 5

    consumer = lk.clients.consumer()
    decoded = dead = 0
    try:
        for msg in _messages(consumer, topic):
            if decodes(msg.value()):
                decoded += 1
            else:
                dead += 1
    finally:
        consumer.close()
    return decoded, dead
