"""Chapter 09's Kafka cluster: three brokers and a three-voter KRaft controller quorum.

Six local processes (`cluster-controller-101..103`, `cluster-broker-1..3`), beside the
lab's single broker, which chapters 00-08 keep using. Broker N answers on port 9N92 of
`LAB_CLUSTER` (9192, 9292, 9392); its controller on 9N93.

Dedicated controllers rather than three combined nodes: the chapter kills brokers, up to
two at a time and the whole replica set of a partition for unclean election, and each
of those must leave the metadata quorum standing (2 of 3 voters), as in production,
where Kafka advises against combined nodes. A controller needs only a small heap.

Each broker also has a `PROXIED` listener bound at port 9N94 and advertised as 9N95:
a client that bootstraps at 9N95 is told every broker lives at its 9N95 address, so a
TCP proxy there (`labkit.ack_loss`) sees all its traffic and can lose a response.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..errors import StackError
from ..settings import VERSIONS, Settings
from . import process
from .jvm import java_bin
from .kafka import format_storage, kafka_launch, new_cluster_id, probe_brokers, write_properties
from .process import Launch
from .service import Health, Service, port_open

__all__ = ["BROKER_IDS", "CLUSTER_DEFAULTS", "Cluster", "Node", "nodes"]

BROKER_IDS = (1, 2, 3)

# What every topic and internal topic gets unless it says otherwise: three copies, and a
# write with acks=all needs two of them in sync before it is acknowledged.
CLUSTER_DEFAULTS = {
    "default.replication.factor": "3",
    "min.insync.replicas": "2",
    "offsets.topic.replication.factor": "3",
    "transaction.state.log.replication.factor": "3",
    "transaction.state.log.min.isr": "2",
    "share.coordinator.state.topic.replication.factor": "3",
    "share.coordinator.state.topic.min.isr": "2",
    # Off is Kafka's default; stated because chapter 09 turns it on for one topic.
    "unclean.leader.election.enable": "false",
}

# How fast the controller notices a broker that died without a word (SIGKILL, power
# loss): a broker that sent no heartbeat for the session timeout is fenced, and its
# partitions get new leaders. Kafka's defaults (2 s, 9 s) would make every failover in
# the chapter wait 9 s; these keep it near 4 s, and the chapter measures it.
LIVENESS = {
    "broker.heartbeat.interval.ms": "500",
    "broker.session.timeout.ms": "4000",
}


# The controllers look for partitions that need an unclean election (only those of topics
# that allow one) every 5 minutes by default; chapter 09 turns it on for a topic whose
# leader is gone and should not wait that long.
ELECTIONS = {"unclean.leader.election.interval.ms": "1000"}


@dataclass(frozen=True)
class Node:
    """One process of the cluster: a broker (id 1-3) or a controller (id 101-103)."""

    node_id: int
    role: str  # "broker" or "controller"
    host: str
    port: int  # the broker's client port, or the controller's quorum port

    @property
    def name(self) -> str:
        return f"cluster-{self.role}-{self.node_id}"

    @property
    def proxied_port(self) -> int:
        """Where the broker's PROXIED listener binds (a proxy listens one port above)."""
        return self.port + 2

    def ports(self) -> list[int]:
        return [self.port, self.proxied_port] if self.role == "broker" else [self.port]


def nodes(settings: Settings) -> list[Node]:
    """The controllers (in start order first) and the brokers of `settings.cluster`."""
    addresses = settings.cluster.split(",")
    if len(addresses) != len(BROKER_IDS):
        raise StackError(f"LAB_CLUSTER lists {len(addresses)} broker(s): {settings.cluster!r}.",
                         "list the lab cluster's three brokers, e.g. "
                         "127.0.0.1:9192,127.0.0.1:9292,127.0.0.1:9392.")
    brokers = []
    for broker_id, address in zip(BROKER_IDS, addresses, strict=True):
        host, _, port = address.strip().rpartition(":")
        brokers.append(Node(broker_id, "broker", host, int(port)))
    controllers = [Node(100 + b.node_id, "controller", b.host, b.port + 1) for b in brokers]
    return controllers + brokers


