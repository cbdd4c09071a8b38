"""Chapter 09's experiments: what three copies of a partition keep, and what they lose.

Each experiment writes to a fresh one-partition topic on the lab's cluster, breaks
one thing on purpose (a broker killed, stopped or frozen, by the PID labkit started
it with) and counts from what the producer and a consumer were told:

- `leader_kill`: acknowledged writes that no consumer can ever read after the leader
  dies, with `acks=1` and with `acks=all` (min.insync.replicas 2). The followers are
  frozen for the writes first, so they are behind when the leader dies: the case
  `acks` exists for, staged the same way for both settings.
- `refused_writes`: two followers down, the partition's ISR below min.insync.replicas:
  what an `acks=all` write and an `acks=1` write get, and the high watermark.
- `last_replica_dies`: the leader, alone in the ISR, dies; may a returning follower
  lead, and what does an unclean election erase (min.insync.replicas 1, and 2 with
  Kafka 4.1's eligible leader replicas)?
- `write_stall`: how long a steady writer waits for a new leader after a broker dies
  (SIGKILL) or leaves cleanly (SIGTERM).
- `engine_through_leader_kill`: the lab's simple engine on the cluster through a
  leader kill, compared with an uninterrupted run.

Every producer here is configured in full where it is made, so what each number
depends on is in one place.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from confluent_kafka import KafkaError, Producer

from . import cluster, engines, faults, generate, parity, topics
from .clients import kafka_config, quiet
from .parity import Outcome
from .polling import until
from .runs import Outputs

__all__ = [
    "EngineFailover",
    "LastReplica",
    "LeaderKill",
    "Refusal",
    "Stall",
    "engine_through_leader_kill",
    "last_replica_dies",
    "leader_kill",
    "refused_writes",
    "write_stall",
]


FETCH_WAIT_S = 1.0  # twice Kafka's replica.fetch.wait.max.ms


class _Acks:
    """Which values the brokers acknowledged, when, and the errors of the others."""

    def __init__(self) -> None:
        self.acked: dict[int, float] = {}  # value -> monotonic time of the acknowledgement
        self.errors: dict[int, str] = {}  # value -> the error's name
        self._lock = threading.Lock()

    def __call__(self, err: KafkaError | None, msg) -> None:
        value = int(msg.value())
        with self._lock:
            if err is None:
                self.acked[value] = time.monotonic()
            else:
                self.errors[value] = err.name()


def _producer(acks: str, **settings: object) -> Producer:
    """A producer to the cluster with `acks` (idempotent only with acks=all, which
    librdkafka requires for it)."""
    return Producer(kafka_config(**{"bootstrap.servers": cluster.bootstrap(), "acks": acks,
                                    "enable.idempotence": acks == "all", "linger.ms": 5,
                                    **settings}))


def _send(producer: Producer, topic: str, values: range, on_delivery: _Acks) -> None:
    for value in values:
        producer.produce(topic, str(value).encode(), on_delivery=on_delivery)
        producer.poll(0)


def _readable(topic: str) -> set[int]:
    """Every value a consumer of `topic` can read now (up to the high watermark)."""
    with cluster.as_lab_kafka():
        return {int(record.value) for record in topics.read_all(topic)}


def _fresh_topic(prefix: str, config: dict[str, str] | None = None) -> str:
    """A new one-partition topic on the cluster (three replicas, the cluster's default)."""
    with cluster.as_lab_kafka():
        return topics.fresh_topic(prefix, config=config)


def _heal(topic: str) -> None:
    """Start every broker that is down, and wait until the partition has all three in sync."""
    cluster.start_brokers()
    cluster.wait_for_isr(topic, 3)


@dataclass(frozen=True)
class LeaderKill:
    """One `leader_kill` run, counted from the producer's acknowledgements and a
    consumer's read after the failover."""

    acks: str
    topic: str
    sent: int
    followers_had: int  # each follower's log when it was frozen (all it had at the kill)
    acknowledged_by_old_leader: int  # before it died
    acknowledged: int  # in the end (writes in flight at the kill are retried on the new one)
    readable: int
    lost: int  # acknowledged, and not readable by any consumer after the failover
    old_leader: int
    new_leader: int


def leader_kill(acks: str = "1", *, before: int = 2_000, during: int = 2_000,
                producer_settings: dict[str, str] | None = None,
                topic_config: dict[str, str] | None = None) -> LeaderKill:
    """Write `before` records, then `during` more while both followers are frozen, SIGKILL
    the leader, let the followers go, and count what was acknowledged and what is left.

    The freeze is shorter than the controllers' session timeout, so the followers stay
    in the ISR and one of them is elected: a clean election, of a replica that is behind.
    `producer_settings` (librdkafka's, `acks` among them) and `topic_config` replace the
    defaults: a grader runs a learner's choice through the same kill.
    """
    settings = {"acks": acks, **(producer_settings or {})}
    acks = str(settings["acks"])
    topic = _fresh_topic(f"c09-acks{acks.replace('-', 'minus')}", topic_config)
    old = cluster.placement(topic)
    followers = [broker for broker in old.replicas if broker != old.leader]
    acks_seen = _Acks()
    with quiet():
        producer = _producer(**settings)
        _send(producer, topic, range(before), acks_seen)
        producer.flush(30)
        # Both followers hold all of `before` once the high watermark reaches it: from here
        # on, what they lack is exactly what is written while they are frozen.
        until(lambda: _high_watermark(topic) == before, timeout_s=30,
              what=f"the followers of {topic} to catch up")
        with cluster.paused(*followers):
            # A follower's fetch waits at the leader for new data (up to
            # replica.fetch.wait.max.ms, 500 ms): one sent just before the freeze would
            # still carry the next writes into the frozen follower's socket, to be appended
            # when it wakes. Let those fetches expire first.
            time.sleep(FETCH_WAIT_S)
            _send(producer, topic, range(before, before + during), acks_seen)
            # acks=1: the leader alone acknowledges them now. acks=all: nothing comes back
            # while the followers cannot fetch; the writes stay in flight. Either way the
            # freeze stays well inside the controllers' 4 s session timeout.
            producer.flush(2.0 if acks in ("0", "1") else 1.0)
            acked_at_kill = len(acks_seen.acked)
            cluster.kill_broker(old.leader)
        new_leader = cluster.wait_for_leader(topic, other_than=old.leader)
        producer.flush(60)  # in-flight writes retried on the new leader
        _heal(topic)
        readable = _readable(topic)
    acked = set(acks_seen.acked)
    return LeaderKill(acks, topic, before + during, before, acked_at_kill, len(acked),
                      len(acked & readable), len(acked - readable), old.leader, new_leader)


@dataclass(frozen=True)
class Refusal:
    """What writes got while two of the three replicas were down."""

    topic: str
    isr: tuple[int, ...]  # the partition's ISR with two brokers down
    acks_all_error: str  # the broker's answer to an acks=all write, retries off
    acks_one_acknowledged: int  # acks=1 writes the leader acknowledged meanwhile
    high_watermark_before: int
    high_watermark_during: int  # after those acks=1 writes
    high_watermark_after: int  # once the followers are back
    refused_s: float  # from the first refused acks=all write to the first accepted one


def refused_writes(*, records: int = 100) -> Refusal:
    """Kill both followers of a fresh partition and write to it: acks=all is refused
    (min.insync.replicas is 2), acks=1 is accepted but not readable, until they return."""
    topic = _fresh_topic("c09-minisr")
    old = cluster.placement(topic)
    with quiet():
        high_before = _high_watermark(topic)
        for follower in old.replicas:
            if follower != old.leader:
                cluster.kill_broker(follower)
        isr = cluster.wait_for_isr(topic, 1)
        # One attempt, so the delivery report carries the broker's own answer (an
        # idempotent producer must be allowed to retry, so this one is not idempotent).
        durable = _producer("all", retries=0, **{"enable.idempotence": False})
        durable_acks = _Acks()
        _send(durable, topic, range(1), durable_acks)
        durable.flush(30)
        refused_at = time.monotonic()
        hasty = _producer("1")
        hasty_acks = _Acks()
        _send(hasty, topic, range(1, records + 1), hasty_acks)
        hasty.flush(30)
        high_during = _high_watermark(topic)
        cluster.start_brokers()
        while not durable_acks.acked:  # retry until the followers are back in the ISR
            _send(durable, topic, range(1), durable_acks)
            durable.flush(30)
            time.sleep(0.05)
        cluster.wait_for_isr(topic, 3)
        high_after = _high_watermark(topic)
    return Refusal(topic, isr, durable_acks.errors.get(0, "none"), len(hasty_acks.acked),
                   high_before, high_during, high_after, durable_acks.acked[0] - refused_at)


def _high_watermark(topic: str) -> int:
    """The partition's high watermark: the end of what consumers may read."""
    with cluster.as_lab_kafka():
        return topics.end_offsets(topic, committed_only=False)[0]


@dataclass(frozen=True)
class Stall:
    """One failover, timed from the fault on the partition's leader."""

    fault: str  # the function that broke the leader, e.g. "kill_broker"
    elected_s: float  # until the cluster reported a new leader
    stalled_s: float  # the longest time the writer got no acknowledgement at all


def write_stall(fault: Callable[[int], float], *, rate_per_s: float = 200.0,
                after_s: float = 15.0) -> Stall:
    """Hit the leader of a fresh partition with `fault` (`cluster.kill_broker` or
    `cluster.stop_broker`) while a steady acks=all writer runs, and time the failover:
    when the cluster named a new leader, and the writer's longest wait for an
    acknowledgement. The broker is started again afterwards."""
    topic = _fresh_topic("c09-failover")
    leader = cluster.placement(topic).leader
    acks = _Acks()
    elected: list[float] = []
    with quiet():
        producer = _producer("all")
        _send(producer, topic, range(100), acks)
        producer.flush(30)
        watcher = threading.Thread(target=lambda: elected.append(
            cluster.wait_for_leader(topic, other_than=leader) and time.monotonic()))
        hit_at = fault(leader)
        watcher.start()
        sent, started = 100, time.monotonic()
        while time.monotonic() < hit_at + after_s:
            _send(producer, topic, range(sent, sent + 1), acks)
            sent += 1
            time.sleep(max(0.0, started + (sent - 100) / rate_per_s - time.monotonic()))
        producer.flush(60)
        watcher.join()
        _heal(topic)
    times = sorted(acks.acked.values())
    stalled = max(later - earlier for earlier, later in itertools.pairwise(times))
    return Stall(fault.__name__, elected[0] - hit_at, stalled)


def _describe_line(topic: str) -> str:
    """Partition 0 as `kafka-topics --describe` shows it (Leader, Replicas, Isr, Elr)."""
    shown = cluster.tool("topics", "--describe", "--topic", topic)
    line = next(row for row in shown.splitlines() if "Partition: 0" in row)
    return line.split("Partition: 0", 1)[1].strip()


@dataclass(frozen=True)
class LastReplica:
    """One `last_replica_dies` run: its steps as kafka-topics showed the partition, and
    what the election that ended the outage cost."""

    min_insync: int
    topic: str
    steps: list[tuple[str, str]]  # (what just happened, the partition's describe line)
    acknowledged: int  # writes acknowledged while the leader was the only replica in sync
    readable_then: int  # of those, how many consumers could read before the leader died
    elected_cleanly: bool  # did the returning follower lead without an unclean election?
    lost: int  # acknowledged writes gone after the election
    lost_after_read: int  # of those, how many consumers could already have read


def last_replica_dies(min_insync: int, *, before: int = 500, during: int = 500,
                      wait_s: float = 8.0) -> LastReplica:
    """Both followers leave (cleanly, one after the other), the leader takes `during`
    acks=1 writes alone, then dies (SIGKILL). The follower that left last comes back:
    may it lead? If the partition stays offline for `wait_s`, unclean leader election is
    turned on for the topic, as an operator in a hurry would.

    With min.insync.replicas 1 the leader alone is the ISR and commits alone, so only an
    unclean election brings the partition back, and it erases writes consumers had read.
    With 2, Kafka 4.1's eligible leader replicas (KIP-966) keep the follower that left
    last eligible, and nothing committed is lost."""
    topic = _fresh_topic(f"c09-minisr{min_insync}",
                         config={"min.insync.replicas": str(min_insync)})
    leader = cluster.placement(topic).leader
    first, last = [broker for broker in cluster.placement(topic).replicas if broker != leader]
    steps = [("three replicas in sync", _describe_line(topic))]
    acks = _Acks()
    with quiet():
        producer = _producer("1")
        _send(producer, topic, range(before), acks)
        producer.flush(30)
        for follower in (first, last):
            cluster.stop_broker(follower)
        cluster.wait_for_isr(topic, 1)
        steps.append((f"followers {first} and {last} stopped", _describe_line(topic)))
        _send(producer, topic, range(before, before + during), acks)
        producer.flush(30)
        readable_then = _high_watermark(topic) - before
        cluster.kill_broker(leader)  # now no broker runs: nothing to describe
        cluster.start_broker(last)
        elected = _leader_within(topic, wait_s, dead=leader)
        steps.append((f"leader {leader} killed, follower {last} back",
                      _describe_line(topic)))
        if not elected:
            cluster.tool("configs", "--alter", "--entity-type", "topics", "--entity-name", topic,
                         "--add-config", "unclean.leader.election.enable=true")
            cluster.wait_for_leader(topic, other_than=leader)
            steps.append(("unclean election allowed", _describe_line(topic)))
        _heal(topic)
        readable = _readable(topic)
    written_alone = {value for value in acks.acked if value >= before}
    lost = written_alone - readable
    return LastReplica(min_insync, topic, steps, len(written_alone), readable_then, elected,
                       len(lost), len({value for value in lost if value < before + readable_then}))


def _leader_within(topic: str, wait_s: float, *, dead: int) -> bool:
    """Does the partition get a leader within `wait_s`? Not the `dead` broker: a broker
    that has just started may still answer from metadata older than its death."""
    deadline = time.monotonic() + wait_s
    while time.monotonic() < deadline:
        if cluster.placement(topic).leader not in (None, dead):
            return True
        time.sleep(0.25)
    return False


@dataclass(frozen=True)
class EngineFailover:
    """The simple engine's run through a leader kill, beside an uninterrupted run."""

    topic: str
    killed: int  # the broker that led input partition 0 when it died
    exit_code: int
    outcome: Outcome


def engine_through_leader_kill(*, events: int = 20_000) -> EngineFailover:
    """The lab's simple engine on the cluster, stopped a quarter of the way in (its
    `pause_after` point), the leader of its input's partition 0 killed, and resumed while
    that partition fails over. Compared with an uninterrupted run over the same topic."""
    with cluster.as_lab_kafka():
        topic = topics.fresh_topic("c09-payments", partitions=2)
        generate.produce(topic, events, fmt="confluent", n_cards=200)
        engines.run("simple", topic, tag=".whole")
        engine = faults.start_engine(topic, tag=".failover", pause_after=events // 4)
        faults.paused(engine)
        killed = cluster.placement(topic).leader
        cluster.kill_broker(killed)
        faults.resume(engine)
        exit_code = engine.wait(timeout=300)
        cluster.start_brokers()
        result = parity.outcome(Outputs(topic, ".failover"), Outputs(topic, ".whole"))
    return EngineFailover(topic, killed, exit_code, result)
