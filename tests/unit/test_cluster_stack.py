"""Chapter 09's cluster as configuration: its nodes, their ports and settings, and the
Kafka tools' command lines. No server runs here."""

from __future__ import annotations

import pytest

from labkit.errors import LabError
from labkit.settings import Settings
from labkit.stack.cluster import CLUSTER_DEFAULTS, ELECTIONS, LIVENESS, Cluster, nodes
from labkit.stack.kafka_tools import TOOLS, tool_argv


def test_three_controllers_then_three_brokers_on_the_ports_of_lab_cluster():
    every = nodes(Settings())
    assert [(n.role, n.node_id, n.port) for n in every] == [
        ("controller", 101, 9193), ("controller", 102, 9293), ("controller", 103, 9393),
        ("broker", 1, 9192), ("broker", 2, 9292), ("broker", 3, 9392)]
    assert len({port for n in every for port in n.ports()}) == 9  # no port twice


def test_a_cluster_needs_exactly_three_brokers():
    with pytest.raises(LabError, match="LAB_CLUSTER lists 2 broker"):
        nodes(Settings(cluster="127.0.0.1:9192,127.0.0.1:9292"))


def test_controllers_get_the_topic_defaults_and_the_session_timeout(tmp_path):
    settings = Settings(home=tmp_path)
    every = nodes(settings)
    voters = "101@127.0.0.1:9193"
    for node in every:
        config = Cluster()._config(settings, node, voters)
        for key, value in {**CLUSTER_DEFAULTS, **LIVENESS}.items():
            assert config[key] == value, (node.name, key)
        assert config["process.roles"] == node.role
    controller = Cluster()._config(settings, every[0], voters)
    assert controller["unclean.leader.election.interval.ms"] == ELECTIONS[
        "unclean.leader.election.interval.ms"]
    assert "advertised.listeners" not in controller


def test_a_broker_advertises_its_proxied_listener_one_port_above_where_it_binds(tmp_path):
    settings = Settings(home=tmp_path)
    broker = nodes(settings)[3]
    config = Cluster()._config(settings, broker, "")
    assert "PROXIED://127.0.0.1:9194" in config["listeners"]
    assert "PROXIED://127.0.0.1:9195" in config["advertised.listeners"]
    assert config["listeners"].startswith("PLAINTEXT://127.0.0.1:9192")


def test_a_kafka_tool_dials_lab_kafka_unless_told_otherwise():
    settings = Settings(kafka="127.0.0.1:9092")
    argv = tool_argv(settings, "topics", ["--describe"])
    assert argv[argv.index(TOOLS["topics"]):] == [
        TOOLS["topics"], "--bootstrap-server", "127.0.0.1:9092", "--describe"]
    told = tool_argv(settings, "topics", ["--bootstrap-server", "127.0.0.1:9192", "--list"])
    assert told.count("--bootstrap-server") == 1 and "127.0.0.1:9092" not in told


def test_an_unknown_kafka_tool_names_the_ones_there_are():
    with pytest.raises(LabError, match="pick one of: topics, consumer-groups"):
        tool_argv(Settings(), "zookeeper-shell", [])


def test_a_malformed_lab_cluster_is_reported_by_name():
    with pytest.raises(LabError, match="LAB_CLUSTER"):
        Settings(cluster="127.0.0.1:notaport,127.0.0.1:9292,127.0.0.1:9392")


def test_the_clusters_brokers_stop_before_its_controllers_and_before_the_core():
    from labkit.stack import _start_rank

    names = ["cluster-controller-101", "kafka", "cluster-broker-1", "redis", "cluster-broker-2"]
    order = sorted(names, key=_start_rank, reverse=True)
    assert order.index("cluster-controller-101") > max(order.index("cluster-broker-1"),
                                                       order.index("cluster-broker-2"))
    assert order[-2:] == ["kafka", "redis"]
