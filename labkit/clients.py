"""Clients for each service, configured from `Settings`, and what their failures mean.

The raw librdkafka configuration is shown here once; notebooks call these
helpers and pass overrides only when the lesson is about that setting.
"""

from __future__ import annotations

import logging
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import urlparse

import redis as redis_py
from confluent_kafka import Consumer, KafkaError, Producer
from confluent_kafka.admin import AdminClient
from confluent_kafka.schema_registry import SchemaRegistryClient

# The HTTP library SchemaRegistryClient itself uses, as it picks it (httpx2 here: the
# pinned confluent-kafka needs it on Python 3.10+). A private module, so the pin matters.
from confluent_kafka.schema_registry.common._httpx_compat import httpx
from confluent_kafka.schema_registry.error import SchemaRegistryError
from redis._parsers import Encoder
from redis.connection import PythonRespSerializer

from .errors import LabError, ServiceUnavailable
from .settings import get_settings

__all__ = ["KAFKA_TRANSIENT", "REDIS_UNREACHABLE", "REGISTRY_UNREACHABLE", "SILENT_LOGGER",
           "admin",
           "consumer", "kafka_config", "kafka_transient", "kafka_unreachable", "producer",
           "quiet", "redis_client", "redis_unavailable", "registry_client",
           "registry_unavailable", "topic_metadata"]

# Kafka errors that only report a broker, a partition leader or a group coordinator being
# away or still loading (a broker just restarted): the same call succeeds a moment later.
# librdkafka marks some errors retriable, but not those the Python client raises itself
# (get_watermark_offsets' NOT_LEADER_FOR_PARTITION), so the codes are listed too.
KAFKA_TRANSIENT = {KafkaError.NOT_COORDINATOR, KafkaError.COORDINATOR_LOAD_IN_PROGRESS,
                   KafkaError.COORDINATOR_NOT_AVAILABLE, KafkaError.NOT_LEADER_FOR_PARTITION,
                   KafkaError.LEADER_NOT_AVAILABLE, KafkaError._TRANSPORT,
                   KafkaError._ALL_BROKERS_DOWN}


def kafka_transient(error: KafkaError) -> bool:
    """Will the same Kafka call succeed once the broker is back?"""
    return error.retriable() or error.code() in KAFKA_TRANSIENT


def kafka_unreachable(exc: Exception) -> LabError:
    """The LabError for a Kafka call that failed (no answer, or the broker's refusal)."""
    return LabError(f"Kafka at {get_settings().kafka} did not answer: {exc}",
                    "start the stack with `labkit stack up` (or `make lab`).")


def topic_metadata(client: Consumer | AdminClient, topic: str, *, timeout_s: float) -> Any:
    """One existing topic's metadata (its `partitions`); a LabError naming the topic if it
    does not exist. Kafka's own failures are left to the caller (`kafka_unreachable`)."""
    meta = client.list_topics(topic, timeout=timeout_s).topics[topic]
    if meta.error is not None:
        raise LabError(f"Topic {topic!r} cannot be read: {meta.error.str()}",
                       "check the name with `lk.topics.list_topics()`.")
    return meta


# What each client raises when its service gives no answer (refused, reset, timed out).
# SchemaRegistryClient retries on its own, then re-raises the TransportError of the HTTP
# library it uses (`_httpx_compat`, above).
REGISTRY_UNREACHABLE: tuple[type[Exception], ...] = (httpx.TransportError,)
REDIS_UNREACHABLE: tuple[type[Exception], ...] = (redis_py.ConnectionError, redis_py.TimeoutError)

STACK_FIX = "check the stack with `labkit stack status`; start what is down with `labkit stack up`."


# Where the clients made inside `quiet()` send librdkafka's log lines: nowhere.
SILENT_LOGGER = logging.getLogger("labkit.clients.silent")
SILENT_LOGGER.addHandler(logging.NullHandler())
SILENT_LOGGER.propagate = False
_quiet = threading.local()


