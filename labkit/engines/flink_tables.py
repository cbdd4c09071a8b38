"""Kafka topics as Flink SQL tables, and the lab's JVM decoder as SQL functions: the SQL
both Flink engines build their jobs from.

Plain strings, no PyFlink: a table is a name, its columns and the connector's
options. `kafka_table` fills in what every lab table shares (the connector and
the lab's broker); each engine adds its formats, offsets and metadata.
`JVM_FUNCTIONS` registers jvm/src's functions (labkit-flink.jar), and
`decoder_call` calls one on a message's bytes.
"""

from __future__ import annotations

import json
from collections.abc import Mapping

from .. import processing, schemas
from ..settings import get_settings

__all__ = ["JVM_FUNCTIONS", "MESSAGE_COLUMNS", "RAW_BYTES", "dead_letter_table", "decoder_call",
           "format_end_offsets", "kafka_table", "parse_end_offsets", "source_end"]

# The lab's Java functions (jvm/src/main/java/lab/flink), by the name SQL calls them:
# `decode_transactions` (a table function: the transaction's fields, or the dead-letter
# reason and error of a message without them) and `event_time` (a scalar: its timestamp,
# or NULL). A job registers them with these statements, and ships labkit-flink.jar.
# Key and value as raw bytes, in and out: the job decodes and encodes them itself.
RAW_BYTES = {"key.format": "raw", "key.fields": "k", "value.format": "raw",
             "value.fields-include": "EXCEPT_KEY"}
# A source message as raw bytes, and where it came from (what a dead letter points back to).
MESSAGE_COLUMNS = ["`k` BYTES", "`v` BYTES", "`topic` STRING METADATA VIRTUAL",
                   "`partition` INT METADATA VIRTUAL", "`offset` BIGINT METADATA VIRTUAL"]
JVM_FUNCTIONS = tuple(
    f"CREATE TEMPORARY FUNCTION {name} AS 'lab.flink.{java_class}' LANGUAGE JAVA"
    for name, java_class in (("decode_transactions", "DecodeTransactions"),
                             ("event_time", "EventTime")))


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


def source_end(until_end: bool, end_offsets: Mapping[int, int] | None = None
               ) -> dict[str, str]:
    """A Kafka source's end: the given offset of each partition (`end_offsets`: the job
    waits for input until it gets there), the end offsets seen at start (`until_end`),
    or none (follow)."""
    if end_offsets:
        return {"scan.bounded.mode": "specific-offsets",
                "scan.bounded.specific-offsets": ";".join(
                    f"partition:{p},offset:{offset}" for p, offset in sorted(end_offsets.items()))}
    return {"scan.bounded.mode": "latest-offset"} if until_end else {}


def format_end_offsets(end_offsets: Mapping[int, int]) -> str:
    """`--end-offsets`' form of {partition: offset}: "0:120,1:98"."""
    return ",".join(f"{p}:{offset}" for p, offset in sorted(end_offsets.items()))


def parse_end_offsets(text: str) -> dict[int, int]:
    """{partition: offset} from `--end-offsets`' form (`format_end_offsets`)."""
    pairs = (pair.split(":") for pair in text.split(","))
    return {int(p): int(offset) for p, offset in pairs}


def decoder_call(function: str, column: str, registry: str) -> str:
    """SQL calling one of `JVM_FUNCTIONS` on `column` (a message's value, BYTES): the lab's
    reader schema (transactions.v1) and size limit (`processing.MAX_VALUE_BYTES`), and
    the registry at `registry` as the job reaches it."""
    reader = json.dumps(schemas.load("transactions.v1")).replace("'", "''")
    return (f"{function}(`{column}`, '{reader}', '{registry}', "
            f"{processing.MAX_VALUE_BYTES})")


def dead_letter_table(name: str, topic: str, *, on_cluster: bool = False) -> str:
    """A dead-letter topic as a table: the message's original key and value (raw bytes) and
    its `dlq.*` headers (`processing.DeadLetter.headers`) as a writable metadata column."""
    return kafka_table(name, topic,
                       ["`k` BYTES", "`v` BYTES", "`headers` MAP<STRING, BYTES> METADATA"],
                       RAW_BYTES, on_cluster=on_cluster)
