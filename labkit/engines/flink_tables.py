"""Kafka topics as Flink SQL tables: the one DDL builder both Flink engines use.

Plain strings, no PyFlink: a table is a name, its columns and the connector's
options. `kafka_table` fills in what every lab table shares (the connector and
the lab's broker); each engine adds its formats, offsets and metadata.
"""

from __future__ import annotations

from ..settings import get_settings

__all__ = ["kafka_table", "source_end"]


def kafka_table(name: str, topic: str, columns: list[str], options: dict[str, str], *,
                on_cluster: bool = False) -> str:
    """`CREATE TABLE name (columns) WITH ('connector' = 'kafka', 'topic' = topic, options...)`.

    `on_cluster`: the job runs on the standalone cluster, which may reach the broker
    at another address than this machine does (LAB_KAFKA_FROM_FLINK, for compose).
    """
    settings = get_settings()
    broker = settings.for_flink_cluster("kafka") if on_cluster else settings.kafka
    every = {"connector": "kafka", "topic": topic, "properties.bootstrap.servers": broker,
             **options}
    with_clause = ",\n  ".join(f"'{key}' = '{value}'" for key, value in every.items())
    return f"CREATE TABLE `{name}` (\n  {', '.join(columns)}\n) WITH (\n  {with_clause})"


def source_end(until_end: bool) -> dict[str, str]:
    """A Kafka source's end: the end offsets seen at start (`until_end`), or none (follow)."""
    return {"scan.bounded.mode": "latest-offset"} if until_end else {}
