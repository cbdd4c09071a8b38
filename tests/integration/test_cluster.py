"""Chapter 09's cluster, broken for real: what acks and min.insync.replicas keep.

Each test starts from a fresh one-partition topic with three replicas and puts
every broker back (and waits for a full ISR) before it ends, so the tests do not
depend on one another's order.
"""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

import labkit as lk
from labkit.cli import app
from labkit.errors import LabError

pytestmark = [pytest.mark.integration, pytest.mark.cluster]


def test_acks_1_loses_acknowledged_writes_when_the_leader_dies_and_acks_all_does_not():
    hasty = lk.replication.leader_kill("1")
    assert hasty.acknowledged == hasty.sent  # the leader alone acknowledged every write
    assert hasty.lost > 0  # ...and the followers it was ahead of never had them
    assert hasty.new_leader != hasty.old_leader
    durable = lk.replication.leader_kill("all")
    assert durable.acknowledged == durable.sent
    assert durable.lost == 0
    assert durable.readable == durable.acknowledged


def test_min_insync_replicas_refuses_acks_all_and_holds_back_acks_1():
    refusal = lk.replication.refused_writes(records=50)
    assert len(refusal.isr) == 1
    assert refusal.acks_all_error == "NOT_ENOUGH_REPLICAS"
    assert refusal.acks_one_acknowledged == 50
    # Accepted by the leader alone, but not readable: the high watermark stays put
    # while the ISR is below min.insync.replicas, and moves once the followers are back.
    assert refusal.high_watermark_during == refusal.high_watermark_before == 0
    assert refusal.high_watermark_after == 51


def test_a_broker_killed_by_id_leaves_the_cluster_and_comes_back():
    with lk.cluster.as_lab_kafka():
        topic = lk.topics.fresh_topic("it-cluster-isr")
    lk.cluster.kill_broker(2)
    # Fenced after the session timeout: out of every ISR it was in.
    assert 2 not in lk.cluster.wait_for_isr(topic, 2)
    assert not lk.cluster.brokers().loc[2, "registered"]
    assert lk.cluster.start_brokers() == ["cluster-broker-2"]
    assert 2 in lk.cluster.wait_for_isr(topic, 3)
    assert lk.cluster.brokers()["registered"].all()


def test_an_unknown_broker_id_is_refused_with_the_ids_there_are():
    with pytest.raises(LabError, match="pick one of 1, 2, 3"):
        lk.cluster.kill_broker(4)


def test_kafka_topics_describe_runs_the_real_tool_and_agrees_with_the_python_api():
    with lk.cluster.as_lab_kafka():
        topic = lk.topics.fresh_topic("it-cluster-tool")
    shown = CliRunner().invoke(app, ["kafka", "topics", "--describe", "--topic", topic,
                                     "--bootstrap-server", lk.cluster.bootstrap()])
    assert shown.exit_code == 0, shown.output
    placement = lk.cluster.placement(topic)
    line = next(row for row in lk.cluster.tool("topics", "--describe", "--topic", topic)
                .splitlines() if "Partition: 0" in row)
    assert f"Leader: {placement.leader}" in line
    assert "Isr: " + ",".join(map(str, placement.isr)) in line


@pytest.mark.parametrize("min_insync", [1, 2])
def test_when_the_last_in_sync_replica_dies_only_min_insync_2_keeps_what_was_read(min_insync):
    run = lk.replication.last_replica_dies(min_insync, before=200, during=200)
    assert run.acknowledged == 200
    if min_insync == 1:
        # The leader committed alone; the follower that returns is not in the ISR, so
        # only an unclean election brings the partition back, erasing what was read.
        assert not run.elected_cleanly
        assert run.readable_then == run.lost == run.lost_after_read == 200
    else:
        # ELR kept the follower that left last eligible: a clean election. The leader's
        # lone acks=1 writes are lost, but none had ever been readable.
        assert run.elected_cleanly
        assert "Elr: " in run.steps[1][1] and run.readable_then == 0
        assert run.lost_after_read == 0
