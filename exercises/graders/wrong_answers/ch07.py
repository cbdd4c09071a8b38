"""Plausible wrong answers to chapter 07's exercises: each is the reference solution with one
function replaced, and `exercises/graders/ch07.py` must fail it with `fails_with` in its line."""

from __future__ import annotations

from collections import Counter

from confluent_kafka import ConsumerGroupTopicPartitions, TopicPartition

import labkit as lk
from labkit.check import wrong_answer

solution = lk.check.load("07", solutions=True)


def _values(topic: str, **config: str) -> list[str]:
    """Every value of `topic`, read with the reference's bounded reader."""
    reader = lk.clients.consumer(**config)
    try:
        return [msg.value().decode()
                for msg in solution._read_to_end(reader, topic, solution._lows(reader, topic))]
    finally:
        reader.close()


@wrong_answer("lost_and_repeated", fails_with="as a read_committed reader sees it")
def read_uncommitted(input_topic: str, output_topic: str) -> tuple[int, int]:
    """Reads the output with the default isolation level: aborted records count as repeats."""
    inputs, seen = set(_values(input_topic)), Counter(_values(
        output_topic, **{"isolation.level": "read_uncommitted"}))
    return len(inputs - set(seen)), sum(count - 1 for count in seen.values())


@wrong_answer("lost_and_repeated", fails_with="as a read_committed reader sees it")
def differences_of_counts(input_topic: str, output_topic: str) -> tuple[int, int]:
    """Counts lost as inputs minus distinct outputs and repeats as outputs minus inputs:
    a repeat and a loss cancel out."""
    inputs = _values(input_topic)
    outputs = _values(output_topic, **{"isolation.level": "read_committed"})
    return len(inputs) - len(set(outputs)), max(len(outputs) - len(inputs), 0)


@wrong_answer("lost_and_repeated", fails_with="as a read_committed reader sees it")
def repeated_ids_not_records(input_topic: str, output_topic: str) -> tuple[int, int]:
    """Counts the ids that were repeated, not the records beyond each id's first: an id
    written three times counts once."""
    inputs = set(_values(input_topic))
    seen = Counter(_values(output_topic, **{"isolation.level": "read_committed"}))
    return len(inputs - set(seen)), sum(count > 1 for count in seen.values())


@wrong_answer("partition_lag", fails_with="the lag of each partition")
def no_commit_counts_from_zero(group: str, topic: str) -> dict[int, int]:
    """Counts a partition without a commit from offset 0: its deleted records lag too."""
    return {partition: high - (committed or 0)
            for partition, (_low, high, committed) in solution._positions(group, topic).items()}


@wrong_answer("partition_lag", fails_with="the lag of each partition")
def no_commit_offset_taken_as_is(group: str, topic: str) -> dict[int, int]:
    """Subtracts the committed offset even when it is -1001, "no commit"."""
    return {partition: high - (-1001 if committed is None else committed)
            for partition, (_low, high, committed) in solution._positions(group, topic).items()}


@wrong_answer("partition_lag", fails_with="the lag of each partition")
def committed_partitions_only(group: str, topic: str) -> dict[int, int]:
    """Leaves out the partitions the group never committed on."""
    lag = solution.partition_lag(group, topic)
    return {partition: lag[partition] for partition in lag if partition != 2}


@wrong_answer("partition_lag", fails_with="keep a reference")
def admin_client_inline(group: str, topic: str) -> dict[int, int]:
    """Calls lk.clients.admin().list_consumer_group_offsets(...) inline: the AdminClient is
    collected before its request finishes, and the future never resolves."""
    consumer = lk.clients.consumer()
    try:
        lows = solution._lows(consumer, topic)
        highs = {p: consumer.get_watermark_offsets(TopicPartition(topic, p))[1] for p in lows}
    finally:
        consumer.close()
    request = ConsumerGroupTopicPartitions(group, [TopicPartition(topic, p) for p in lows])
    futures = lk.clients.admin().list_consumer_group_offsets([request])
    offsets = futures[group].result(timeout=15).topic_partitions
    return {tp.partition: highs[tp.partition] - (tp.offset if tp.offset >= 0
                                                 else lows[tp.partition]) for tp in offsets}


