"""Graders for chapter 07: topics whose deliveries, commits and transactions are known."""

from __future__ import annotations

from collections import Counter
from functools import cache
from types import ModuleType

from confluent_kafka import TopicPartition

import labkit as lk
from labkit.check import Wrong, grader


def _ids(count: int, start: int = 0) -> list[str]:
    return [f"txn-{index:05d}" for index in range(start, start + count)]


def _records(topic: str) -> list[lk.topics.Record]:
    return lk.topics.read_all(topic)  # read_committed, past markers


@cache
def _delivered() -> tuple[str, str, int, int]:
    """An input of 400 ids and a transactional output that lost 23 and repeated 31; a
    further aborted transaction repeats 50 more, visible to read_uncommitted only."""
    source = lk.topics.fresh_topic("ch07-input", partitions=2)
    output = lk.topics.fresh_topic("ch07-output", partitions=2)
    ids = _ids(400)
    lk.topics.produce(source, ((None, txn.encode()) for txn in ids))
    lost, repeated = set(ids[::17][:23]), ids[5::13][:31]
    producer = lk.clients.producer(**{"transactional.id": f"ch07-grader-{output}"})
    producer.init_transactions(30)
    producer.begin_transaction()
    for txn in [txn for txn in ids if txn not in lost] + [r for r in repeated if r not in lost]:
        producer.produce(output, value=txn.encode())
    producer.commit_transaction(30)
    producer.begin_transaction()
    for txn in ids[:50]:
        producer.produce(output, value=txn.encode())
    producer.flush(30)
    producer.abort_transaction(30)
    return source, output, len(lost), len([r for r in repeated if r not in lost])


@grader("lost_and_repeated",
        hint="read the output as read_committed, and stop at a partition's end by the "
             "consumer's position (markers take offsets)")
def grade_lost_and_repeated(module: ModuleType) -> None:
    source, output, lost, repeated = _delivered()
    got = module.lost_and_repeated(source, output)
    if tuple(got) != (lost, repeated):
        raise Wrong("(lost, repeated) of the run, as a read_committed reader sees it",
                    expected=(lost, repeated), got=got)


@cache
def _lagging() -> tuple[str, str, dict[int, int]]:
    """Three partitions of 50, 80 and 30 messages; partition 2's first 10 deleted; the
    group committed 20 on partition 0 and 80 on partition 1, nothing on partition 2."""
    topic = lk.topics.fresh_topic("ch07-lag", partitions=3)
    producer = lk.clients.producer()
    for partition, count in ((0, 50), (1, 80), (2, 30)):
        for index in range(count):
            producer.produce(topic, value=b"%d" % index, partition=partition)
    producer.flush(30)
    admin = lk.clients.admin()  # keep a reference: the request dies with its client
    for future in admin.delete_records([TopicPartition(topic, 2, 10)]).values():
        future.result(timeout=30)
    group = f"ch07-lag-{lk.topics.run_id()}"
    committer = lk.clients.consumer(group_id=group)
    committer.commit(offsets=[TopicPartition(topic, 0, 20), TopicPartition(topic, 1, 80)],
                     asynchronous=False)
    committer.close()
    return group, topic, {0: 30, 1: 0, 2: 20}


@grader("partition_lag",
        hint="lag is the end offset minus the committed offset; with no commit, minus the "
             "partition's first offset (its low watermark), not minus 0")
def grade_partition_lag(module: ModuleType) -> None:
    group, topic, expected = _lagging()
    got = module.partition_lag(group, topic)
    if got != expected:
        raise Wrong("the lag of each partition", expected=expected, got=got)


def _copies(output: str) -> Counter:
    return Counter((record.key, record.value) for record in _records(output))


@grader("copy_exactly_once",
        hint="begin_transaction, produce the batch, send_offsets_to_transaction with the "
             "consumer's group metadata, commit_transaction; start at the committed offsets")
def grade_copy_exactly_once(module: ModuleType) -> None:
    source = lk.topics.fresh_topic("ch07-copy-in", partitions=2)
    output = lk.topics.fresh_topic("ch07-copy-out", partitions=2)
    group, txn_id = f"ch07-copy-{lk.topics.run_id()}", f"ch07-copy-{lk.topics.run_id()}"
    messages = [(f"card-{index % 9}".encode(), txn.encode())
                for index, txn in enumerate(_ids(1200))]
    lk.topics.produce(source, messages[:900])
    for call, expected in enumerate((900, 0), start=1):  # the second call has nothing new
        got = module.copy_exactly_once(source, output, group, txn_id)
        if got != expected:
            raise Wrong(f"call {call}: how many messages it copied", expected=expected, got=got)
    lk.topics.produce(source, messages[900:])
    got = module.copy_exactly_once(source, output, group, txn_id)
    if got != 300:
        raise Wrong("after 300 more inputs: how many the third call copied", expected=300,
                    got=got)
    copies = _copies(output)
    if copies != Counter(messages):
        twice = sum(count - 1 for count in copies.values() if count > 1)
        raise Wrong(f"every input once in the output (read_committed); {twice} repeated",
                    expected=len(messages), got=sum(copies.values()))
    if lk.topics.count(output) <= len(messages):
        raise Wrong("the output holds no transaction markers: were the copies written in "
                    "transactions?", expected="offsets > records", got=lk.topics.count(output))
    if lk.topics.committed(source, group) != len(messages):
        raise Wrong("the group's committed offsets cover every input",
                    expected=len(messages), got=lk.topics.committed(source, group))
