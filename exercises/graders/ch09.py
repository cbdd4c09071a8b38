"""Graders for chapter 09: settings proved by a leader kill on the lab's cluster, and a
clean stop predicted, then done."""

from __future__ import annotations

from types import ModuleType

from confluent_kafka import KafkaException

import labkit as lk
from labkit.check import Wrong, grader

# The kill: fewer records than the notebook's, the same staging (lk.replication).
BEFORE = DURING = 500


def _settings(exercise: ModuleType) -> tuple[dict[str, str], dict[str, str]]:
    chosen = exercise.durable_settings()
    if not (isinstance(chosen, dict) and set(chosen) == {"producer", "topic"}
            and all(isinstance(part, dict) for part in chosen.values())):
        raise Wrong('settings as {"producer": {...}, "topic": {...}}', got=chosen)
    return ({key: str(value) for key, value in chosen["producer"].items()},
            {key: str(value) for key, value in chosen["topic"].items()})


@grader("durable_settings", hint="acks=all, enable.idempotence=true, and the topic's "
        "min.insync.replicas=2: acknowledged means two copies, and retries are recognised")
def grade_durable_settings(exercise: ModuleType) -> None:
    producer, topic = _settings(exercise)
    lk.cluster.require()
    try:
        run = lk.replication.leader_kill(before=BEFORE, during=DURING,
                                         producer_settings=producer, topic_config=topic)
    except KafkaException as exc:
        raise Wrong("producer settings librdkafka accepts", got=exc.args[0].str()) from None
    if run.lost:
        raise Wrong("no acknowledged writes lost when the leader died with its followers "
                    "behind", expected=0, got=f"{run.lost} lost (acks={run.acks})")
    min_isr = int(topic.get("min.insync.replicas", "2"))  # the cluster's default is 2
    if min_isr < 2:
        raise Wrong("a topic whose min.insync.replicas still means two copies when the ISR "
                    "shrinks to the leader alone (then acks=all is acks=1)",
                    expected=">= 2", got=min_isr)
    if producer.get("enable.idempotence", "false").lower() != "true":
        raise Wrong("a producer whose retried write is never stored twice "
                    "(enable.idempotence)", expected="true",
                    got=producer.get("enable.idempotence"))


# -- after_clean_stop: hand cases, then one real clean stop, three partitions ----------

HAND = {(2, (2, 3, 1), (1, 2, 3), 1): (2, (2, 3)),
        (2, (2, 3, 1), (1, 2, 3), 2): (3, (1, 3)),
        (3, (3, 1, 2), (1, 2, 3), 3): (1, (1, 2)),
        (1, (1, 2, 3), (1, 3), 1): (3, (3,))}


def _prediction(exercise: ModuleType, before: lk.cluster.Placement,
                stopped: int) -> tuple[int, tuple[int, ...]]:
    leader, isr = exercise.after_clean_stop(before.leader, before.replicas, before.isr,
                                            stopped)
    return leader, tuple(isr)


@grader("after_clean_stop", hint="drop `stopped` from the ISR; if it led, the new leader "
        "is the first of `replicas`, in their order, still in the ISR")
def grade_after_clean_stop(exercise: ModuleType) -> None:
    for (leader, replicas, isr, stopped), expected in HAND.items():
        got = exercise.after_clean_stop(leader, replicas, isr, stopped)
        if (got[0], tuple(got[1])) != expected:
            raise Wrong(f"leader and ISR of a partition led by {leader}, replicas {replicas}, "
                        f"ISR {isr}, after broker {stopped} stops", expected=expected, got=got)
    lk.cluster.require()
    with lk.cluster.as_lab_kafka():
        topic = lk.topics.fresh_topic("ex09-stop", partitions=3)
    before = lk.cluster.placements(topic)
    # Stop the leader of a partition whose next replica is not the lowest id: a rule that
    # picks the lowest id gets it wrong; the other partitions lose a follower.
    target = next((p for p in before if p.replicas[1] > p.replicas[2]), before[0])
    predicted = {p.partition: _prediction(exercise, p, target.leader) for p in before}
    lk.cluster.stop_broker(target.leader)
    try:
        lk.polling.until(lambda: all(target.leader not in p.isr and p.leader is not None
                                     for p in lk.cluster.placements(topic)),
                         timeout_s=60, what=f"broker {target.leader} out of every ISR")
        after = {p.partition: (p.leader, tuple(sorted(p.isr)))
                 for p in lk.cluster.placements(topic)}
    finally:
        lk.cluster.start_brokers()
    for partition, expected in after.items():
        if predicted[partition] != expected:
            raise Wrong(f"partition {partition} (replicas {before[partition].replicas}, "
                        f"leader {before[partition].leader}) after broker {target.leader} "
                        "stopped, as the cluster reported it",
                        expected=expected, got=predicted[partition])
