"""Consumer groups seen from outside: who owns which partition, and how far behind it is.

What `kafka-consumer-groups.sh --describe` prints, from the AdminClient:

    lag(group, topic)   per partition: the group's committed offset, the end offset, and
                        the difference (lag: messages written and not yet processed)
    members(group)      each member's client id and its partitions
    owners(group)       which member holds each partition now (none: nobody reads it)
    Watch               members and lag, sampled in the background while something happens

Lag and owners together tell a dead member from a stuck one (notebook 07): a
dead member leaves the group once its session times out, and its partitions go
to a live member or, with none left, to nobody; a stuck member stays, holds its
partitions, and their lag grows while it heartbeats as if all were well.

Lag is measured against the *committed* offset, so it also counts what a
member has processed and not yet committed: at-least-once engines commit
after every batch, so the two differ by at most a batch.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from confluent_kafka import ConsumerGroupTopicPartitions, KafkaException, TopicPartition
from confluent_kafka.admin import ConsumerGroupDescription

from . import clients
from .clients import kafka_unreachable, topic_metadata
from .errors import LabError
from .polling import Sampler

__all__ = ["PartitionLag", "Watch", "lag", "members", "owners"]


@dataclass(frozen=True)
class PartitionLag:
    """One partition of a topic a group reads: where the group is, and where the end is."""

    topic: str
    partition: int
    committed: int | None  # None: the group has committed nothing here
    first: int  # the partition's first offset (older messages were deleted)
    end: int

    @property
    def lag(self) -> int:
        """Messages after the committed offset (all of them if nothing was committed)."""
        return self.end - (self.first if self.committed is None else self.committed)


def lag(group: str, topic: str | None = None, *, timeout_s: float = 10.0) -> list[PartitionLag]:
    """Committed offset, end offset and lag of every partition `group` has committed on
    (or of every partition of `topic`, committed or not), sorted by topic and partition."""
    admin = clients.admin()
    try:
        if topic is None:
            wanted = None
        else:
            meta = topic_metadata(admin, topic, timeout_s=timeout_s)
            wanted = [TopicPartition(topic, p) for p in sorted(meta.partitions)]
        request = [ConsumerGroupTopicPartitions(group, wanted)]
        found = admin.list_consumer_group_offsets(request)[group].result(timeout=timeout_s)
        committed = {(tp.topic, tp.partition): tp.offset for tp in found.topic_partitions}
        reader = clients.consumer()
        try:
            marks = {key: reader.get_watermark_offsets(TopicPartition(*key), timeout=timeout_s)
                     for key in committed}
        finally:
            reader.close()
    except KafkaException as exc:
        raise kafka_unreachable(exc) from None
    return [PartitionLag(t, p, offset if offset >= 0 else None, *marks[t, p])
            for (t, p), offset in sorted(committed.items())]


def _described(group: str, timeout_s: float) -> ConsumerGroupDescription:
    admin = clients.admin()  # keep a reference: the request dies with its client
    try:
        return admin.describe_consumer_groups([group])[group].result(timeout=timeout_s)
    except KafkaException as exc:
        raise kafka_unreachable(exc) from None


def members(group: str, *, timeout_s: float = 10.0) -> dict[str, list[int]]:
    """client id -> the partitions that member owns now ({} if the group has no member)."""
    return {member.client_id: sorted(tp.partition for tp in member.assignment.topic_partitions)
            for member in _described(group, timeout_s).members}


def owners(group: str, *, timeout_s: float = 10.0) -> dict[tuple[str, int], str]:
    """(topic, partition) -> the client id of the member that holds it now (a partition
    no member holds is not there)."""
    return {(tp.topic, tp.partition): member.client_id
            for member in _described(group, timeout_s).members
            for tp in member.assignment.topic_partitions}


class Watch(Sampler):
    """Samples a group's members and lag on `topic` every `every_s`, in the background.

    Use as a context manager around what should be watched; `mark(label)`
    notes when something happened. `samples` holds (seconds since start,
    {client id: partitions}, {partition: lag}); a sample taken while Kafka did
    not answer has empty members and NaN lags.
    """

    def __init__(self, group: str, topic: str, every_s: float = 0.25) -> None:
        super().__init__(every_s)
        self.group, self.topic = group, topic

    def take(self) -> tuple[dict[str, list[int]], dict[int, float]]:
        try:
            with clients.quiet():  # a broker stopped on purpose: no connection errors shown
                owners = members(self.group)
                lags = {entry.partition: float(entry.lag)
                        for entry in lag(self.group, self.topic)}
        except LabError:
            return {}, {0: math.nan}
        return owners, lags or {0: math.nan}
