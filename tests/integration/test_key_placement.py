"""`partitioning.partition_for` is where the lab's producer really puts a key (chapter 10).

Keyed messages go through `topics.produce`, with librdkafka's default partitioner,
to a fresh 3-partition topic on the live stack; each one read back sits on the
partition `partition_for` names. tests/unit/test_partitioning.py holds the rule
itself to known values.
"""

from __future__ import annotations

import pytest

import labkit as lk
from labkit.generate import HOT_CARD
from labkit.partitioning import partition_for, salted_key

pytestmark = pytest.mark.integration

PARTITIONS = 3


def test_each_key_lands_on_the_partition_partition_for_names():
    # Plain card ids, and the hot card salted as chapter 10 spreads it.
    keys = [f"card-{i:04d}".encode() for i in range(200)]
    keys += [salted_key(HOT_CARD.encode(), salt) for salt in range(8)]
    topic = lk.topics.fresh_topic("it-keys", partitions=PARTITIONS)
    sent = lk.topics.produce(topic, ((key, str(n).encode()) for n, key in enumerate(keys)))
    assert sent == len(keys)
    records = lk.topics.read_all(topic)
    assert sorted(record.key for record in records) == sorted(keys)
    # (key, where it landed, where partition_for says it lands)
    landed = [(r.key, r.partition, partition_for(r.key, PARTITIONS)) for r in records]
    assert [wrong for wrong in landed if wrong[1] != wrong[2]] == []
    assert {record.partition for record in records} == set(range(PARTITIONS))
