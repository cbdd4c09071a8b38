"""How a simple-engine process gets its partitions: through its consumer group, or fixed.

    Group   `subscribe`: the group coordinator shares the topic's partitions among the
            processes of one group, and moves them when a process joins, leaves, or
            stops heartbeating for `SESSION_TIMEOUT_MS` (a crash). The assignor is
            cooperative-sticky: a rebalance moves only the partitions that must move,
            and every other partition keeps being processed meanwhile.
    Fixed   `--only` (benchmarks): the process assigns itself its partitions, at the
            group's committed offsets. Nothing ever moves.

Either way the engine hears of partitions through two callbacks:
`assigned({partition: committed offset})`, before any message of them is
processed (the engine rebuilds their windows, and answers where to start), and
`revoked([partition], lost)`,
before another process may take them (the engine commits what it processed;
its batch in flight is always finished first, since callbacks run only inside
`consume`, between batches). `owned` is what the process holds now.

A bounded run (`until_end`) ends at the end offsets seen at start: a fixed
process when its partitions reach them, a group member when the *group* has
committed every partition up to them, so no member leaves while a crashed
member's partitions are still waiting to be taken over.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from functools import partial

from confluent_kafka import Consumer, ConsumerGroupState, TopicPartition
from confluent_kafka.admin import AdminClient

from .. import clients
from ..clients import topic_metadata
from ..errors import LabError
from ..polling import until
from .outages import retrying

__all__ = ["ASSIGNOR", "SESSION_TIMEOUT_MS", "Fixed", "Group", "consumer_settings"]

# How long the coordinator waits for a silent member before it moves its partitions: the
# broker's smallest allowed value (group.min.session.timeout.ms), where Kafka's default
# is 45 s. Heartbeats go out three times per timeout.
SESSION_TIMEOUT_MS = 6_000
ASSIGNOR = "cooperative-sticky"
# How often a group member that has nothing left checks whether the group is done.
GROUP_CHECK_S = 0.5

Assigned = Callable[[dict[int, int]], dict[int, int]]  # committed -> where to start
Revoked = Callable[[list[int], bool], None]  # partitions, lost (another member may own them)


def consumer_settings(*, from_beginning: bool) -> dict[str, object]:
    """The consumer settings of a group member (and of a fixed process: they are harmless)."""
    return {"partition.assignment.strategy": ASSIGNOR,
            "session.timeout.ms": SESSION_TIMEOUT_MS,
            "heartbeat.interval.ms": SESSION_TIMEOUT_MS // 3,
            "auto.offset.reset": "earliest" if from_beginning else "latest"}


def _partitions(consumer: Consumer, topic: str) -> list[int]:
    return sorted(topic_metadata(consumer, topic, timeout_s=10).partitions)


def _starts(consumer: Consumer, topic: str, partitions: list[int], *,
            from_beginning: bool) -> dict[int, int]:
    """partition -> where to start: the group's committed offset, else its start or end.

    Asked of the group coordinator, and retried while it is away (a broker restart,
    or a coordinator still loading the group's offsets after one).
    """
    def ask() -> dict[int, int]:
        starts = {}
        for tp in consumer.committed([TopicPartition(topic, p) for p in partitions],
                                     timeout=10):
            if tp.offset >= 0:
                starts[tp.partition] = tp.offset
                continue
            # Nothing committed yet: ask the broker where the partition starts or ends.
            low, high = consumer.get_watermark_offsets(TopicPartition(topic, tp.partition),
                                                       timeout=10)
            starts[tp.partition] = low if from_beginning else high
        return starts

    return retrying(ask, f"reading the group's committed offsets of {topic!r}")


class Fixed:
    """The partitions `only` (or all of them), assigned by the process itself."""

    def __init__(self, consumer: Consumer, topic: str, only: list[int] | None, *,
                 from_beginning: bool) -> None:
        self.consumer, self.topic, self.only = consumer, topic, only
        self.from_beginning = from_beginning
        self.owned: set[int] = set()
        self.starts: dict[int, int] = {}
        self.ends: dict[int, int] = {}
        self.all_committed = False  # a fixed process does not ask the group

    def start(self, assigned: Assigned, revoked: Revoked) -> None:
        partitions = _partitions(self.consumer, self.topic)
        chosen = partitions if self.only is None else sorted(self.only)
        if unknown := set(chosen) - set(partitions):
            raise LabError(f"Topic {self.topic!r} has no partition {sorted(unknown)}.",
                           f"pick from 0..{len(partitions) - 1}.")
        starts = _starts(self.consumer, self.topic, chosen, from_beginning=self.from_beginning)
        self.ends = {p: self.consumer.get_watermark_offsets(
            TopicPartition(self.topic, p), timeout=10)[1] for p in chosen}
        starts = assigned(starts)
        self.starts, self.owned = starts, set(chosen)
        self.consumer.assign([TopicPartition(self.topic, p, start)
                              for p, start in starts.items()])

    def close(self) -> None:
        self.consumer.close()

    def remaining(self, done: dict[int, int]) -> int:
        """Messages between where this process is and the end offsets seen at start."""
        return sum(max(0, end - done.get(p, end)) for p, end in self.ends.items())

    def backlog(self) -> int:
        """Messages this process has to process (for a progress bar)."""
        return sum(self.ends[p] - start for p, start in self.starts.items())

    def finished(self, done: dict[int, int]) -> bool:
        return self.remaining(done) == 0


class Group:
    """Partitions from the group protocol; the callbacks follow every rebalance.

    With `members`, the process holds back (its partitions paused) until the
    group has that many members, each with its share: a benchmark of N
    processes then measures N processes, not the first one to start alone.
    """

    def __init__(self, consumer: Consumer, topic: str, group: str, *, from_beginning: bool,
                 members: int | None = None) -> None:
        self.consumer, self.topic, self.group = consumer, topic, group
        self.from_beginning, self.members = from_beginning, members
        self.owned: set[int] = set()
        self.ends: dict[int, int] = {}
        self.all_committed = False  # the group said so: nothing is left to commit
        self._next_check = 0.0
        self._held = members is not None
        self._leaving = False

    def start(self, assigned: Assigned, revoked: Revoked) -> None:
        partitions = _partitions(self.consumer, self.topic)
        self.ends = {p: self.consumer.get_watermark_offsets(
            TopicPartition(self.topic, p), timeout=10)[1] for p in partitions}

        def on_assign(consumer: Consumer, tps: list[TopicPartition]) -> None:
            if self._leaving:  # the last rebalance, served by close(): nothing to process
                return
            new = [tp.partition for tp in tps]
            starts = _starts(consumer, self.topic, new, from_beginning=self.from_beginning)
            starts = assigned(starts)  # before any of their messages: rebuild their windows
            self.owned |= set(new)
            chosen = [TopicPartition(self.topic, p, start) for p, start in starts.items()]
            consumer.incremental_assign(chosen)
            # Say which, every time: librdkafka keeps a partition's pause across a revoke
            # and a later assign, so a partition paused while the group was forming and
            # given back after a member died would otherwise stay paused for good.
            if self._held:
                consumer.pause(chosen)
            else:
                consumer.resume(chosen)

        def on_revoke(consumer: Consumer, tps: list[TopicPartition]) -> None:
            if self._leaving:  # the run committed what it processed before leaving
                return
            gone = [tp.partition for tp in tps]
            revoked(gone, False)  # commit what was processed, while they are still ours
            self.owned -= set(gone)

        def on_lost(consumer: Consumer, tps: list[TopicPartition]) -> None:
            if self._leaving:
                return
            # Another member may own them already: committing now could move its offsets
            # backwards. Forget them; whatever was not committed is re-read by the new owner.
            gone = [tp.partition for tp in tps]
            revoked(gone, True)
            self.owned -= set(gone)

        self.consumer.subscribe([self.topic], on_assign=on_assign, on_revoke=on_revoke,
                                on_lost=on_lost)
        if self._held:
            self._wait_for_members()

    def _wait_for_members(self, timeout_s: float = 60.0) -> None:
        """Serve rebalances until the group is stable with `members` members, then resume."""
        until(partial(self._formed, clients.admin()), timeout_s=timeout_s, interval_s=0,
              what=f"group {self.group!r} reached {self.members} members",
              fix="check that every process was started with the same --group (and "
                  "`labkit stack status`).")
        self._held = False
        self.consumer.resume([TopicPartition(self.topic, p) for p in self.owned])

    def _formed(self, admin: AdminClient) -> bool:
        """Is the group stable, its partitions shared by `members` members? Serves the
        rebalances that get it there (its partitions are paused: only rebalances happen)."""
        self.consumer.consume(1, timeout=0.2)
        group = admin.describe_consumer_groups([self.group])[self.group].result(timeout=10)
        shares = [len(member.assignment.topic_partitions) for member in group.members]
        sharing = sum(1 for share in shares if share)
        return (group.state == ConsumerGroupState.STABLE
                and sharing >= min(self.members, len(self.ends)))

    def close(self) -> None:
        """Leave the group (its partitions move at once), ignoring the rebalance that leaving
        may still deliver: the run committed what it processed before."""
        self._leaving = True
        self.consumer.close()

    def remaining(self, done: dict[int, int]) -> int:
        """Messages of the partitions this member owns, up to the end offsets seen at start."""
        return sum(max(0, self.ends[p] - done.get(p, self.ends[p])) for p in self.owned)

    def backlog(self) -> int:
        """Messages the whole group has to process (for a progress bar: a member alone
        processes them all)."""
        starts = _starts(self.consumer, self.topic, list(self.ends),
                         from_beginning=self.from_beginning)
        return sum(max(0, end - starts[p]) for p, end in self.ends.items())

    def finished(self, done: dict[int, int]) -> bool:
        """True once the group has committed every partition to the end offsets seen at start.

        Asked only when this member has nothing left of its own, and then at most
        every `GROUP_CHECK_S`: the answer is a request to the group coordinator.
        """
        if self.remaining(done) or time.monotonic() < self._next_check:
            return False
        self._next_check = time.monotonic() + GROUP_CHECK_S
        starts = _starts(self.consumer, self.topic, list(self.ends),
                         from_beginning=self.from_beginning)
        self.all_committed = all(starts[p] >= end for p, end in self.ends.items())
        return self.all_committed
