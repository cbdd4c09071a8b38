"""The Flink engine's job: the same `processing.handle`, inside a PyFlink DataStream job.

Kafka in and out through Flink's Kafka SQL connector (raw bytes, with the
source topic/partition/offset as metadata columns and dead-letter headers as a
writable metadata column); in between, a `KeyedProcessFunction` keyed by the
Kafka key (= card_id; `processing.handle` dead-letters any other) whose keyed
state is the very `CardWindow` the simple engine keeps in a dict. This module
imports PyFlink, so only `labkit.engines.flink` imports it.

Run on a cluster as `flink run -j <connector jar> -pym labkit.engines.flink_job --topic T`
(what `labkit process --engine flink --flink-cluster` does).
"""

from __future__ import annotations

import argparse
from functools import partial

from pyflink.common import Configuration, Row, Types
from pyflink.datastream import (
    KeyedProcessFunction,
    MapFunction,
    OutputTag,
    RuntimeContext,
    StreamExecutionEnvironment,
)
from pyflink.datastream.state import ValueStateDescriptor
from pyflink.table import StreamTableEnvironment

from .. import processing, schemas, serde
from ..settings import get_settings
from ..sinks import RedisFeatureSink
from ..stack.flink import JOB_SETTINGS

BYTES = Types.PRIMITIVE_ARRAY(Types.BYTE())
MESSAGE = Types.ROW_NAMED(["k", "v"], [BYTES, BYTES])
DEAD_LETTER = Types.ROW_NAMED(["k", "v", "headers"],
                              [BYTES, BYTES, Types.MAP(Types.STRING(), BYTES)])
DEAD_LETTERS = OutputTag("dead-letters", DEAD_LETTER)
REDIS_BATCH = 500


class CardFeatures(KeyedProcessFunction):
    """Per card: `processing.handle` with the card's `CardWindow` in Flink keyed state."""

    def open(self, runtime_context: RuntimeContext) -> None:
        self.window = runtime_context.get_state(
            ValueStateDescriptor("card-window", Types.PICKLED_BYTE_ARRAY()))
        self.decode = serde.ConfluentDecoder()

    def process_element(self, row: Row, ctx: KeyedProcessFunction.Context):
        source = processing.Source(row["topic"], row["partition"], row["offset"])
        window, out = processing.handle(self.window.value(), row["k"], row["v"], source,
                                        self.decode)
        if window is not None:
            self.window.update(window)
        if isinstance(out, processing.DeadLetter):
            yield DEAD_LETTERS, Row(k=out.key, v=out.value, headers=out.headers())
        else:
            yield out


class WriteFeatures(MapFunction):
    """Write feature records to Redis (newest per card, pipelined) and encode them for Kafka."""

    def __init__(self, schema_id: int, redis_prefix: str) -> None:
        self.schema_id = schema_id
        self.redis_prefix = redis_prefix

    def open(self, runtime_context: RuntimeContext) -> None:
        self.sink = RedisFeatureSink(key_prefix=self.redis_prefix)
        self.encode = partial(serde.encode_confluent, schema_id=self.schema_id,
                              schema="features.v1")
        self.pending: list[dict] = []

    def map(self, features: dict) -> Row:
        self.pending.append(features)
        if len(self.pending) >= REDIS_BATCH:
            self._flush()
        return Row(k=features["card_id"].encode(), v=self.encode(features))

    def _flush(self) -> None:
        self.sink.write_latest(self.pending)
        self.pending = []

    def close(self) -> None:
        self._flush()


def _kafka_table(name: str, topic: str, columns: str, extra: str = "") -> str:
    return f"""
        CREATE TABLE `{name}` ({columns}) WITH (
          'connector' = 'kafka', 'topic' = '{topic}',
          'properties.bootstrap.servers' = '{get_settings().kafka}',
          'key.format' = 'raw', 'key.fields' = 'k',
          'value.format' = 'raw', 'value.fields-include' = 'EXCEPT_KEY' {extra})"""


def build(env: StreamExecutionEnvironment, outputs: processing.Outputs, group: str):
    """Add the pipeline to `env`; return the statement set that attaches the Kafka sinks."""
    t_env = StreamTableEnvironment.create(env)
    t_env.execute_sql(_kafka_table(
        "source", outputs.input,
        "`k` BYTES, `v` BYTES, `topic` STRING METADATA VIRTUAL, "
        "`partition` INT METADATA VIRTUAL, `offset` BIGINT METADATA VIRTUAL",
        f", 'properties.group.id' = '{group}', 'scan.startup.mode' = 'earliest-offset', "
        "'scan.bounded.mode' = 'latest-offset'"))
    t_env.execute_sql(_kafka_table("features_sink", outputs.features, "`k` BYTES, `v` BYTES"))
    t_env.execute_sql(_kafka_table("dlq_sink", outputs.dlq,
                                   "`k` BYTES, `v` BYTES, `headers` MAP<STRING, BYTES> METADATA"))
    schema_id = schemas.register(f"{outputs.features}-value", "features.v1")
    features = (t_env.to_data_stream(t_env.from_path("source"))
                # Flink cannot key by byte[]: hex is the same partition of keys, as a string.
                .key_by(lambda row: (row["k"] or b"").hex(), key_type=Types.STRING())
                .process(CardFeatures(), output_type=Types.PICKLED_BYTE_ARRAY()))
    encoded = features.map(WriteFeatures(schema_id, outputs.redis_prefix), output_type=MESSAGE)
    statements = t_env.create_statement_set()
    statements.add_insert("features_sink", t_env.from_data_stream(encoded))
    statements.add_insert("dlq_sink",
                          t_env.from_data_stream(features.get_side_output(DEAD_LETTERS)))
    return statements


def configure(config: Configuration, connector_jar: str) -> Configuration:
    """Thread mode (Python inside the TaskManager's JVM): far faster than process mode here.

    Plus the lab's `JOB_SETTINGS`, shared with the standalone cluster's config.
    """
    config.set_string("python.execution-mode", "thread")
    config.set_string("pipeline.jars", f"file://{connector_jar}")
    for key, value in JOB_SETTINGS.items():
        config.set_string(key, value)
    return config


def execute(env: StreamExecutionEnvironment, outputs: processing.Outputs, group: str) -> None:
    env.set_parallelism(1)
    env.enable_checkpointing(5_000)
    build(env, outputs, group).attach_as_datastream()
    env.execute(f"labkit features: {outputs.input}")


def main() -> None:
    """Entry point for `flink run -pym labkit.engines.flink_job --topic T [--tag X]`."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--topic", required=True)
    parser.add_argument("--tag", default="")
    parser.add_argument("--group", default="")
    args = parser.parse_args()
    outputs = processing.Outputs(args.topic, args.tag)
    execute(StreamExecutionEnvironment.get_execution_environment(), outputs,
            args.group or outputs.group("flink"))


if __name__ == "__main__":
    main()
