"""Apache Kafka 4 in KRaft mode: one process that is both broker and controller."""

from __future__ import annotations

import base64
import logging
import subprocess
import uuid
from importlib.resources import files

from confluent_kafka.admin import AdminClient

from ..errors import StackError
from ..settings import VERSIONS, Settings
from .jvm import java_bin
from .process import Launch
from .service import Health, Service, port_open

__all__ = ["Kafka"]

# librdkafka logs every refused connection; a probe of a stopped broker should be quiet.
_quiet = logging.getLogger("labkit.kafka.probe")
_quiet.addHandler(logging.NullHandler())
_quiet.propagate = False


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
        admin = AdminClient({"bootstrap.servers": settings.kafka, "logger": _quiet})
        try:
            cluster = admin.describe_cluster(request_timeout=5).result(timeout=10)
        except Exception as exc:  # any failure here means "not a healthy broker"
            return Health(False, detail=f"port open but no Kafka answer ({exc})")
        return Health(True, VERSIONS["kafka"],
                      f"cluster {cluster.cluster_id}, {len(cluster.nodes)} broker(s)")

    def require(self, settings: Settings) -> None:
        java_bin()

    def _config_file(self, settings: Settings):
        return settings.data_dir / "kafka" / "server.properties"

    def prepare(self, settings: Settings) -> None:
        host, port = settings.host_port("kafka")
        cport = self.controller_port(settings)
        data = settings.data_dir / "kafka"
        config = {
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
        }
        data.mkdir(parents=True, exist_ok=True)
        self._config_file(settings).write_text(
            "".join(f"{key}={value}\n" for key, value in config.items())
        )
        if not (data / "logs" / "meta.properties").exists():
            self._format_storage(settings)

    def _format_storage(self, settings: Settings) -> None:
        """KRaft storage must be formatted with a cluster id once, before the first start."""
        cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        # `--cluster-id=<id>` in one argument: a random id may start with "-", which the
        # tool's argument parser would take for an option (1 start in 64 failed so).
        cmd = [java_bin(), "-cp", self._classpath(settings), "kafka.tools.StorageTool",
               "format", f"--cluster-id={cluster_id}", "-c", str(self._config_file(settings))]
        done = subprocess.run(cmd, capture_output=True, text=True)
        if done.returncode != 0:
            raise StackError(
                f"Formatting Kafka's storage failed: {(done.stdout + done.stderr).strip()}",
                "run `labkit stack reset` to start from empty storage.",
            )

    def _classpath(self, settings: Settings) -> str:
        return str(settings.jvm_dir / "kafka" / "*")

    def launches(self, settings: Settings) -> list[Launch]:
        log4j = files("labkit.stack") / "kafka-log4j2.properties"
        argv = [java_bin(), "-Xms256m", "-Xmx1g", "-XX:+UseG1GC",
                f"-Dlog4j2.configurationFile={log4j}",
                "-cp", self._classpath(settings), "kafka.Kafka",
                str(self._config_file(settings))]
        return [Launch("kafka", argv, settings.log_dir / "kafka.log")]
