"""Graders for chapter 07: topics whose deliveries, commits and transactions are known."""

from __future__ import annotations

from collections import Counter
from functools import cache
from types import ModuleType
from typing import Any

from confluent_kafka import TopicPartition

import labkit as lk
from labkit.check import Watched, Wrong, grader, watching


def _ids(count: int, start: int = 0) -> list[str]:
    return [f"txn-{index:05d}" for index in range(start, start + count)]


def _records(topic: str) -> list[lk.topics.Record]:
    return lk.topics.read_all(topic)  # read_committed, past markers


@cache
def _delivered() -> tuple[str, str, int, int]:
    """An input of 400 ids and a transactional output that lost 23 and repeated 31 (one id
    three times); a further aborted transaction repeats 50 more, visible to
    read_uncommitted only."""
    source = lk.topics.fresh_topic("ch07-input", partitions=2)
    output = lk.topics.fresh_topic("ch07-output", partitions=2)
    ids = _ids(400)
    lk.topics.produce(source, ((None, txn.encode()) for txn in ids))
    lost, repeated = set(ids[::17][:23]), [*ids[5::13][:31], ids[5]]  # ids[5]: 3 copies
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
def _lagging() -> str:
    """Three partitions of 50, 80 and 30 messages; partition 2's first 10 deleted."""
    topic = lk.topics.fresh_topic("ch07-lag", partitions=3)
    producer = lk.clients.producer()
    for partition, count in ((0, 50), (1, 80), (2, 30)):
        for index in range(count):
            producer.produce(topic, value=b"%d" % index, partition=partition)
    producer.flush(30)
    admin = lk.clients.admin()  # keep a reference: the request dies with its client
    for future in admin.delete_records([TopicPartition(topic, 2, 10)]).values():
        future.result(timeout=30)
    return topic


def _lagging_group(topic: str) -> tuple[str, dict[int, int]]:
    """A fresh group that committed 20 on partition 0 and 80 on partition 1, nothing on
    partition 2 (fresh each time: the code under test may commit with it too)."""
    group = f"ch07-lag-{lk.topics.run_id()}"
    committer = lk.clients.consumer(group_id=group)
    committer.commit(offsets=[TopicPartition(topic, 0, 20), TopicPartition(topic, 1, 80)],
                     asynchronous=False)
    committer.close()
    return group, {0: 30, 1: 0, 2: 20}


@grader("partition_lag",
        hint="lag is the end offset minus the committed offset; with no commit, minus the "
             "partition's first offset (its low watermark), not minus 0")
def grade_partition_lag(module: ModuleType) -> None:
    topic = _lagging()
    group, expected = _lagging_group(topic)
    got = module.partition_lag(group, topic)
    if got != expected:
        raise Wrong("the lag of each partition", expected=expected, got=got)


def _copies(output: str) -> Counter:
    return Counter((record.key, record.value) for record in _records(output))


class _Crash(BaseException):
    """The grader's stand-in for the process dying: no `except Exception` catches it."""


class _CrashingProducer(Watched):
    """A transactional producer whose process dies at its first commit_transaction(): just
    after the commit (`after`), or instead of it, the transaction left open."""

    def __init__(self, target: Any, log: list[tuple], *, after: bool) -> None:
        super().__init__(target, log)
        self._after = after

    def commit_transaction(self, *args: Any, **kwargs: Any) -> None:
        if any(entry == ("crash",) for entry in self._log):
            return self._target.commit_transaction(*args, **kwargs)
        if self._after:
            self._target.commit_transaction(*args, **kwargs)
        self._log.append(("crash",))
        raise _Crash("the grader's crash " + ("after" if self._after else "before") +
                     " commit_transaction()")


def _crashing_call(module: ModuleType, copy: tuple[str, str, str, str], *, after: bool) -> None:
    """Call copy_exactly_once and let its process die at the first commit_transaction()."""
    log: list[tuple] = []
    with watching(module, "producer", lambda real, _config: _CrashingProducer(
            real, log, after=after)):
        try:
            module.copy_exactly_once(*copy)
        except _Crash:
            return
    if ("crash",) in log:
        raise Wrong("your code went on after commit_transaction() was cut short: a bare "
                    "`except:` caught the grader's crash (let BaseException through)")
    raise Wrong("commit_transaction() was never called on a producer from "
                "lk.clients.producer(...): copy in transactions, as the docstring asks")


def _repeated(output: str) -> int:
    return sum(count - 1 for count in _copies(output).values())


@grader("copy_exactly_once",
        hint="begin_transaction, produce the batch, send_offsets_to_transaction with the "
             "consumer's group metadata, commit_transaction; start at the committed offsets; "
             "never consumer.commit()")
def grade_copy_exactly_once(module: ModuleType) -> None:
    source = lk.topics.fresh_topic("ch07-copy-in", partitions=2)
    output = lk.topics.fresh_topic("ch07-copy-out", partitions=2)
    copy = (source, output, f"ch07-copy-{lk.topics.run_id()}", f"ch07-copy-{lk.topics.run_id()}")
    messages = [(f"card-{index % 9}".encode(), txn.encode())
                for index, txn in enumerate(_ids(1200))]
    lk.topics.produce(source, messages[:900])
    _crashing_call(module, copy, after=True)
    module.copy_exactly_once(*copy)  # the restart
    if _repeated(output):
        raise Wrong(f"after a crash just after commit_transaction(), the restart copied "
                    f"{_repeated(output)} messages a second time: the group's offsets must be "
                    "committed in that same transaction (send_offsets_to_transaction before "
                    "commit_transaction), not by the consumer")
    got = module.copy_exactly_once(*copy)
    if got != 0:
        raise Wrong("a call with nothing new: how many messages it copied", expected=0, got=got)
    lk.topics.produce(source, messages[900:])
    _crashing_call(module, copy, after=False)
    got = module.copy_exactly_once(*copy)
    if got != 300:
        raise Wrong("after 300 more inputs and a crash before commit_transaction() (the "
                    "transaction, offsets included, was aborted): how many the restart copied",
                    expected=300, got=got)
    copies = _copies(output)
    if copies != Counter(messages):
        raise Wrong(f"every input once in the output (read_committed); {_repeated(output)} "
                    "repeated", expected=len(messages), got=sum(copies.values()))
    if lk.topics.count(output) <= len(messages):
        raise Wrong("the output holds no transaction markers: were the copies written in "
                    "transactions?", expected="offsets > records", got=lk.topics.count(output))
    if lk.topics.committed(source, copy[2]) != len(messages):
        raise Wrong("the group's committed offsets cover every input",
                    expected=len(messages), got=lk.topics.committed(source, copy[2]))
