"""Clients for each service, configured from `Settings`.

The raw librdkafka configuration is shown here once; notebooks call these
helpers and pass overrides only when the lesson is about that setting.
"""

from __future__ import annotations

import uuid
from typing import Any

import redis as redis_py
from confluent_kafka import Consumer, Producer
from confluent_kafka.admin import AdminClient
from confluent_kafka.schema_registry import SchemaRegistryClient
from redis._parsers import Encoder
from redis.connection import PythonRespSerializer

from .settings import get_settings

__all__ = ["admin", "consumer", "kafka_config", "producer", "redis_client", "registry_client"]


def kafka_config(**overrides: Any) -> dict[str, Any]:
    """librdkafka settings shared by every client: where the brokers are, and errors-only logs.

    librdkafka prints warnings about transient, retried conditions (a broker
    still loading its coordinator) to stderr; at log level 3 only errors show.
    """
    return {"bootstrap.servers": get_settings().kafka, "log_level": 3, **overrides}


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
    return SchemaRegistryClient({"url": get_settings().registry})
