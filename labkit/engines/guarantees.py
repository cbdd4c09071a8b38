"""Delivery guarantees: in which order a batch's outputs and its input offsets reach Kafka.

Every batch of the simple engine has two steps: *write* its outputs (feature
records and dead letters to Kafka, features to Redis) and *commit* its input
offsets (the group's "processed up to here"). A crash between the two steps
leaves the run wherever the order put it, and that is the guarantee:

    at-most-once   commit, then write: a crash loses the batch (it is never re-read)
    at-least-once  write, then commit: a crash re-reads the batch (its outputs repeat)
    exactly-once   write and commit in one Kafka transaction: a crash aborts both, and
                   a `read_committed` reader sees every output once

The engine calls, for every batch: `begin(offsets)`, its writes through
`send`, then `confirm()` and `commit(offsets)`; `abort()` if anything failed in
between; `commit_pending()` when input pauses; and `commit_now(offsets)` at
the end and before giving partitions away. `CrashPoint` kills the process
between the two steps (the failure lab's deterministic crash), wherever the
guarantee puts that point.

Redis is in no transaction: Kafka cannot commit it. Its writes are idempotent
instead (the newest-wins guard of `RedisFeatureSink.write_latest`), so a
re-read batch leaves Redis where an uninterrupted run would; what an aborted
transaction wrote to Redis is rewritten, with the same values, by the replay.
"""

from __future__ import annotations

import os
import signal
import sys
import time
from collections.abc import Callable
from typing import Protocol

from confluent_kafka import Consumer, KafkaError, KafkaException, TopicPartition

from .. import clients
from ..errors import LabError
from ..polling import retry
from ..topics import Deliveries

__all__ = ["COMMIT_INTERVAL_S", "GUARANTEES", "TRANSACTION_TIMEOUT_MS", "CrashPoint",
           "Guarantee", "make"]

GUARANTEES = ("at-most-once", "at-least-once", "exactly-once")
# How long the broker keeps a transaction open without a commit: a process killed
# mid-transaction blocks read_committed readers (at the open transaction's first
# record) until it is aborted, by a restart with the same transactional.id or by this.
TRANSACTION_TIMEOUT_MS = 20_000
# How long to wait for every acknowledgement of a batch, and for a transaction's commit.
CONFIRM_TIMEOUT_S = 120.0
# At-least-once commits asynchronously, at most this often. Under a trickle of input every
# batch is a handful of messages; a commit per batch queues commits faster than the group
# coordinator answers them, and the group's committed offset (its lag) falls behind what
# was processed. Offsets are cumulative, so a skipped commit is folded into the next one.
COMMIT_INTERVAL_S = 0.1


class CrashPoint:
    """SIGKILL this process in batch `batch` (1-based), between its write and its commit.

    The same as a crashed host at that instant: no shutdown hook, no last
    commit. A line on stderr says what the batch held, so a notebook can say
    exactly what the crash left behind.
    """

    def __init__(self, batch: int | None) -> None:
        self.batch = batch
        self.seen = 0

    def __call__(self, messages: int, guarantee: str) -> None:
        self.seen += 1
        if self.batch is not None and self.seen == self.batch:
            print(f"crash point: batch {self.seen} ({messages} messages), {guarantee}: "
                  "killed between its write and its commit", file=sys.stderr, flush=True)
            os.kill(os.getpid(), signal.SIGKILL)


class Guarantee(Protocol):
    """How one engine process writes a batch's outputs and commits its offsets."""

    name: str
    transactional: bool  # outputs in transactions: count them with a read_committed reader

    def send(self, topic: str, key: bytes | None, value: bytes | None,
             headers: dict[str, bytes] | None = None) -> None: ...
    def begin(self, offsets: list[TopicPartition], messages: int) -> None: ...
    def confirm(self) -> None: ...
    def commit(self, offsets: list[TopicPartition], messages: int) -> None: ...
    def abort(self) -> None: ...
    def commit_pending(self) -> None: ...
    def commit_now(self, offsets: list[TopicPartition]) -> None: ...


class AtLeastOnce:
    """Write, then commit (asynchronously: the next batch does not wait for the broker; and
    at most every `COMMIT_INTERVAL_S`).

    A crash, or an outage, after the write and before the commit re-reads the
    batch (and those since the last commit): outputs may repeat, none is lost.
    """

    name = "at-least-once"
    transactional = False

    def __init__(self, consumer: Consumer, crash: CrashPoint) -> None:
        self.consumer, self.crash = consumer, crash
        self.deliveries = Deliveries()
        self._next_commit = 0.0
        self._pending: list[TopicPartition] = []  # offsets the interval held back

    def send(self, topic: str, key: bytes | None, value: bytes | None,
             headers: dict[str, bytes] | None = None) -> None:
        self.deliveries.send(topic, key, value, headers)

    def begin(self, offsets: list[TopicPartition], messages: int) -> None:
        pass

    def confirm(self) -> None:
        # Raises before the commit: an unacknowledged batch is re-read.
        self.deliveries.confirm(timeout_s=CONFIRM_TIMEOUT_S,
                                what="feature records and dead letters")

    def commit(self, offsets: list[TopicPartition], messages: int) -> None:
        self.crash(messages, self.name)
        self._pending = offsets
        if time.monotonic() >= self._next_commit:
            self.commit_pending()  # else the next commit carries these offsets too

    def commit_pending(self) -> None:
        """Commit what the interval held back (the engine calls it when input pauses)."""
        if self._pending:
            self._next_commit = time.monotonic() + COMMIT_INTERVAL_S
            # A commit that fails or is lost to a crash only means more is read again.
            self.consumer.commit(offsets=self._pending, asynchronous=True)
            self._pending = []

    def abort(self) -> None:
        pass  # nothing was committed: a restart re-reads the batch

    def commit_now(self, offsets: list[TopicPartition]) -> None:
        """Commit synchronously (the last batch, partitions being revoked): durable now."""
        if offsets:
            self.consumer.commit(offsets=offsets, asynchronous=False)


