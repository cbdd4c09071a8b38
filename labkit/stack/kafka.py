"""Apache Kafka 4 in KRaft mode: one process that is both broker and controller.

The parts every Kafka node of the lab shares (its properties file, the one-time
storage format, the java command line, the health probe) live here too;
`cluster.py` builds chapter 09's three-broker cluster from them.
"""

from __future__ import annotations

import base64
import logging
import subprocess
import uuid
from importlib.resources import files
from pathlib import Path

from confluent_kafka.admin import AdminClient

from ..errors import StackError
from ..settings import VERSIONS, Settings
from .jvm import java_bin
from .process import Launch
from .service import Health, Service, port_open

__all__ = ["Kafka", "format_storage", "kafka_launch", "new_cluster_id", "probe_brokers",
           "write_properties"]

# librdkafka logs every refused connection; a probe of a stopped broker should be quiet.
_quiet = logging.getLogger("labkit.kafka.probe")
_quiet.addHandler(logging.NullHandler())
_quiet.propagate = False


def probe_brokers(bootstrap: str) -> tuple[str, int] | Exception:
    """(cluster id, number of brokers) as the cluster at `bootstrap` describes itself,
    or the exception that says why it did not answer."""
    admin = AdminClient({"bootstrap.servers": bootstrap, "logger": _quiet})
    try:
        cluster = admin.describe_cluster(request_timeout=5).result(timeout=10)
    except Exception as exc:  # any failure here means "no healthy broker answered"
        return exc
    return cluster.cluster_id, len(cluster.nodes)


def write_properties(path: Path, config: dict[str, str]) -> None:
    """A Kafka `.properties` file, one `key=value` per line."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(f"{key}={value}\n" for key, value in config.items()))


def new_cluster_id() -> str:
    """A random KRaft cluster id (16 bytes, URL-safe base64), as `kafka-storage random-uuid`."""
    return base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")


def _classpath(settings: Settings) -> str:
    return str(settings.jvm_dir / "kafka" / "*")


def format_storage(settings: Settings, config_file: Path, cluster_id: str) -> None:
    """KRaft storage must be formatted with a cluster id once, before a node's first start."""
    # `--cluster-id=<id>` in one argument: a random id may start with "-", which the
    # tool's argument parser would take for an option (1 start in 64 failed so).
    cmd = [java_bin(), "-cp", _classpath(settings), "kafka.tools.StorageTool",
           "format", f"--cluster-id={cluster_id}", "-c", str(config_file)]
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode != 0:
        raise StackError(
            f"Formatting Kafka's storage failed: {(done.stdout + done.stderr).strip()}",
            "run `labkit stack reset` to start from empty storage.",
        )


def kafka_launch(settings: Settings, name: str, config_file: Path, *, heap: str) -> Launch:
    """The process of one Kafka node (broker, controller or both) run from `config_file`."""
    log4j = files("labkit.stack") / "kafka-log4j2.properties"
    argv = [java_bin(), "-Xms256m", f"-Xmx{heap}",
            "-XX:+UseG1GC", f"-Dlog4j2.configurationFile={log4j}",
            "-cp", _classpath(settings), "kafka.Kafka", str(config_file)]
    return Launch(name, argv, settings.log_dir / f"{name}.log")


class Kafka(Service):
    name = "kafka"
    title = "Kafka"
    needs_jvm = True
    start_timeout_s = 60.0

    def controller_port(self, settings: Settings) -> int:
        return settings.host_port("kafka")[1] + 1

    def ports(self, settings: Settings) -> list[int]:
        return [settings.host_port("kafka")[1], self.controller_port(settings)]

    def probe(self, settings: Settings) -> Health:
        host, port = settings.host_port("kafka")
        if not port_open(host, port):
            return Health(False, detail="nothing listening")
        found = probe_brokers(settings.kafka)
        if isinstance(found, Exception):
            return Health(False, detail=f"port open but no Kafka answer ({found})")
        cluster_id, brokers = found
        return Health(True, VERSIONS["kafka"], f"cluster {cluster_id}, {brokers} broker(s)")

    def require(self, settings: Settings) -> None:
        java_bin()

    def _config_file(self, settings: Settings) -> Path:
        return settings.data_dir / "kafka" / "server.properties"

    def prepare(self, settings: Settings) -> None:
        host, port = settings.host_port("kafka")
        cport = self.controller_port(settings)
        data = settings.data_dir / "kafka"
        write_properties(self._config_file(settings), {
            "process.roles": "broker,controller",
            "node.id": "1",
            "controller.quorum.voters": f"1@{host}:{cport}",
            "listeners": f"PLAINTEXT://{host}:{port},CONTROLLER://{host}:{cport}",
            "advertised.listeners": f"PLAINTEXT://{host}:{port}",
            "controller.listener.names": "CONTROLLER",
            "inter.broker.listener.name": "PLAINTEXT",
            "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
            "log.dirs": str(data / "logs"),
            # A single node cannot hold three replicas of the internal topics.
            "offsets.topic.replication.factor": "1",
            "transaction.state.log.replication.factor": "1",
            "transaction.state.log.min.isr": "1",
            "share.coordinator.state.topic.replication.factor": "1",
            "share.coordinator.state.topic.min.isr": "1",
            # Consumers in notebooks should get their partitions at once, not after 3 s.
            "group.initial.rebalance.delay.ms": "0",
            "num.partitions": "1",
            # Retention deletes old segments when this check runs (default every 5 min, and
            # read-only: only a restart changes it). Chapter 10 watches a lagging consumer
            # lose records to retention within seconds.
            "log.retention.check.interval.ms": "2000",
        })
        if not (data / "logs" / "meta.properties").exists():
            format_storage(settings, self._config_file(settings), new_cluster_id())

    def launches(self, settings: Settings) -> list[Launch]:
        return [kafka_launch(settings, "kafka", self._config_file(settings), heap="1g")]