@contextmanager
def quiet() -> Iterator[None]:
    """Kafka clients made in this block, in this thread, log nothing at all.

    For the samplers that watch a run while a fault is injected on purpose
    (`faults.Timeline`, `groups.Watch`): a broker going away makes their
    clients log connection errors, which would land in a notebook cell's output.
    """
    _quiet.on = True
    try:
        yield
    finally:
        _quiet.on = False


def kafka_config(**overrides: Any) -> dict[str, Any]:
    """librdkafka settings shared by every client: where the brokers are, and errors-only logs.

    librdkafka prints warnings about transient, retried conditions (a broker
    still loading its coordinator) to stderr; at log level 3 only errors show.
    Inside `quiet()`, not even those.
    """
    silent = {"logger": SILENT_LOGGER} if getattr(_quiet, "on", False) else {}
    return {"bootstrap.servers": get_settings().kafka, "log_level": 3, **silent, **overrides}


def admin() -> AdminClient:
    """An AdminClient for creating and describing topics."""
    return AdminClient(kafka_config())


def producer(**overrides: Any) -> Producer:
    """A producer that waits for the broker's acknowledgement and never duplicates on retry."""
    return Producer(kafka_config(**{"acks": "all", "enable.idempotence": True,
                                    "linger.ms": 5, **overrides}))


def consumer(*, group_id: str | None = None, **overrides: Any) -> Consumer:
    """A consumer that starts at the earliest offset and commits nothing unless told to.

    Each call gets its own consumer group unless `group_id` is given, so
    re-running a notebook cell re-reads the topic from the start.
    """
    return Consumer(kafka_config(**{
        "group.id": group_id or f"lab-{uuid.uuid4().hex[:8]}",
        "auto.offset.reset": "earliest",
        "enable.auto.commit": False,
        **overrides,
    }))


def redis_client(*, hiredis: bool = False) -> redis_py.Redis:
    """A Redis client that returns raw bytes, so the lab can show exactly what is stored.

    Commands are packed by redis-py's own Python code unless `hiredis`: its type
    checks raise the errors of the original sink that notebook 02 teaches
    ("Invalid input of type: 'bool'"). hiredis packs four times faster but
    words those errors differently, so only the engines' sink uses it.
    """
    if hiredis:
        return redis_py.Redis.from_url(get_settings().redis, socket_timeout=5)
    packer = PythonRespSerializer(6000, Encoder("utf-8", "strict", False).encode)
    return redis_py.Redis.from_url(get_settings().redis, socket_timeout=5, command_packer=packer)


def registry_client() -> SchemaRegistryClient:
    """A Confluent Schema Registry client pointed at the lab's registry (Apicurio's ccompat API)."""
    # A timeout, because the client has none: a registry that hangs (a full GC, a paused
    # process) would otherwise hang every decoder that needs a new schema id, for ever.
    return SchemaRegistryClient({"url": get_settings().registry, "timeout": 5})


def _shown(url: str) -> str:
    """The URL without its credentials (redis://:secret@host...), fit for an error message."""
    parsed = urlparse(url)
    return parsed._replace(netloc=parsed.netloc.rpartition("@")[2]).geturl()


def registry_unavailable(exc: Exception, doing: str) -> ServiceUnavailable:
    """The registry gave no answer, or an error status, while `doing` something (transient)."""
    detail = (f"HTTP {exc.http_status_code}: {exc.error_message or 'no message'}"
              if isinstance(exc, SchemaRegistryError) else f"{type(exc).__name__}: {exc}")
    where = _shown(get_settings().registry)
    return ServiceUnavailable(f"The schema registry at {where} failed while {doing} ({detail}).",
                              STACK_FIX)


def redis_unavailable(exc: Exception, doing: str) -> ServiceUnavailable:
    """Redis did not answer while `doing` something (transient)."""
    where = _shown(get_settings().redis)
    return ServiceUnavailable(
        f"Redis at {where} did not answer while {doing} ({type(exc).__name__}: {exc}).", STACK_FIX)