def _copy(input_topic: str, output_topic: str, group: str, transactional_id: str, *,
          order: str = "offsets in the transaction", starts=None, next_offset: int = 1) -> int:
    """The reference's copy, batch by batch, with the offsets committed as `order` says:
    "offsets in the transaction", "consumer commits after" or "consumer commits before"."""
    consumer = lk.clients.consumer(group_id=group)
    producer = lk.clients.producer(**{"transactional.id": transactional_id})
    producer.init_transactions(30)
    try:
        lows = solution._lows(consumer, input_topic)
        committed = consumer.committed([TopicPartition(input_topic, p) for p in lows], timeout=10)
        start = starts or {tp.partition: tp.offset if tp.offset >= 0 else lows[tp.partition]
                           for tp in committed}
        messages = solution._read_to_end(consumer, input_topic, start)
        for first in range(0, len(messages), 500):
            batch = messages[first:first + 500]
            offsets = [TopicPartition(input_topic, p, o) for p, o in
                       {msg.partition(): msg.offset() + next_offset for msg in batch}.items()]
            producer.begin_transaction()
            for msg in batch:
                producer.produce(output_topic, key=msg.key(), value=msg.value())
            if order == "consumer commits before":
                consumer.commit(offsets=offsets, asynchronous=False)
            elif order == "offsets in the transaction":
                producer.send_offsets_to_transaction(offsets, consumer.consumer_group_metadata())
            producer.commit_transaction(30)
            if order == "consumer commits after":
                consumer.commit(offsets=offsets, asynchronous=False)
        return len(messages)
    finally:
        consumer.close()


@wrong_answer("copy_exactly_once", fails_with="after a crash just after commit_transaction()")
def offsets_committed_by_the_consumer(input_topic: str, output_topic: str, group: str,
                                      transactional_id: str) -> int:
    """Copies in transactions, then commits the offsets with consumer.commit() after
    commit_transaction(): two steps, not one."""
    return _copy(input_topic, output_topic, group, transactional_id,
                 order="consumer commits after")


@wrong_answer("copy_exactly_once", fails_with="how many the restart copied")
def offsets_committed_before_the_transaction(input_topic: str, output_topic: str, group: str,
                                             transactional_id: str) -> int:
    """Commits the offsets with consumer.commit() before commit_transaction(): a crash in
    between loses the batch."""
    return _copy(input_topic, output_topic, group, transactional_id,
                 order="consumer commits before")


@wrong_answer("copy_exactly_once", fails_with="after a crash just after commit_transaction()")
def last_offset_not_the_next(input_topic: str, output_topic: str, group: str,
                             transactional_id: str) -> int:
    """Sends each partition's last copied offset, not the next one to read: the last
    message is copied again."""
    return _copy(input_topic, output_topic, group, transactional_id, next_offset=0)


@wrong_answer("copy_exactly_once", fails_with="after a crash just after commit_transaction()")
def always_from_the_start(input_topic: str, output_topic: str, group: str,
                          transactional_id: str) -> int:
    """Starts every call at the low watermarks, whatever the group committed."""
    consumer = lk.clients.consumer()
    try:
        lows = solution._lows(consumer, input_topic)
    finally:
        consumer.close()
    return _copy(input_topic, output_topic, group, transactional_id, starts=lows)


@wrong_answer("copy_exactly_once", fails_with="commit_transaction() was never called")
def no_transactions(input_topic: str, output_topic: str, group: str,
                    transactional_id: str) -> int:
    """Produces with a plain producer and commits with the consumer: at-least-once."""
    consumer = lk.clients.consumer(group_id=group)
    producer = lk.clients.producer()
    try:
        lows = solution._lows(consumer, input_topic)
        committed = consumer.committed([TopicPartition(input_topic, p) for p in lows], timeout=10)
        messages = solution._read_to_end(consumer, input_topic, {
            tp.partition: tp.offset if tp.offset >= 0 else lows[tp.partition] for tp in committed})
        for msg in messages:
            producer.produce(output_topic, key=msg.key(), value=msg.value())
        producer.flush(30)
        if messages:
            consumer.commit(asynchronous=False)
        return len(messages)
    finally:
        consumer.close()
