"""The Flink engine's job: the same `processing.handle`, inside a PyFlink DataStream job.

Kafka in and out through Flink's Kafka SQL connector (raw bytes, with the
source topic/partition/offset as metadata columns and dead-letter headers as a
writable metadata column); in between, one fused Python operator per record:
a `KeyedProcessFunction`, keyed by the Kafka key (= card_id; `processing.handle`
dead-letters any other), that decodes, updates the card's `CardWindow` (kept
in Flink keyed state), writes Redis and encodes the feature record. The key is
computed in SQL, in the JVM, so each record crosses into Python exactly once.
This module imports PyFlink at the top, so only `labkit.engines.flink` imports it,
and only inside a running job.

Run on a cluster as
`flink run -j <connector jar> -pym labkit.engines.flink_job --topic T [--parallelism N]`
(what `labkit process --engine flink --flink-cluster` does).
"""

from __future__ import annotations

import argparse
import time
from functools import partial

from pyflink.common import Configuration, Row, Types
from pyflink.datastream import (
    KeyedProcessFunction,
    KeyedStream,
    OutputTag,
    RuntimeContext,
    StreamExecutionEnvironment,
)
from pyflink.datastream.state import ValueStateDescriptor
from pyflink.java_gateway import get_gateway
from pyflink.table import StreamTableEnvironment

from .. import processing, schemas, serde
from ..features import CardWindow
from ..runs import Outputs
from ..sinks import RedisFeatureSink
from ..stack.flink import JOB_SETTINGS
from .flink_tables import kafka_table, source_end

BYTES = Types.PRIMITIVE_ARRAY(Types.BYTE())
KEYED_MESSAGE = Types.ROW_NAMED(["card", "message"], [Types.STRING(), Types.ROW_NAMED(
    ["k", "v", "topic", "partition", "offset"],
    [BYTES, BYTES, Types.STRING(), Types.INT(), Types.LONG()])])
MESSAGE = Types.ROW_NAMED(["k", "v"], [BYTES, BYTES])
DEAD_LETTER = Types.ROW_NAMED(["k", "v", "headers"],
                              [BYTES, BYTES, Types.MAP(Types.STRING(), BYTES)])
DEAD_LETTERS = OutputTag("dead-letters", DEAD_LETTER)
CHECKPOINT_INTERVAL_MS = 5_000
# Redis gets the newest record per card once per batch: per record, a round trip
# (~0.4 ms) would cost more than all the rest of the work on the record.
REDIS_BATCH = 500
# ...or at the latest this long after a batch's first record (per-card timers), so
# Redis lags little when records trickle in, and a restored job writes what it owes.
REDIS_MAX_DELAY_MS = 1_000

# Row(key, message), the shape PyFlink's own `key_by` gives a keyed Python operator,
# but built in SQL: PyFlink's `key_by` would call a Python function per record just to
# compute the key. CAST(k AS STRING) decodes UTF-8; it is one-to-one on the keys that
# can own a window (a card_id's UTF-8), and any other key is dead-lettered by `handle`.
KEYED_BY_CARD = """
    SELECT COALESCE(CAST(`k` AS STRING), '') AS card,
           ROW(`k`, `v`, `topic`, `partition`, `offset`) AS message
    FROM source"""


class RedisBatch:
    """Feature records for Redis, the newest per card, written `REDIS_BATCH` at a time."""

    def __init__(self, redis_prefix: str) -> None:
        self.sink = RedisFeatureSink(key_prefix=redis_prefix)
        self.pending: dict[str, dict] = {}
        self.queued = 0
        self.started_ms = 0.0
        self.written: dict[str, dict] = {}  # the last record this instance wrote, per card

    def add(self, card: str, features: dict) -> None:
        if not self.pending:
            self.started_ms = time.time() * 1000
        self.pending[card] = features
        self.queued += 1
        if self.queued >= REDIS_BATCH:
            self.flush()

    def due_ms(self) -> float:
        """When the pending batch must be written at the latest."""
        return self.started_ms + REDIS_MAX_DELAY_MS

    def flush(self) -> None:
        if self.pending:
            self.sink.write_latest(self.pending.values())
            self.written.update(self.pending)
            self.pending, self.queued = {}, 0


