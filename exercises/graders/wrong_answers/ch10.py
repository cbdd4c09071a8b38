"""Plausible wrong answers to chapter 10's exercises: each is the reference solution with one
function replaced, and `exercises/graders/ch10.py` must fail it with `fails_with` in its line."""

from __future__ import annotations

import json
import math
from collections import Counter

import redis
from confluent_kafka import TopicPartition

import labkit as lk
from labkit.check import wrong_answer

solution = lk.check.load("10", solutions=True)


@wrong_answer("partitions_for_growth", fails_with="sized for the peak in `years`")
def todays_peak(peak_per_s: float, growth_per_year: float, years: int,
                per_consumer_per_s: float) -> int:
    """Sizes for today's peak: the growth the topic must make room for is left out."""
    return solution._partitions(peak_per_s / per_consumer_per_s)


@wrong_answer("partitions_for_growth", fails_with="growth compounds")
def linear_growth(peak_per_s: float, growth_per_year: float, years: int,
                  per_consumer_per_s: float) -> int:
    """Grows the peak linearly, peak * (1 + growth * years): each year's growth is on the
    grown peak, not on today's."""
    return solution._partitions(peak_per_s * (1 + growth_per_year * years) / per_consumer_per_s)


@wrong_answer("partitions_for_growth", fails_with="4.5 consumers' worth of traffic")
def rounded_down(peak_per_s: float, growth_per_year: float, years: int,
                 per_consumer_per_s: float) -> int:
    """Truncates with int(): the rest of a consumer's worth of traffic gets no partition."""
    return max(1, int(peak_per_s * (1 + growth_per_year) ** years / per_consumer_per_s))


@wrong_answer("partitions_for_growth", fails_with="10.000000000000002")
def ceil_of_the_float(peak_per_s: float, growth_per_year: float, years: int,
                      per_consumer_per_s: float) -> int:
    """Takes math.ceil of the float as it comes: float error above a whole number adds a
    partition."""
    return max(1, math.ceil(peak_per_s * (1 + growth_per_year) ** years / per_consumer_per_s))


@wrong_answer("partitions_for_growth", fails_with="at least 1 partition")
def no_minimum(peak_per_s: float, growth_per_year: float, years: int,
               per_consumer_per_s: float) -> int:
    """Forgets the minimum: a topic with no traffic yet gets 0 partitions."""
    consumers = peak_per_s * (1 + growth_per_year) ** years / per_consumer_per_s
    return math.ceil(consumers * (1 - solution.TOLERANCE))


def _backlogs(topic: str, group: str) -> dict[int, list[bytes | None]]:
    """partition -> the keys of its unprocessed messages."""
    return {entry.partition: solution._unprocessed(topic, entry)
            for entry in lk.groups.lag(group, topic)}


def _leader(keys: list[bytes | None]) -> bytes:
    return Counter(keys).most_common(1)[0][0]


@wrong_answer("hottest_key", fails_with="moved the group's committed offsets")
def commits_the_backlog(topic: str, group: str) -> bytes:
    """Finds the right key, then commits the lagging partition's end with the group's id,
    as a worker that has read the backlog would: the group skips what it never processed."""
    key = solution.hottest_key(topic, group)
    behind = max(lk.groups.lag(group, topic), key=lambda entry: entry.lag)
    committer = lk.clients.consumer(group_id=group)
    try:
        committer.commit(offsets=[TopicPartition(topic, behind.partition, behind.end)],
                         asynchronous=False)
    finally:
        committer.close()
    return key


@wrong_answer("hottest_key", fails_with="is the most common key over the whole topic")
def most_common_in_the_topic(topic: str, group: str) -> bytes:
    """Counts the keys of the whole topic: the busiest key overall, not the one the group is
    stuck on."""
    return _leader([record.key for record in lk.topics.read_all(topic)])


@wrong_answer("hottest_key", fails_with="of all 215 messages of partition 0")
def largest_partition(topic: str, group: str) -> bytes:
    """Looks for the hot key where the traffic is, not where the lag is: the partition with
    the most messages, all of them counted (the group has processed them all)."""
    biggest = max(lk.groups.lag(group, topic), key=lambda entry: entry.end - entry.first)
    return _leader(solution._keys(topic, biggest.partition, biggest.first, biggest.end))


