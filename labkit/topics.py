"""Topics: fresh per-run names, bounded produce and read.

Every notebook run writes to topics of its own (`fresh_topic`), so re-running
a notebook never reads a previous run's messages. Run ids look like
`run1a2b3c4d`, which the nbval sanitizer replaces, so outputs stay comparable.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import partial

from confluent_kafka import IsolationLevel, KafkaError, KafkaException, TopicPartition
from confluent_kafka.admin import NewTopic, OffsetSpec

from . import clients
from .clients import kafka_unreachable, topic_metadata
from .errors import LabError
from .polling import retry

__all__ = ["Deliveries", "Record", "committed", "count", "create_topic", "describe",
           "end_offsets", "fresh_topic", "list_topics", "partition_counts", "produce", "read",
           "read_all", "run_id", "timestamp_span", "watermarks"]


@dataclass(frozen=True)
class Record:
    """One message as read back from Kafka."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    timestamp_ms: int
    headers: tuple[tuple[str, bytes], ...] = ()


def run_id() -> str:
    """A short random id that makes per-run names unique."""
    return f"run{uuid.uuid4().hex[:8]}"


def create_topic(name: str, *, partitions: int = 1, config: dict[str, str] | None = None,
                 exist_ok: bool = False, timeout_s: float = 15.0) -> str:
    """Create `name` and wait until it exists. Its replication factor is the brokers'
    default: 1 on the lab's single broker, 3 on chapter 09's cluster.

    `config` holds topic settings, e.g. {"message.timestamp.type": "LogAppendTime"}.
    With `exist_ok`, a topic someone else created meanwhile is fine.
    """
    admin = clients.admin()  # keep a reference: the request dies with its client
    futures = admin.create_topics(
        # replication_factor=-1: the broker's `default.replication.factor` (KIP-464).
        [NewTopic(name, num_partitions=partitions, replication_factor=-1, config=config or {})],
        operation_timeout=timeout_s, request_timeout=timeout_s)
    try:
        futures[name].result(timeout=timeout_s)
    except KafkaException as exc:
        if exc.args[0].code() == KafkaError.TOPIC_ALREADY_EXISTS:
            if exist_ok:
                return name
            raise LabError(f"Topic {name!r} already exists.",
                           "use `fresh_topic(prefix)` for a new name per run.") from None
        raise kafka_unreachable(exc) from None
    return name


def fresh_topic(prefix: str, *, partitions: int = 1,
                config: dict[str, str] | None = None) -> str:
    """Create and return a new topic named `<prefix>-run<8 hex>` (`config`: its settings)."""
    return create_topic(f"{prefix}-{run_id()}", partitions=partitions, config=config)


def list_topics(*, timeout_s: float = 10.0) -> list[str]:
    """Names of all non-internal topics, sorted."""
    try:
        metadata = clients.admin().list_topics(timeout=timeout_s)
    except KafkaException as exc:
        raise kafka_unreachable(exc) from None
    return sorted(t for t in metadata.topics if not t.startswith("__"))


def describe(topic: str, *, timeout_s: float = 10.0) -> dict[str, int | str]:
    """Partition count and replication factor of one topic."""
    try:
        meta = topic_metadata(clients.admin(), topic, timeout_s=timeout_s)
    except KafkaException as exc:
        raise kafka_unreachable(exc) from None
    replicas = {len(p.replicas) for p in meta.partitions.values()}
    return {"topic": topic, "partitions": len(meta.partitions),
            "replication_factor": max(replicas, default=0)}


def _refused_for_now(exc: Exception) -> bool:
    """A broker's refusal that passes: a restarted broker still loading a partition's
    leader (NOT_LEADER_FOR_PARTITION), say. The call is asked again (`retry`, up to the
    caller's timeout); any other error, or the last one, goes to the caller."""
    return isinstance(exc, KafkaException) and clients.kafka_transient(exc.args[0])


def _watermarks(consumer, topic: str, timeout_s: float) -> dict[int, tuple[int, int]]:
    """partition -> (first offset, end offset) of an existing topic."""
    meta = topic_metadata(consumer, topic, timeout_s=timeout_s)
    return {p: retry(partial(consumer.get_watermark_offsets, TopicPartition(topic, p),
                             timeout=timeout_s), transient=_refused_for_now, timeout_s=timeout_s)
            for p in sorted(meta.partitions)}


def end_offsets(topic: str, *, committed_only: bool = False,
                timeout_s: float = 10.0) -> dict[int, int]:
    """partition -> where a reader's partition ends: the high watermark, or for a
    read_committed reader (`committed_only`) the *last stable offset*, the first
    record of the oldest transaction still open (the high watermark if none is)."""
    admin = clients.admin()
    try:
        meta = topic_metadata(admin, topic, timeout_s=timeout_s)
        isolation = (IsolationLevel.READ_COMMITTED if committed_only
                     else IsolationLevel.READ_UNCOMMITTED)

        def ask() -> dict[int, int]:
            found = admin.list_offsets({TopicPartition(topic, p): OffsetSpec.latest()
                                        for p in meta.partitions}, isolation_level=isolation,
                                       request_timeout=timeout_s)
            return {tp.partition: future.result(timeout=timeout_s).offset
                    for tp, future in sorted(found.items(), key=lambda item: item[0].partition)}

        return retry(ask, transient=_refused_for_now, timeout_s=timeout_s)
    except KafkaException as exc:
        raise kafka_unreachable(exc) from None