class Cluster(Service):
    name = "cluster"
    title = "Kafka cluster"
    needs_jvm = True
    start_timeout_s = 90.0

    def _down(self, settings: Settings) -> list[Node]:
        """The nodes labkit is not running now: a whole cluster, or one a chapter stopped."""
        return [node for node in nodes(settings)
                if process.running_pid(node.name, settings.run_dir) is None]

    def ports(self, settings: Settings) -> list[int]:
        return [port for node in nodes(settings) for port in node.ports()]

    def ports_to_start(self, settings: Settings) -> list[int]:
        return [port for node in self._down(settings) for port in node.ports()]

    def probe(self, settings: Settings) -> Health:
        if not any(port_open(n.host, n.port) for n in nodes(settings) if n.role == "broker"):
            return Health(False, detail="no broker listening")
        found = probe_brokers(settings.cluster)
        if isinstance(found, Exception):
            return Health(False, detail=f"no broker answered ({found})")
        cluster_id, brokers = found
        detail = f"cluster {cluster_id}, {brokers} of {len(BROKER_IDS)} brokers"
        return Health(brokers == len(BROKER_IDS), VERSIONS["kafka"], detail)

    def require(self, settings: Settings) -> None:
        java_bin()

    def _folder(self, settings: Settings) -> Path:
        return settings.data_dir / "cluster"

    def _config_file(self, settings: Settings, node: Node) -> Path:
        return self._folder(settings) / f"{node.name}.properties"

    def _config(self, settings: Settings, node: Node, voters: str) -> dict[str, str]:
        common = {
            "node.id": str(node.node_id),
            "process.roles": node.role,
            "controller.quorum.voters": voters,
            "controller.listener.names": "CONTROLLER",
            "log.dirs": str(self._folder(settings) / node.name),
        }
        if node.role == "controller":
            # Controllers create the topics in KRaft, with *their* defaults, and write
            # min.insync.replicas into the metadata as the cluster's when it is formed.
            # The session timeout is theirs to enforce, so LIVENESS goes here too.
            return {**common, "listeners": f"CONTROLLER://{node.host}:{node.port}",
                    "listener.security.protocol.map": "CONTROLLER:PLAINTEXT",
                    **CLUSTER_DEFAULTS, **LIVENESS, **ELECTIONS}
        plain = f"PLAINTEXT://{node.host}:{node.port}"
        return {
            **common,
            "listeners": f"{plain},PROXIED://{node.host}:{node.proxied_port}",
            "advertised.listeners": f"{plain},PROXIED://{node.host}:{node.proxied_port + 1}",
            "listener.security.protocol.map":
                "PLAINTEXT:PLAINTEXT,PROXIED:PLAINTEXT,CONTROLLER:PLAINTEXT",
            "inter.broker.listener.name": "PLAINTEXT",
            **CLUSTER_DEFAULTS,
            **LIVENESS,
            "group.initial.rebalance.delay.ms": "0",
            "num.partitions": "1",
        }

    def prepare(self, settings: Settings) -> None:
        folder = self._folder(settings)
        id_file = folder / "cluster.id"
        if not id_file.exists():
            folder.mkdir(parents=True, exist_ok=True)
            id_file.write_text(new_cluster_id())
        cluster_id = id_file.read_text().strip()
        every = nodes(settings)
        voters = ",".join(f"{n.node_id}@{n.host}:{n.port}" for n in every
                          if n.role == "controller")
        for node in every:
            config_file = self._config_file(settings, node)
            write_properties(config_file, self._config(settings, node, voters))
            if not (folder / node.name / "meta.properties").exists():
                format_storage(settings, config_file, cluster_id)

    def launches(self, settings: Settings) -> list[Launch]:
        # Only the nodes that are down: `stack up` after a chapter stopped one broker
        # starts that broker again and leaves the others running.
        return [kafka_launch(settings, node.name, self._config_file(settings, node),
                             heap="512m" if node.role == "broker" else "256m")
                for node in self._down(settings)]