@wrong_answer("hottest_key", fails_with="of all 195 messages of partition 1")
def counts_the_processed_messages(topic: str, group: str) -> bytes:
    """Finds the lagging partition but counts all its messages, from its first offset: the
    processed ones say where the traffic was, not what the group is stuck on."""
    behind = max(lk.groups.lag(group, topic), key=lambda entry: entry.lag)
    return _leader(solution._keys(topic, behind.partition, behind.first, behind.end))


@wrong_answer("hottest_key", fails_with="of every partition together")
def every_backlog_together(topic: str, group: str) -> bytes:
    """Counts the unprocessed messages of every partition together: a key spread over the
    backlogs beats the one that holds a single partition back."""
    return _leader([key for keys in _backlogs(topic, group).values() for key in keys])


@wrong_answer("hottest_key", fails_with="among the 69 unprocessed messages of partition 2")
def least_lagging_partition(topic: str, group: str) -> bytes:
    """Takes the partition with the least lag among those that lag (min for max)."""
    backlogs = {partition: keys for partition, keys in _backlogs(topic, group).items() if keys}
    return _leader(backlogs[min(backlogs, key=lambda partition: len(backlogs[partition]))])


@wrong_answer("restore_features", fails_with="(it holds its first value)")
def first_value_wins(topic: str, client: redis.Redis, prefix: str) -> int:
    """Keeps each card's first record: what came later is taken for a replay."""
    first: dict[bytes, bytes | None] = {}
    for record in lk.topics.read_all(topic):
        first.setdefault(record.key, record.value)
    return solution._replace(client, prefix, first)


@wrong_answer("restore_features", fails_with="(it holds its value from before the tombstone)")
def tombstones_change_nothing(topic: str, client: redis.Redis, prefix: str) -> int:
    """Skips the null values as if they were no update: a deleted card comes back with the
    value it had before its tombstone."""
    return solution._replace(client, prefix, {record.key: record.value
                                   for record in lk.topics.read_all(topic) if record.value})


@wrong_answer("restore_features", fails_with="(it holds the stale hash it had before the restore)")
def tombstones_delete_nothing(topic: str, client: redis.Redis, prefix: str) -> int:
    """Keeps the last record per card but writes only the values: a tombstoned card's hash
    that Redis still held stays."""
    living = {card: value for card, value in solution._last_values(topic).items()
              if value is not None}
    return solution._replace(client, prefix, living)


@wrong_answer("restore_features", fails_with="written after its tombstone")
def tombstones_applied_last(topic: str, client: redis.Redis, prefix: str) -> int:
    """Writes each card's last value, then deletes every card that ever had a tombstone: a
    card deleted and written again stays deleted."""
    records = lk.topics.read_all(topic)
    values = {record.key: record.value for record in records if record.value is not None}
    written = solution._replace(client, prefix, values)
    deleted = {record.key for record in records if record.value is None}
    if deleted:
        client.delete(*(prefix + card.decode() for card in deleted))
    return written


@wrong_answer("restore_features", fails_with="(2 values; in partition 1) has no hash")
def partition_zero_only(topic: str, client: redis.Redis, prefix: str) -> int:
    """Reads partition 0 alone, as if the changelog had one partition."""
    return solution._replace(client, prefix, {record.key: record.value
                                   for record in lk.topics.read_all(topic)
                                   if record.partition == 0})


@wrong_answer("restore_features", fails_with="left over from the hash it had before the restore")
def fields_written_over(topic: str, client: redis.Redis, prefix: str) -> int:
    """HSETs each card's last value over the hash Redis holds, without DEL: a field the
    value no longer has survives from the stale hash."""
    last = solution._last_values(topic)
    pipe = client.pipeline(transaction=True)
    for card, value in last.items():
        if value is None:
            pipe.delete(prefix + card.decode())
        else:
            pipe.hset(prefix + card.decode(), mapping=lk.sinks.encode_fields(json.loads(value)))
    pipe.execute()
    return sum(value is not None for value in last.values())
