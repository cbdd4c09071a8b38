"""Chapter 09's Kafka cluster, seen and broken: who leads what, and one broker at a time.

The cluster is three brokers (ids 1-3) and three controllers that `labkit stack up
--profile cluster` starts beside the lab's single broker (labkit/stack/cluster.py).
Here: its partitions' leaders, replicas and in-sync replicas as a table, the brokers
and the controller quorum's leader, and faults on one broker by id (kill, stop,
pause, start) that touch only a process labkit started, by its PID.

`as_lab_kafka()` points LAB_KAFKA at the cluster for a block, so every labkit call and
every engine started inside it runs on the cluster, unchanged.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass

import pandas as pd
from confluent_kafka import KafkaError, KafkaException, TopicCollection
from confluent_kafka.admin import AdminClient

from . import faults, stack
from .clients import SILENT_LOGGER, kafka_config, kafka_transient
from .errors import LabError
from .polling import retry, until
from .settings import get_settings
from .stack import process
from .stack.cluster import BROKER_IDS, Cluster, nodes
from .stack.kafka_tools import run_tool

__all__ = ["Placement", "as_lab_kafka", "bootstrap", "brokers", "controller_leader",
           "kill_broker", "paused", "placement", "placements", "proxied_bootstrap",
           "require", "start_broker", "start_brokers", "stop_broker", "tool",
           "topic_placements", "wait_for_isr",
           "wait_for_leader"]


def bootstrap() -> str:
    """The cluster's bootstrap list (LAB_CLUSTER): all three brokers, so a client still
    finds the cluster when the broker it would have asked first is down."""
    return get_settings().cluster


def proxied_bootstrap() -> str:
    """The brokers' PROXIED addresses (port 9N95): a client bootstrapping there sends
    everything through a proxy on those ports (`labkit.ack_loss`)."""
    return ",".join(f"{n.host}:{n.proxied_port + 1}" for n in nodes(get_settings())
                    if n.role == "broker")


def require() -> dict[str, str]:
    """The stack's versions if the lab's stack and its cluster are up, else a StackError
    saying to start them with `labkit stack up --profile cluster`."""
    return stack.require_up(cluster=True)


@contextmanager
def as_lab_kafka() -> Iterator[str]:
    """LAB_KAFKA set to the cluster inside the block (and put back after it)."""
    before = os.environ.get("LAB_KAFKA")
    os.environ["LAB_KAFKA"] = bootstrap()
    try:
        yield bootstrap()
    finally:
        if before is None:
            os.environ.pop("LAB_KAFKA", None)
        else:
            os.environ["LAB_KAFKA"] = before


def _admin() -> AdminClient:
    # Silent: in this chapter brokers die on purpose, and every refused connection
    # would otherwise print a line into the notebook from whichever thread asked.
    return AdminClient(kafka_config(**{"bootstrap.servers": bootstrap(),
                                       "logger": SILENT_LOGGER}))


@dataclass(frozen=True)
class Placement:
    """Where one partition lives: its leader (None while it has none), every replica,
    and the replicas in sync with the leader."""

    partition: int
    leader: int | None
    replicas: tuple[int, ...]
    isr: tuple[int, ...]


# A describe can fail for a moment: the broker it asked has just died (timed out), or a
# topic created a moment ago has not reached every broker's metadata yet.
_FOR_A_MOMENT = {KafkaError._TIMED_OUT, KafkaError.UNKNOWN_TOPIC_OR_PART}


def _for_a_moment(exc: Exception) -> bool:
    return isinstance(exc, KafkaException) and (
        kafka_transient(exc.args[0]) or exc.args[0].code() in _FOR_A_MOMENT)


def _unanswered(exc: Exception) -> LabError:
    return LabError(f"The Kafka cluster at {bootstrap()} did not answer: {exc}",
                    "start it with `labkit stack up --profile cluster`; "
                    "`labkit stack status` shows each broker.")


def placements(topic: str, *, timeout_s: float = 30.0) -> list[Placement]:
    """Leader, replicas and ISR of each partition of `topic`, as the cluster reports them."""
    def describe():  # a fresh client each time: the one before may be tied to a dead broker
        admin = _admin()  # keep a reference: the request dies with its client
        described = admin.describe_topics(TopicCollection([topic]), request_timeout=3)
        return described[topic].result(timeout=5)
    info = retry(describe, transient=_for_a_moment, timeout_s=timeout_s, give_up=_unanswered)
    return [Placement(p.id, p.leader.id if p.leader is not None and p.leader.id >= 0 else None,
                      tuple(r.id for r in p.replicas), tuple(r.id for r in p.isr))
            for p in info.partitions]


def placement(topic: str, partition: int = 0) -> Placement:
    """One partition's `Placement`."""
    return next(p for p in placements(topic) if p.partition == partition)


def brokers() -> pd.DataFrame:
    """Each broker: its address, whether it is registered with the controllers now, and
    the PID labkit runs it as."""
    def describe():
        admin = _admin()  # keep a reference: the request dies with its client
        return admin.describe_cluster(request_timeout=3).result(timeout=5)
    described = retry(describe, transient=_for_a_moment, timeout_s=30, give_up=_unanswered)
    registered = {node.id for node in described.nodes}
    run_dir = get_settings().run_dir
    return pd.DataFrame([{"broker": n.node_id, "address": f"{n.host}:{n.port}",
                          "registered": n.node_id in registered,
                          "pid": process.running_pid(n.name, run_dir)}
                         for n in nodes(get_settings()) if n.role == "broker"]
                        ).set_index("broker")