class AtMostOnce(AtLeastOnce):
    """Commit (synchronously), then write: a crash after the commit loses the batch.

    Kept for the lesson of notebook 07: the cheapest order, and the wrong one
    for a feature store, since a lost batch leaves cards with stale features.
    """

    name = "at-most-once"

    def begin(self, offsets: list[TopicPartition], messages: int) -> None:
        self.consumer.commit(offsets=offsets, asynchronous=False)
        self.crash(messages, self.name)

    def commit(self, offsets: list[TopicPartition], messages: int) -> None:
        pass  # committed before the write

    def commit_now(self, offsets: list[TopicPartition]) -> None:
        pass  # every batch committed before its write


class ExactlyOnce:
    """One Kafka transaction per batch: its feature records, dead letters and input offsets.

    The offsets go in with `send_offsets_to_transaction` and the consumer's
    group metadata, so the group coordinator refuses them from a process that
    no longer owns the partitions (a zombie after a rebalance). The producer's
    `transactional.id` is the process's identity: a process started again with
    the same id aborts its predecessor's open transaction and fences it (any
    later write of the old one fails). Two live processes need two ids.
    """

    name = "exactly-once"
    transactional = True

    def __init__(self, consumer: Consumer, crash: CrashPoint, transactional_id: str) -> None:
        self.consumer, self.crash, self.transactional_id = consumer, crash, transactional_id
        self.producer = clients.producer(**{"transactional.id": transactional_id,
                                            "transaction.timeout.ms": TRANSACTION_TIMEOUT_MS})
        self.failures: list[str] = []
        self._call(lambda: self.producer.init_transactions(CONFIRM_TIMEOUT_S),
                   "starting transactions")

    def _on_delivery(self, err: KafkaError | None, _msg: object) -> None:
        if err is not None:
            self.failures.append(err.str())

    def _call(self, call: Callable[[], None], what: str) -> None:
        """`call()`, retried while Kafka calls its error retriable; fenced or fatal: LabError."""
        retry(call, transient=lambda exc: exc.args[0].retriable(), timeout_s=CONFIRM_TIMEOUT_S,
              errors=(KafkaException,), give_up=lambda exc: self._explain(exc.args[0], what))

    def _explain(self, error: KafkaError, what: str) -> LabError:
        if error.code() in (KafkaError._FENCED, KafkaError.PRODUCER_FENCED,
                            KafkaError.INVALID_PRODUCER_EPOCH):
            return LabError(
                f"This process was fenced while {what}: another process started with "
                f"transactional.id {self.transactional_id!r} and took over ({error.str()}).",
                "that is a restart doing its job; if both should run, give each process of "
                "the group its own --instance.")
        return LabError(f"The transaction failed while {what}: {error.str()}",
                        "run the same command again: it resumes after the last committed "
                        "transaction (`labkit stack status` if the broker is away).")

    def send(self, topic: str, key: bytes | None, value: bytes | None,
             headers: dict[str, bytes] | None = None) -> None:
        while True:
            try:
                self.producer.produce(topic, key=key, value=value, headers=headers,
                                      on_delivery=self._on_delivery)
                return
            except BufferError:  # the local queue is full: serve deliveries, then retry
                self.producer.poll(0.1)

    def begin(self, offsets: list[TopicPartition], messages: int) -> None:
        self._call(self.producer.begin_transaction, "beginning a transaction")

    def confirm(self) -> None:
        left = self.producer.flush(CONFIRM_TIMEOUT_S)
        if self.failures or left:
            first = self.failures[0] if self.failures else "timeout"
            raise LabError(f"{len(self.failures) + left} records of the transaction were not "
                           f"delivered (first error: {first}); the transaction is aborted.",
                           "run the same command again: it resumes after the last committed "
                           "transaction.")

    def commit(self, offsets: list[TopicPartition], messages: int) -> None:
        self.crash(messages, self.name)
        metadata = self.consumer.consumer_group_metadata()
        self._call(lambda: self.producer.send_offsets_to_transaction(
            offsets, metadata, CONFIRM_TIMEOUT_S), "adding the offsets to the transaction")
        self._call(lambda: self.producer.commit_transaction(CONFIRM_TIMEOUT_S),
                   "committing the transaction")

    def abort(self) -> None:
        """Abort the open transaction: none of its records reach a read_committed reader."""
        self.failures.clear()
        try:
            self.producer.abort_transaction(CONFIRM_TIMEOUT_S)
        except KafkaException as exc:  # fenced, or no transaction open: nothing to undo
            if exc.args[0].fatal():
                raise self._explain(exc.args[0], "aborting a transaction") from None

    def commit_pending(self) -> None:
        pass  # nothing is ever held back

    def commit_now(self, offsets: list[TopicPartition]) -> None:
        pass  # every batch committed its offsets in its transaction


def make(guarantee: str, consumer: Consumer, *, crash: CrashPoint,
         transactional_id: str) -> Guarantee:
    """The guarantee called `guarantee` for an engine process reading with `consumer`."""
    if guarantee == "exactly-once":
        return ExactlyOnce(consumer, crash, transactional_id)
    if guarantee == "at-least-once":
        return AtLeastOnce(consumer, crash)
    if guarantee == "at-most-once":
        return AtMostOnce(consumer, crash)
    raise LabError(f"There is no delivery guarantee {guarantee!r}.",
                   f"use one of: {', '.join(GUARANTEES)}.")
