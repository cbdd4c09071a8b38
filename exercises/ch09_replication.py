"""Chapter 09 exercises: durability settings, proved by a kill, and a failover predicted.

Grade them with `make check CH=09` (or `.venv/bin/labkit check 09` with the cluster
profile up: `labkit stack up --profile cluster`). Notebook 09 shows everything you
need: acks and min.insync.replicas in sections 2 and 3, leaders and the ISR in
section 1. The graders break the lab's real cluster: each answer is checked against
what Kafka did.
"""

from __future__ import annotations


def durable_settings() -> dict[str, dict[str, str]]:
    """Producer and topic settings under which no acknowledged write is ever lost when a
    partition's leader dies while its followers lag, and a retried write is never stored
    twice. The cluster has three brokers and replication factor 3.

    Return {"producer": {...librdkafka settings...}, "topic": {...topic configs...}},
    with string values as Kafka's tools take them, e.g.
    {"producer": {"acks": "1", "enable.idempotence": "false"},
     "topic": {"min.insync.replicas": "1"}} (that one loses writes).

    The grader creates a topic with your topic settings, writes with your producer
    settings while both followers are frozen, SIGKILLs the leader and counts the
    acknowledged writes nobody can read (`lk.replication.leader_kill`); then it checks
    that your settings would still hold if the ISR shrank to the leader alone.

    Hint: three settings decide it, one of them on the topic.
    """
    raise NotImplementedError("acks, idempotence, and the topic's minimum ISR")


def after_clean_stop(leader: int, replicas: tuple[int, ...], isr: tuple[int, ...],
                     stopped: int) -> tuple[int, tuple[int, ...]]:
    """The partition's (leader, ISR) once broker `stopped` has shut down cleanly (SIGTERM),
    given its leader, its replicas in assignment order and its ISR before.

    A broker that shuts down cleanly leaves every ISR at once. If it led the partition,
    the controller hands leadership to the first replica in assignment order that is
    still in the ISR (the order `replicas` lists them in, not the lowest id). Return the
    ISR sorted by broker id.

    Example: after_clean_stop(2, (2, 3, 1), (1, 2, 3), stopped=1) == (2, (2, 3)).

    Hint: the grader stops a leader and a follower of a real partition and compares.
    """
    raise NotImplementedError("remove `stopped` from the ISR; if it led, walk `replicas`")
