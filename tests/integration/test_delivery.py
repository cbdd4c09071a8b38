"""Delivery guarantees and consumer groups on the live stack (notebook 07's claims).

The exactly-once engine is SIGKILLed twice and resumed: a read_committed reader of its
feature log sees every valid input exactly once, and Redis ends where the
uninterrupted run's did. Two at-least-once processes share one group; one is
killed, the other takes over its partitions, and nothing is lost.
"""

from collections import Counter

import pytest

import labkit as lk
from labkit import faults, groups, serde, topics
from labkit.polling import until
from labkit.runs import Outputs

pytestmark = pytest.mark.integration


def _txn_ids(outputs: Outputs, *, committed_only: bool = True) -> Counter:
    records = topics.read_all(outputs.features, committed_only=committed_only)
    return Counter(row["txn_id"] for row in serde.decode_records(records,
                                                                 serde.ConfluentDecoder()))


def test_exactly_once_survives_two_sigkills(failure_topic, same_outcome):
    tag = ".eos-killed"
    run = Outputs(failure_topic, tag)
    engine = faults.start_engine(failure_topic, tag=tag, guarantee="exactly-once",
                                 pause_after=8_000)
    faults.paused(engine)  # mid-run, however fast the machine: most of the topic is left
    assert faults.kill(engine) == -9
    # The second crash is inside a transaction: its batch is written, not yet committed.
    engine = faults.start_engine(failure_topic, tag=tag, guarantee="exactly-once",
                                 crash_in_batch=2)
    assert engine.wait(timeout=120) == -9
    assert "crash point: batch 2" in engine.stdout.read()
    engine = faults.start_engine(failure_topic, tag=tag, guarantee="exactly-once")
    assert engine.wait(timeout=180) == 0, engine.stdout.read()

    once = _txn_ids(run)
    letters = lk.runs.read_dead_letters(run)
    assert max(once.values()) == 1, "a read_committed reader saw a record twice"
    assert len({letter.source for letter in letters}) == len(letters)
    assert len(once) == lk.topics.count(failure_topic) - len(letters)
    # The aborted transaction's records are in the log, visible to read_uncommitted only.
    everything = _txn_ids(run, committed_only=False)
    assert sum(everything.values()) > sum(once.values())
    assert set(everything) == set(once)
    same_outcome(failure_topic, tag)


def test_two_processes_share_the_group_and_a_survivor_takes_over():
    # The order that once stalled, forced: the first member alone is given (and, waiting
    # for its peer, pauses) both partitions; the second joins and takes one; it is killed,
    # and the partition comes back to the first, which must read it (librdkafka keeps a
    # partition's pause across a revoke and a later assign: membership resumes it).
    # Big enough that each process has seconds of work left when one is killed.
    topic = lk.topics.fresh_topic("it-group", partitions=2)
    lk.generate.produce(topic, 100_000, fmt="confluent", n_cards=500)
    tag = ".group-killed"
    run, group = Outputs(topic, tag), Outputs(topic, tag).group("simple")
    first = faults.start_engine(topic, tag=tag, instance="a", members=2)
    until(lambda: groups.members(group) == {"simple-a": [0, 1]}, timeout_s=60,
          what="the first member alone, holding both partitions", interval_s=0.1)
    second = faults.start_engine(topic, tag=tag, instance="b", members=2)
    until(lambda: sorted(map(len, groups.members(group).values())) == [1, 1],
          timeout_s=60, what="two members with a partition each", interval_s=0.1)
    faults.wait_for_progress(topic, group, 16_000, engine=second)
    assert faults.kill(second) == -9
    # The survivor ends once the group has processed every partition, its own and the
    # one it took over from the killed member; its reconciliation counts the batch the
    # killed member wrote and never committed twice (at-least-once), so no exit code check.
    first.wait(timeout=180)
    assert "input 100,000 =" in first.stdout.read()

    lk.engines.run("simple", topic, tag=".whole")
    # The same Redis, and the same set of feature records (txn_ids and every feature).
    result = lk.parity.outcome(run, Outputs(topic, ".whole"))
    assert result.same, str(result)
    assert all(entry.lag == 0 for entry in groups.lag(group, topic))