class CardFeatures(KeyedProcessFunction):
    """Per card: `processing.handle`, Redis and the feature record's encoding, fused.

    The card's `CardWindow` lives in Flink keyed state (pickled), so checkpoints
    cover it. Reads come from a dict of the same objects: every update goes to both,
    and a restore starts a new instance with an empty dict, so the dict never holds
    anything the state does not; it saves unpickling the window on every record.

    Redis: PyFlink's thread mode gives Python no checkpoint hook (its operators'
    finish-bundle step is a no-op), so a batch held in memory could be lost in a
    crash right after a checkpoint that already covers its records. Hence each
    card's newest record not yet known to be in Redis is also kept in keyed state,
    with a processing-time timer (both checkpointed): the timer writes the record
    unless this instance already has, then clears it. After a restore, the
    restored timers fire and write whatever the checkpoint still owed Redis.
    """

    def __init__(self, schema_id: int, redis_prefix: str) -> None:
        self.schema_id = schema_id
        self.redis_prefix = redis_prefix

    def open(self, runtime_context: RuntimeContext) -> None:
        self.state = runtime_context.get_state(
            ValueStateDescriptor("card-window", Types.PICKLED_BYTE_ARRAY()))
        self.unwritten = runtime_context.get_state(
            ValueStateDescriptor("unwritten-features", Types.PICKLED_BYTE_ARRAY()))
        self.windows: dict[str, CardWindow] = {}
        self.armed: set[str] = set()  # cards with a timer pending (in this instance)
        self.decode = serde.ConfluentDecoder()
        self.encode = partial(serde.encode_confluent, schema_id=self.schema_id,
                              schema="features.v1")
        self.redis = RedisBatch(self.redis_prefix)

    def process_element(self, message: Row, ctx: KeyedProcessFunction.Context):
        key, value, topic, partition, offset = message
        card = ctx.get_current_key()
        window = self.windows.get(card) or self.state.value()
        window, out = processing.handle(window, key, value,
                                        processing.Source(topic, partition, offset),
                                        self.decode)
        if isinstance(out, processing.DeadLetter):  # the window is unchanged
            yield DEAD_LETTERS, Row(k=out.key, v=out.value, headers=out.headers())
            return
        self.windows[card] = window
        self.state.update(window)
        self.unwritten.update(out)
        self.redis.add(card, out)
        if card not in self.armed:
            self._arm(card, ctx, ctx.timer_service().current_processing_time()
                      + REDIS_MAX_DELAY_MS)
        yield Row(k=key, v=self.encode(out))

    def _arm(self, card: str, ctx: KeyedProcessFunction.Context, at_ms: float) -> None:
        self.armed.add(card)
        ctx.timer_service().register_processing_time_timer(int(at_ms))

    def on_timer(self, timestamp: int, ctx: KeyedProcessFunction.OnTimerContext):
        """Make sure the card's newest record is in Redis, then forget it."""
        card = ctx.get_current_key()
        self.armed.discard(card)
        features = self.unwritten.value()
        now_ms = ctx.timer_service().current_processing_time()
        if features is not None:
            if card in self.redis.pending and now_ms < self.redis.due_ms():
                self._arm(card, ctx, self.redis.due_ms())  # its batch is young: wait for it
            else:
                if self.redis.written.get(card) != features:
                    self.redis.pending[card] = features  # also what a restore still owes
                    self.redis.flush()
                self.unwritten.clear()
        return ()  # no output (PyFlink iterates what on_timer returns)

    def close(self) -> None:
        self.redis.flush()


# Key and value as raw bytes, in and out: the Python operator decodes and encodes them.
RAW_BYTES = {"key.format": "raw", "key.fields": "k", "value.format": "raw",
             "value.fields-include": "EXCEPT_KEY"}


def _keyed_by_card(t_env: StreamTableEnvironment) -> KeyedStream:
    """The source as a KeyedStream of messages, keyed by card in the JVM.

    PyFlink has no public way to key by a field without a Python key selector;
    this is what its `key_by` does after calling the selector (KeyByKeySelector
    takes field 0 of Row(key, message) as the key).
    """
    # A RowTypeInfo, as Python keyed operators require (to_data_stream gives another type).
    stream = t_env.to_append_stream(t_env.sql_query(KEYED_BY_CARD), KEYED_MESSAGE)
    j_keyed = stream._j_data_stream.keyBy(  # private: see the docstring
        get_gateway().jvm.KeyByKeySelector(), Types.ROW([Types.STRING()]).get_java_type_info())
    return KeyedStream(j_keyed, stream.get_type(), stream)


