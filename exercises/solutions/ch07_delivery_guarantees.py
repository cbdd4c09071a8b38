"""Reference solutions for chapter 07 (delivery guarantees and consumer groups)."""

from __future__ import annotations

import time
from collections import Counter

from confluent_kafka import Consumer, TopicPartition

import labkit as lk


def _read_to_end(consumer: Consumer, topic: str, starts: dict[int, int],
                 timeout_s: float = 30.0) -> list:
    """Every message from `starts` to the end offsets seen now, markers and all skipped."""
    ends = {p: consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1]
            for p in starts}
    consumer.assign([TopicPartition(topic, p, offset) for p, offset in starts.items()])
    remaining = {p for p, offset in starts.items() if offset < ends[p]}
    messages = []
    deadline = time.monotonic() + timeout_s
    while remaining and time.monotonic() < deadline:
        msg = consumer.poll(0.2)
        if msg is None:
            # Past a commit or abort marker, or past aborted records: only the position says.
            positions = consumer.position([TopicPartition(topic, p) for p in remaining])
            remaining -= {tp.partition for tp in positions if tp.offset >= ends[tp.partition]}
            continue
        if msg.error() is not None:
            raise RuntimeError(msg.error().str())
        messages.append(msg)
        if msg.offset() + 1 >= ends[msg.partition()]:
            remaining.discard(msg.partition())
    return messages


def _partitions(consumer: Consumer, topic: str) -> list[int]:
    return sorted(consumer.list_topics(topic, timeout=10).topics[topic].partitions)


def _lows(consumer: Consumer, topic: str) -> dict[int, int]:
    return {p: consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[0]
            for p in _partitions(consumer, topic)}


def lost_and_repeated(input_topic: str, output_topic: str) -> tuple[int, int]:
    reader = lk.clients.consumer(**{"isolation.level": "read_committed"})
    try:
        inputs = {msg.value().decode()
                  for msg in _read_to_end(reader, input_topic, _lows(reader, input_topic))}
        seen = Counter(msg.value().decode()
                       for msg in _read_to_end(reader, output_topic, _lows(reader, output_topic)))
    finally:
        reader.close()
    lost = len(inputs - set(seen))
    repeated = sum(count - 1 for count in seen.values())
    return lost, repeated


def partition_lag(group: str, topic: str) -> dict[int, int]:
    """End offset minus the committed offset; without a commit, minus the first offset."""
    return {partition: high - (low if committed is None else committed)
            for partition, (low, high, committed) in _positions(group, topic).items()}


def _positions(group: str, topic: str) -> dict[int, tuple[int, int, int | None]]:
    """partition -> (low watermark, high watermark, `group`'s committed offset or None)."""
    consumer = lk.clients.consumer(group_id=group)  # asks, commits nothing
    try:
        partitions = _partitions(consumer, topic)
        committed = consumer.committed([TopicPartition(topic, p) for p in partitions],
                                       timeout=10)
        return {tp.partition: (*consumer.get_watermark_offsets(
            TopicPartition(topic, tp.partition), timeout=10),
            tp.offset if tp.offset >= 0 else None) for tp in committed}
    finally:
        consumer.close()


def copy_exactly_once(input_topic: str, output_topic: str, group: str,
                      transactional_id: str) -> int:
    consumer = lk.clients.consumer(group_id=group)
    producer = lk.clients.producer(**{"transactional.id": transactional_id})
    producer.init_transactions(30)
    try:
        partitions = _partitions(consumer, input_topic)
        lows = _lows(consumer, input_topic)
        committed = consumer.committed([TopicPartition(input_topic, p) for p in partitions],
                                       timeout=10)
        starts = {tp.partition: tp.offset if tp.offset >= 0 else lows[tp.partition]
                  for tp in committed}
        messages = _read_to_end(consumer, input_topic, starts)
        for first in range(0, len(messages), 500):
            batch = messages[first:first + 500]
            producer.begin_transaction()
            for msg in batch:
                producer.produce(output_topic, key=msg.key(), value=msg.value(),
                                 partition=msg.partition())
            done = {msg.partition(): msg.offset() + 1 for msg in batch}
            producer.send_offsets_to_transaction(
                [TopicPartition(input_topic, p, offset) for p, offset in done.items()],
                consumer.consumer_group_metadata(), 30)
            producer.commit_transaction(30)
        return len(messages)
    finally:
        consumer.close()