def tool(name: str, *args: str) -> str:
    """What Kafka's `kafka-<name>.sh args...` prints, run against the cluster."""
    return run_tool(get_settings(), name, "--bootstrap-server", bootstrap(), *args)


def controller_leader() -> int:
    """The node id of the controller quorum's leader (kafka-metadata-quorum's LeaderId)."""
    found = re.search(r"^LeaderId:\s+(\d+)", tool("metadata-quorum", "describe", "--status"),
                      re.MULTILINE)
    if found is None:
        raise LabError("kafka-metadata-quorum named no leader.",
                       "check the controllers with `labkit stack logs cluster`.")
    return int(found.group(1))


def _process_name(broker_id: int) -> str:
    if broker_id not in BROKER_IDS:
        raise LabError(f"There is no broker {broker_id} in the lab's cluster.",
                       f"pick one of {', '.join(map(str, BROKER_IDS))}.")
    return f"cluster-broker-{broker_id}"


def kill_broker(broker_id: int) -> float:
    """SIGKILL one broker, as a power cut would: no goodbye to the controllers, which
    notice only when its heartbeats stop. Returns the monotonic time of the kill."""
    faults.kill_service(_process_name(broker_id))
    return time.monotonic()


def stop_broker(broker_id: int) -> float:
    """Stop one broker cleanly (SIGTERM: a controlled shutdown hands its leaderships over
    before it exits). Returns the monotonic time the stop began."""
    began = time.monotonic()
    faults.stop_service(_process_name(broker_id))
    return began


@contextmanager
def paused(*broker_ids: int) -> Iterator[None]:
    """These brokers frozen for the block (SIGSTOP), then resumed: a follower that stops
    fetching without leaving the ISR yet, as in a long GC pause or a stalled disk."""
    with ExitStack() as frozen:
        for broker_id in broker_ids:
            frozen.enter_context(faults.hung(_process_name(broker_id)))
        yield


def start_broker(broker_id: int, *, timeout_s: float = 60.0) -> None:
    """Start one broker that is down (and only it), and wait until it is registered."""
    name = _process_name(broker_id)
    settings = get_settings()
    launch = next((launch for launch in Cluster().launches(settings) if launch.name == name),
                  None)
    if launch is None:
        raise LabError(f"Broker {broker_id} is running already.",
                       "stop or kill it first, or start the others with `start_brokers()`.")
    process.start(launch, settings.run_dir)
    until(lambda: bool(brokers().loc[broker_id, "registered"]), timeout_s=timeout_s,
          what=f"broker {broker_id} to register with the controllers",
          fix=f"read its log: `labkit stack logs cluster` ({settings.log_dir / name}.log).")


def start_brokers(*, timeout_s: float = 90.0) -> list[str]:
    """Start every broker (and controller) of the cluster that is down; wait until all
    three brokers are registered. Returns the processes started.

    The cluster alone, not `stack.up`: inside `as_lab_kafka()` LAB_KAFKA names the
    cluster, and the single broker's service must not be "started" there."""
    settings = get_settings()
    started = []
    for launch in Cluster().launches(settings):
        process.start(launch, settings.run_dir)
        started.append(launch.name)
    until(lambda: bool(brokers()["registered"].all()), timeout_s=timeout_s,
          what="all three brokers to register with the controllers",
          fix="read their logs: `labkit stack logs cluster`.")
    return started


def wait_for_leader(topic: str, partition: int = 0, *, other_than: int | None = None,
                    timeout_s: float = 60.0) -> int:
    """The partition's leader once it has one (and, with `other_than`, a different one)."""
    def elected() -> int | None:
        leader = placement(topic, partition).leader
        return leader if leader is not None and leader != other_than else None
    return until(elected, timeout_s=timeout_s,
                 what=f"a new leader for {topic}[{partition}]",
                 fix="check the brokers with `labkit stack status`.")


def wait_for_isr(topic: str, size: int, partition: int = 0, *,
                 timeout_s: float = 60.0) -> tuple[int, ...]:
    """The partition's ISR once it has exactly `size` members (a follower that rejoined,
    or one that was dropped)."""
    def reached() -> tuple[int, ...] | None:
        isr = placement(topic, partition).isr
        return isr if len(isr) == size else None
    return until(reached, timeout_s=timeout_s,
                 what=f"an ISR of {size} for {topic}[{partition}]",
                 fix="check the brokers with `labkit stack status`.")


def topic_placements(*, most: int = 15) -> pd.DataFrame:
    """Leader, replicas and ISR of every partition of the cluster's topics (Kafka's
    internal ones left out), `most` topics at most."""
    admin = _admin()  # keep a reference: the request dies with its client
    names = sorted(name for name in admin.list_topics(timeout=10).topics
                   if not name.startswith("__"))
    rows = [{"topic": name, **vars(p)} for name in names[:most] for p in placements(name)]
    return pd.DataFrame(rows, columns=["topic", "partition", "leader", "replicas", "isr"])