def timestamp_span(topic: str, *, timeout_s: float = 10.0) -> tuple[int, int] | None:
    """(earliest, latest) record timestamp in the topic, in epoch ms (None if it is empty).

    Asked of the broker (ListOffsets by timestamp 0, and by the newest
    timestamp), so nothing is read however large the topic. On a
    `LogAppendTime` topic (the feature logs) these are when the first and the
    last record arrived: the span a run's output took.
    """
    admin = clients.admin()
    try:
        partitions = topic_metadata(admin, topic, timeout_s=timeout_s).partitions

        def ask(spec: OffsetSpec) -> list:
            answers = admin.list_offsets({TopicPartition(topic, p): spec for p in partitions},
                                         request_timeout=timeout_s)
            return [future.result(timeout=timeout_s) for future in answers.values()]

        found = [retry(partial(ask, spec), transient=_refused_for_now, timeout_s=timeout_s)
                 for spec in (OffsetSpec.for_timestamp(0), OffsetSpec.max_timestamp())]
    except KafkaException as exc:
        raise kafka_unreachable(exc) from None
    earliest = [info.timestamp for info in found[0] if info.offset >= 0 and info.timestamp >= 0]
    latest = [info.timestamp for info in found[1] if info.offset >= 0 and info.timestamp >= 0]
    if not earliest or not latest:
        return None
    return min(earliest), max(latest)


def watermarks(topic: str, *, timeout_s: float = 10.0) -> dict[int, tuple[int, int]]:
    """partition -> (log start offset, end offset) now. The start moves up when retention
    deletes a segment (or `delete_records` is called); compaction leaves it where it is."""
    consumer = clients.consumer()
    try:
        return _watermarks(consumer, topic, timeout_s)
    except KafkaException as exc:
        raise kafka_unreachable(exc) from None
    finally:
        consumer.close()


def partition_counts(topic: str, *, timeout_s: float = 10.0) -> dict[int, int]:
    """partition -> how many messages it holds now (end minus start offset)."""
    return {partition: high - low
            for partition, (low, high) in watermarks(topic, timeout_s=timeout_s).items()}


def count(topic: str, *, timeout_s: float = 10.0) -> int:
    """How many messages the topic holds now, summed over its partitions."""
    return sum(partition_counts(topic, timeout_s=timeout_s).values())


def committed(topic: str, group: str, *, timeout_s: float = 10.0) -> int:
    """How many of the topic's messages `group` has committed as processed (0 if none)."""
    consumer = clients.consumer(group_id=group)
    try:
        partitions = _watermarks(consumer, topic, timeout_s)
        offsets = retry(partial(consumer.committed, [TopicPartition(topic, p) for p in partitions],
                                timeout=timeout_s), transient=_refused_for_now, timeout_s=timeout_s)
    except KafkaException as exc:
        raise kafka_unreachable(exc) from None
    finally:
        consumer.close()
    return sum(tp.offset - partitions[tp.partition][0] for tp in offsets if tp.offset >= 0)


class Deliveries:
    """A producer whose every delivery is checked: `send`, then `confirm` once per batch."""

    def __init__(self) -> None:
        self.producer = clients.producer()
        self.failures: list[str] = []
        self.sent = 0

    def _on_delivery(self, err, _msg) -> None:
        if err is not None:
            self.failures.append(err.str())

    def send(self, topic: str, key: bytes | None, value: bytes | None,
             headers: dict[str, bytes] | Sequence[tuple[str, bytes]] | None = None, *,
             partition: int = -1, timestamp_ms: int = 0) -> None:
        """Queue one message; `partition` -1 lets the partitioner choose (by key), a
        `timestamp_ms` of 0 stamps it with the time it is sent."""
        try:
            self.producer.produce(topic, key=key, value=value, headers=headers,
                                  partition=partition, timestamp=timestamp_ms,
                                  on_delivery=self._on_delivery)
        except KafkaException as exc:
            if exc.args[0].code() != KafkaError.MSG_SIZE_TOO_LARGE:
                raise
            raise LabError(f"A {len(value or b''):,}-byte message to {topic!r} is too large for "
                           "Kafka (message.max.bytes, about 1 MB).",
                           "shrink or split the value; the engines dead-letter anything above "
                           "processing.MAX_VALUE_BYTES anyway.") from None
        self.sent += 1
        if self.sent % 1000 == 0:  # serve delivery reports now and then, not per message
            self.producer.poll(0)

    def confirm(self, *, timeout_s: float = 30.0, what: str = "messages") -> None:
        """Wait for every acknowledgement; raise a LabError if any message was not delivered."""
        left = self.producer.flush(timeout_s)
        if self.failures or left:
            first = self.failures[0] if self.failures else "timeout"
            raise LabError(f"{len(self.failures) + left} of {self.sent} {what} were not "
                           f"delivered (first error: {first}).",
                           "check the stack with `labkit stack status`.")


