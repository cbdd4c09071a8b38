"""Consumer groups seen from outside: who owns which partition, and how far behind it is.

What `kafka-consumer-groups.sh --describe` prints, from the AdminClient:

    lag(group, topic)   per partition: the group's committed offset, the end offset, and
                        the difference (lag: messages written and not yet processed)
    members(group)      each member's client id and its partitions
    Watch               both, sampled in the background while something happens

Lag is measured against the *committed* offset, so it also counts what a
member has processed and not yet committed: at-least-once engines commit
after every batch, so the two differ by at most a batch.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from confluent_kafka import ConsumerGroupTopicPartitions, KafkaException, TopicPartition

from . import clients
from .errors import LabError
from .polling import Sampler
from .settings import get_settings

__all__ = ["PartitionLag", "Watch", "lag", "members"]


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


def _unreachable(exc: Exception) -> LabError:
    return LabError(f"Kafka at {get_settings().kafka} did not answer: {exc}",
                    "start the stack with `labkit stack up`.")


def lag(group: str, topic: str | None = None, *, timeout_s: float = 10.0) -> list[PartitionLag]:
    """Committed offset, end offset and lag of every partition `group` has committed on
    (or of every partition of `topic`, committed or not), sorted by topic and partition."""
    admin = clients.admin()
    try:
        if topic is None:
            wanted = None
        else:
            meta = admin.list_topics(topic, timeout=timeout_s).topics[topic]
            if meta.error is not None:
                raise LabError(f"There is no topic {topic!r}: {meta.error.str()}",
                               "check the name with `lk.topics.list_topics()`.")
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
        raise _unreachable(exc) from None
    return [PartitionLag(t, p, offset if offset >= 0 else None, *marks[t, p])
            for (t, p), offset in sorted(committed.items())]


def members(group: str, *, timeout_s: float = 10.0) -> dict[str, list[int]]:
    """client id -> the partitions that member owns now ({} if the group has no member)."""
    admin = clients.admin()  # keep a reference: the request dies with its client
    try:
        found = admin.describe_consumer_groups([group])[group].result(timeout=timeout_s)
    except KafkaException as exc:
        raise _unreachable(exc) from None
    return {member.client_id: sorted(tp.partition for tp in member.assignment.topic_partitions)
            for member in found.members}


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
            owners = members(self.group)
            lags = {entry.partition: float(entry.lag) for entry in lag(self.group, self.topic)}
        except LabError:
            return {}, {0: math.nan}
        return owners, lags or {0: math.nan}