def build(env: StreamExecutionEnvironment, outputs: Outputs, group: str, *,
          until_end: bool = True, on_cluster: bool = False):
    """Add the pipeline to `env`; return the statement set that attaches the Kafka sinks.

    `until_end`: read to the end offsets seen at start; else follow the input.
    `on_cluster`: for the standalone cluster (its address of the broker).
    """
    t_env = StreamTableEnvironment.create(env)
    table = partial(kafka_table, on_cluster=on_cluster)
    t_env.execute_sql(table(
        "source", outputs.input,
        ["`k` BYTES", "`v` BYTES", "`topic` STRING METADATA VIRTUAL",
         "`partition` INT METADATA VIRTUAL", "`offset` BIGINT METADATA VIRTUAL"],
        {**RAW_BYTES, "properties.group.id": group, "scan.startup.mode": "earliest-offset",
         **source_end(until_end)}))
    t_env.execute_sql(table("features_sink", outputs.features, ["`k` BYTES", "`v` BYTES"],
                            RAW_BYTES))
    t_env.execute_sql(table(
        "dlq_sink", outputs.dlq,
        ["`k` BYTES", "`v` BYTES", "`headers` MAP<STRING, BYTES> METADATA"], RAW_BYTES))
    schema_id = schemas.register(f"{outputs.features}-value", "features.v1")
    features = _keyed_by_card(t_env).process(CardFeatures(schema_id, outputs.redis_prefix),
                                             output_type=MESSAGE)
    statements = t_env.create_statement_set()
    statements.add_insert("features_sink", t_env.from_data_stream(features))
    statements.add_insert("dlq_sink",
                          t_env.from_data_stream(features.get_side_output(DEAD_LETTERS)))
    return statements


def configure(config: Configuration, connector_jar: str) -> Configuration:
    """Thread mode (Python inside the TaskManager's JVM): far faster than process mode here.

    Plus the lab's `JOB_SETTINGS`, shared with the standalone cluster's config.
    """
    config.set_string("python.execution-mode", "thread")
    config.set_string("pipeline.jars", f"file://{connector_jar}")
    return with_job_settings(config)


def with_job_settings(config: Configuration) -> Configuration:
    """`JOB_SETTINGS` set on the job itself, so they hold even on a cluster started
    with older ones."""
    for key, value in JOB_SETTINGS.items():
        config.set_string(key, value)
    return config


def _prepared(env: StreamExecutionEnvironment, outputs: Outputs, group: str, parallelism: int,
              until_end: bool, on_cluster: bool = False) -> StreamExecutionEnvironment:
    env.set_parallelism(parallelism)
    env.enable_checkpointing(CHECKPOINT_INTERVAL_MS)
    build(env, outputs, group, until_end=until_end, on_cluster=on_cluster).attach_as_datastream()
    return env


def execute(env: StreamExecutionEnvironment, outputs: Outputs, group: str,
            parallelism: int = 1, *, on_cluster: bool = False):
    """Run the job to the end of the input; return Flink's JobExecutionResult (timings)."""
    return _prepared(env, outputs, group, parallelism, True, on_cluster).execute(_name(outputs))


def start(env: StreamExecutionEnvironment, outputs: Outputs, group: str, parallelism: int = 1):
    """Start the job following the input (no end) in the background; return its JobClient."""
    return _prepared(env, outputs, group, parallelism, False).execute_async(_name(outputs))


def _name(outputs: Outputs) -> str:
    return f"labkit features: {outputs.input}"


def main() -> None:
    """Entry point for `flink run -pym labkit.engines.flink_job --topic T [--tag X]`."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--topic", required=True)
    parser.add_argument("--tag", default="")
    parser.add_argument("--group", default="")
    parser.add_argument("--parallelism", type=int, default=1)
    args = parser.parse_args()
    outputs = Outputs(args.topic, args.tag)
    env = StreamExecutionEnvironment.get_execution_environment(with_job_settings(Configuration()))
    # `flink run` submits to the standalone cluster, whose address of the broker may differ.
    execute(env, outputs, args.group or outputs.group("flink"), args.parallelism,
            on_cluster=True)


if __name__ == "__main__":
    # Run by `-pym`, this file is `__main__`, whose classes cloudpickle would copy by
    # value, module globals and all (some unpicklable). The importable module's are
    # pickled by reference, and the TaskManager imports them from labkit.
    from labkit.engines import flink_job

    flink_job.main()
