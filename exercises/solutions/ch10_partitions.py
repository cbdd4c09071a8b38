"""Reference solutions for chapter 10 (partitions and keys: try ../ch10_partitions.py first)."""

from __future__ import annotations

import json
import math
from collections import Counter

import redis
from confluent_kafka import TopicPartition

import labkit as lk

# Float error is about 1e-16 of a value; anything within 1e-9 of a whole number of consumers
# is that number (a billionth of a consumer's throughput is no reason for another partition).
TOLERANCE = 1e-9


def partitions_for_growth(peak_per_s: float, growth_per_year: float, years: int,
                          per_consumer_per_s: float) -> int:
    """Consumers needed at the compounded peak, in whole partitions."""
    return _partitions(peak_per_s * (1 + growth_per_year) ** years / per_consumer_per_s)


def _partitions(consumers: float) -> int:
    """Whole partitions for `consumers` consumers' worth: up, past float error, at least 1."""
    return max(1, math.ceil(consumers * (1 - TOLERANCE)))


def _keys(topic: str, partition: int, start: int, end: int) -> list[bytes | None]:
    """The keys of `partition`'s messages from offset `start` up to `end` (exclusive),
    read by a consumer of a group of its own that commits nothing."""
    consumer = lk.clients.consumer()
    try:
        consumer.assign([TopicPartition(topic, partition, start)])
        keys = []
        while start < end:
            msg = consumer.poll(10)
            if msg is None:
                raise TimeoutError(f"partition {partition} of {topic!r}: nothing after offset "
                                   f"{start} within 10 s, short of its end {end}")
            if msg.error() is not None:
                raise RuntimeError(msg.error().str())
            keys.append(msg.key())
            start = msg.offset() + 1
        return keys
    finally:
        consumer.close()


def _unprocessed(topic: str, entry: lk.groups.PartitionLag) -> list[bytes | None]:
    """The keys of a partition's messages the group has not processed: from its committed
    offset (its first offset without one) to its end."""
    start = entry.first if entry.committed is None else entry.committed
    return _keys(topic, entry.partition, start, entry.end)


def hottest_key(topic: str, group: str) -> bytes:
    """The most common key after the committed offset of the partition with the most lag."""
    behind = max(lk.groups.lag(group, topic), key=lambda entry: entry.lag)
    return Counter(_unprocessed(topic, behind)).most_common(1)[0][0]


def _last_values(topic: str) -> dict[bytes, bytes | None]:
    """card id -> its last value in the changelog (None: a tombstone)."""
    return {record.key: record.value for record in lk.topics.read_all(topic)}


def _replace(client: redis.Redis, prefix: str, cards: dict[bytes, bytes | None]) -> int:
    """DEL each card's hash and HSET the ones with a value, in one transaction: how many
    cards have a hash now."""
    pipe = client.pipeline(transaction=True)
    for card, value in cards.items():
        key = prefix + card.decode()
        pipe.delete(key)
        if value is not None:
            pipe.hset(key, mapping=lk.sinks.encode_fields(json.loads(value)))
    pipe.execute()
    return sum(value is not None for value in cards.values())


def restore_features(topic: str, client: redis.Redis, prefix: str) -> int:
    """Per card its last record: a tombstone deletes the hash, a value replaces it."""
    return _replace(client, prefix, _last_values(topic))