def produce(topic: str, messages: Iterable[tuple[bytes | None, bytes | None]],
            *, timeout_s: float = 30.0) -> int:
    """Produce (key, value) pairs, wait for every delivery, and return how many were acked."""
    deliveries = Deliveries()
    for key, value in messages:
        deliveries.send(topic, key, value)
    deliveries.confirm(timeout_s=timeout_s, what=f"messages to {topic!r}")
    return deliveries.sent


def copy_records(topic: str, records: Iterable[Record], *, timeout_s: float = 30.0) -> int:
    """Write `records` (read from another topic) to `topic` as they were: same partition,
    key, value, timestamp and headers, in order. Return how many were acked."""
    deliveries = Deliveries()
    for record in records:
        # confluent-kafka takes headers as a list or a dict, not a tuple
        deliveries.send(topic, record.key, record.value, list(record.headers) or None,
                        partition=record.partition, timestamp_ms=record.timestamp_ms)
    deliveries.confirm(timeout_s=timeout_s, what=f"copied records to {topic!r}")
    return deliveries.sent


def read(topic: str, *, max_messages: int, timeout_s: float = 10.0,
         committed_only: bool = True, complete: bool = False) -> list[Record]:
    """Read up to `max_messages` from the start of every partition, stopping at the end.

    Bounded three ways (count, end of topic, timeout) so a notebook cell
    always returns; with `complete`, a timeout before the end (or the count) is
    a LabError instead of fewer records. A reader sees only committed
    transactions (`isolation.level` read_committed, librdkafka's default) and
    ends at the last stable offset; `committed_only=False` reads what aborted
    and open transactions wrote too, to the high watermark. Either way the
    transactions' commit and abort markers take offsets but are never
    delivered: a partition is at its end when the consumer's position is,
    whatever the last message's offset.
    """
    isolation = "read_committed" if committed_only else "read_uncommitted"
    consumer = clients.consumer(**{"isolation.level": isolation})
    try:
        marks = _watermarks(consumer, topic, timeout_s)
        consumer.assign([TopicPartition(topic, p, low) for p, (low, _) in marks.items()])
        # A read_committed reader cannot pass an open transaction: its end is the LSO.
        ends = (end_offsets(topic, committed_only=True, timeout_s=timeout_s) if committed_only
                else {p: high for p, (_, high) in marks.items()})
        records: list[Record] = []
        remaining = {p for p, (low, _) in marks.items() if ends[p] > low}
        deadline = time.monotonic() + timeout_s
        while remaining and len(records) < max_messages and time.monotonic() < deadline:
            msg = consumer.poll(0.2)
            if msg is None:
                remaining -= _at_end(consumer, topic, remaining, ends)
                continue
            if msg.error() is not None:
                raise LabError(f"Reading {topic!r} failed: {msg.error().str()}",
                               "check the stack with `labkit stack status`.")
            records.append(Record(msg.topic(), msg.partition(), msg.offset(), msg.key(),
                                  msg.value(), msg.timestamp()[1], tuple(msg.headers() or ())))
            if msg.offset() + 1 >= ends[msg.partition()]:
                remaining.discard(msg.partition())
        if complete and remaining and len(records) < max_messages:
            raise LabError(f"Reading {topic!r}: partitions {sorted(remaining)} not read to their "
                           f"end within {timeout_s:.0f} s ({len(records):,} records so far).",
                           "check the stack with `labkit stack status`, or allow more time.")
        return records
    except KafkaException as exc:
        raise kafka_unreachable(exc) from None
    finally:
        consumer.close()


def _at_end(consumer, topic: str, partitions: set[int], ends: dict[int, int]) -> set[int]:
    """The partitions whose position has reached its end (past markers and aborted records)."""
    positions = consumer.position([TopicPartition(topic, p) for p in partitions])
    return {tp.partition for tp in positions if tp.offset >= ends[tp.partition]}


def read_all(topic: str, *, timeout_s: float = 60.0, committed_only: bool = True
             ) -> list[Record]:
    """The whole topic, ordered by (partition, offset); a LabError if it cannot be read to
    its end within `timeout_s`.

    `read` interleaves partitions in no fixed order; sorting makes a topic's
    contents reproducible (each key's records stay in order, in one partition).
    """
    records = read(topic, max_messages=10**9, timeout_s=timeout_s,
                   committed_only=committed_only, complete=True)
    records.sort(key=lambda record: (record.partition, record.offset))
    return records
