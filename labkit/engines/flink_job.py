"""The Flink engines' job: the same `processing.handle`, inside a PyFlink DataStream job.

Kafka in and out through Flink's Kafka SQL connector (raw bytes, with the
source topic/partition/offset as metadata columns and dead-letter headers as a
writable metadata column); in between, one fused Python operator per record:
a `KeyedProcessFunction`, keyed by the Kafka key (= card_id; `processing.handle`
dead-letters any other), that decodes, updates the card's `CardWindow` (kept
in Flink keyed state), writes Redis and encodes the feature record. The key is
computed in SQL, in the JVM, so each record crosses into Python exactly once.

With `decode_in_jvm` (the `flink-jvm` engine) the Avro is decoded in the JVM
too, before Python: `DecodeTransactions` (jvm/src, Flink's avro-confluent
classes) adds the transaction's fields to every message, and Python runs only
the checks and the per-card update. A message the JVM cannot decode arrives
with NULL fields and its original bytes, and takes the contract's own path
(decoded in Python, dead-lettered with the same reason and error as in every
engine), so the outputs are the same either way.

This module imports PyFlink at the top, so only `labkit.engines.flink` imports it,
and only inside a running job. Run on a cluster as
`flink run -j <connector jar> -pym labkit.engines.flink_job --topic T [--parallelism N]`
(what `labkit process --engine flink --flink-cluster` does).
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable, Mapping
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
from ..settings import get_settings
from ..sinks import RedisFeatureSink
from ..stack import flink_settings
from .flink_tables import (
    JVM_FUNCTIONS,
    MESSAGE_COLUMNS,
    RAW_BYTES,
    dead_letter_table,
    decoder_call,
    kafka_table,
    parse_end_offsets,
    source_end,
)

BYTES = Types.PRIMITIVE_ARRAY(Types.BYTE())
# A message as the Python operator gets it: its bytes and where it came from ...
MESSAGE_FIELDS = {"k": BYTES, "v": BYTES, "topic": Types.STRING(), "partition": Types.INT(),
                  "offset": Types.LONG()}
# ... and, decoded in the JVM, the transaction's fields the contract reads (all NULL for a
# message DecodeTransactions could not decode). `processing.REQUIRED_FIELDS`, typed.
DECODED_FIELDS = {"txn_id": Types.STRING(), "card_id": Types.STRING(),
                  "amount": Types.DOUBLE(), "mcc": Types.STRING(),
                  "geo_country": Types.STRING(), "timestamp": Types.LONG(),
                  "is_fraud": Types.BOOLEAN()}
MESSAGE = Types.ROW_NAMED(["k", "v"], [BYTES, BYTES])
DEAD_LETTER = Types.ROW_NAMED(["k", "v", "headers"],
                              [BYTES, BYTES, Types.MAP(Types.STRING(), BYTES)])
DEAD_LETTERS = OutputTag("dead-letters", DEAD_LETTER)
CHECKPOINT_INTERVAL_MS = 5_000
# Redis gets the newest record per card once per batch, as from the simple engine: per
# record, a round trip would cost more than all the rest of the work on the record, and
# the more records a batch holds, the more of them are a newer record of a card already
# in it (only the newest is written). At most this many records...
REDIS_BATCH = 10_000
# ...and at the latest this long after a batch's first record (per-card timers), so
# Redis lags little when records trickle in, and a restored job writes what it owes.
REDIS_MAX_DELAY_MS = 1_000


def _keyed_message(decode_in_jvm: bool):
    """Row(card, message): the type of what the keyed Python operator receives."""
    fields = {**MESSAGE_FIELDS, **(DECODED_FIELDS if decode_in_jvm else {})}
    return Types.ROW_NAMED(["card", "message"], [
        Types.STRING(), Types.ROW_NAMED(list(fields), list(fields.values()))])


def _keyed_by_card(decode_in_jvm: bool, registry: str) -> str:
    """Row(key, message), the shape PyFlink's own `key_by` gives a keyed Python operator,
    but built in SQL: PyFlink's `key_by` would call a Python function per record just to
    compute the key. CAST(k AS STRING) decodes UTF-8; it is one-to-one on the keys that
    can own a window (a card_id's UTF-8), and any other key is dead-lettered by `handle`.

    With `decode_in_jvm`, each message also carries the fields DecodeTransactions
    read from its bytes (once per message: a lateral table, not a scalar function
    the planner might call once per field).
    """
    columns = ["`k`", "`v`", "`topic`", "`partition`", "`offset`"]
    join = ""
    if decode_in_jvm:  # the fields only: Python finds the reason of a message without them
        columns += [f"t.`{name}`" for name in DECODED_FIELDS]
        join = (f" LEFT JOIN LATERAL TABLE({decoder_call('decode_transactions', 'v', registry)})"
                " AS t ON TRUE")
    return (f"SELECT COALESCE(CAST(`k` AS STRING), '') AS card, "
            f"ROW({', '.join(columns)}) AS message FROM source{join}")


def _given(fields: tuple) -> Callable[[bytes], dict]:
    """A 'decoder' that returns what the JVM decoded, whatever the bytes: `processing`
    then checks and updates exactly as after its own decoding."""
    txn = dict(zip(DECODED_FIELDS, fields, strict=True))
    return lambda _value: txn


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
    crash right after a checkpoint that already covers its records. Hence the
    card's state is a pair: its window and its newest record not yet known to be
    in Redis (one state, so one update per record), with a processing-time timer
    (checkpointed too): the timer writes that record unless this instance
    already has, then forgets it. After a restore, the restored timers fire and
    write whatever the checkpoint still owed Redis.
    """

    def __init__(self, schema_id: int, redis_prefix: str) -> None:
        self.schema_id = schema_id
        self.redis_prefix = redis_prefix

    def open(self, runtime_context: RuntimeContext) -> None:
        # (CardWindow, the newest record not yet known to be in Redis, or None)
        self.state = runtime_context.get_state(
            ValueStateDescriptor("card", Types.PICKLED_BYTE_ARRAY()))
        self.windows: dict[str, CardWindow] = {}
        self.armed: set[str] = set()  # cards with a timer pending (in this instance)
        self.decode = serde.ConfluentDecoder()
        self.encode = serde.confluent_encoder(self.schema_id, "features.v1")
        self.redis = RedisBatch(self.redis_prefix)

    def process_element(self, message: Row, ctx: KeyedProcessFunction.Context):
        key, value, topic, partition, offset, *decoded = message
        card = ctx.get_current_key()
        window = self.windows.get(card) or (self.state.value() or (None, None))[0]
        # Decoded in the JVM (flink-jvm), unless it could not be: then here, the contract's way.
        decode = _given(decoded) if decoded and decoded[0] is not None else self.decode
        window, out = processing.handle(window, key, value,
                                        processing.Source(topic, partition, offset), decode)
        if isinstance(out, processing.DeadLetter):  # the window is unchanged
            yield DEAD_LETTERS, Row(out.key, out.value, out.headers())
            return
        self.windows[card] = window
        self.state.update((window, out))
        self.redis.add(card, out)
        if card not in self.armed:
            self._arm(card, ctx, ctx.timer_service().current_processing_time()
                      + REDIS_MAX_DELAY_MS)
        yield Row(key, self.encode(out))  # positional: faster than naming the fields

    def _arm(self, card: str, ctx: KeyedProcessFunction.Context, at_ms: float) -> None:
        self.armed.add(card)
        ctx.timer_service().register_processing_time_timer(int(at_ms))

    def on_timer(self, timestamp: int, ctx: KeyedProcessFunction.OnTimerContext):
        """Make sure the card's newest record is in Redis, then forget it."""
        card = ctx.get_current_key()
        self.armed.discard(card)
        window, features = self.state.value()
        now_ms = ctx.timer_service().current_processing_time()
        if features is not None:
            if card in self.redis.pending and now_ms < self.redis.due_ms():
                self._arm(card, ctx, self.redis.due_ms())  # its batch is young: wait for it
            else:
                if self.redis.written.get(card) != features:
                    self.redis.pending[card] = features  # also what a restore still owes
                    self.redis.flush()
                self.state.update((window, None))
        return ()  # no output (PyFlink iterates what on_timer returns)

    def close(self) -> None:
        self.redis.flush()


def _keyed_stream(t_env: StreamTableEnvironment, decode_in_jvm: bool,
                  registry: str) -> KeyedStream:
    """The source as a KeyedStream of messages, keyed by card in the JVM.

    PyFlink has no public way to key by a field without a Python key selector;
    this is what its `key_by` does after calling the selector (KeyByKeySelector
    takes field 0 of Row(key, message) as the key).
    """
    if decode_in_jvm:
        for statement in JVM_FUNCTIONS:
            t_env.execute_sql(statement)
    # A RowTypeInfo, as Python keyed operators require (to_data_stream gives another type).
    stream = t_env.to_append_stream(t_env.sql_query(_keyed_by_card(decode_in_jvm, registry)),
                                    _keyed_message(decode_in_jvm))
    j_keyed = stream._j_data_stream.keyBy(  # private: see the docstring
        get_gateway().jvm.KeyByKeySelector(), Types.ROW([Types.STRING()]).get_java_type_info())
    return KeyedStream(j_keyed, stream.get_type(), stream)


def build(env: StreamExecutionEnvironment, outputs: Outputs, group: str, *,
          until_end: bool = True, end_offsets: Mapping[int, int] | None = None,
          on_cluster: bool = False, decode_in_jvm: bool = False):
    """Add the pipeline to `env`; return the statement set that attaches the Kafka sinks.

    `until_end`: read to the end offsets seen at start; else follow the input.
    `end_offsets`: read each partition up to its given offset instead, waiting for input
    that has not arrived yet.
    `on_cluster`: for the standalone cluster (its address of the broker and registry).
    `decode_in_jvm`: the flink-jvm engine (Avro decoded before Python; see above).
    """
    t_env = StreamTableEnvironment.create(env)
    table = partial(kafka_table, on_cluster=on_cluster)
    t_env.execute_sql(table(
        "source", outputs.input, MESSAGE_COLUMNS,
        {**RAW_BYTES, "properties.group.id": group, "scan.startup.mode": "earliest-offset",
         **source_end(until_end, end_offsets)}))
    t_env.execute_sql(table("features_sink", outputs.features, ["`k` BYTES", "`v` BYTES"],
                            RAW_BYTES))
    t_env.execute_sql(dead_letter_table("dlq_sink", outputs.dlq, on_cluster=on_cluster))
    schema_id = schemas.register(f"{outputs.features}-value", "features.v1")
    settings = get_settings()
    registry = settings.for_flink_cluster("registry") if on_cluster else settings.registry
    features = _keyed_stream(t_env, decode_in_jvm, registry).process(
        CardFeatures(schema_id, outputs.redis_prefix), output_type=MESSAGE)
    statements = t_env.create_statement_set()
    statements.add_insert("features_sink", t_env.from_data_stream(features))
    statements.add_insert("dlq_sink",
                          t_env.from_data_stream(features.get_side_output(DEAD_LETTERS)))
    return statements


def configure(config: Configuration, connector_jar: str, *more_jars: str) -> Configuration:
    """`config` with the lab's job settings and `connector_jar` (and `more_jars`) added:
    for a job built by hand on its own Configuration (notebook 08 does)."""
    config.add_all(flink_settings.configuration(flink_settings.lab_job(connector_jar, *more_jars)))
    return config


def _prepared(env: StreamExecutionEnvironment, outputs: Outputs, group: str, parallelism: int,
              until_end: bool, on_cluster: bool = False, decode_in_jvm: bool = False,
              end_offsets: Mapping[int, int] | None = None) -> StreamExecutionEnvironment:
    env.set_parallelism(parallelism)
    env.enable_checkpointing(CHECKPOINT_INTERVAL_MS)
    build(env, outputs, group, until_end=until_end, end_offsets=end_offsets,
          on_cluster=on_cluster, decode_in_jvm=decode_in_jvm).attach_as_datastream()
    return env


def execute(env: StreamExecutionEnvironment, outputs: Outputs, group: str,
            parallelism: int = 1, *, on_cluster: bool = False, decode_in_jvm: bool = False,
            end_offsets: Mapping[int, int] | None = None):
    """Run the job to the end of the input (or to `end_offsets`); return Flink's
    JobExecutionResult (timings)."""
    return _prepared(env, outputs, group, parallelism, True, on_cluster, decode_in_jvm,
                     end_offsets).execute(_name(outputs))


def start(env: StreamExecutionEnvironment, outputs: Outputs, group: str, parallelism: int = 1,
          *, decode_in_jvm: bool = False):
    """Start the job following the input (no end) in the background; return its JobClient."""
    return _prepared(env, outputs, group, parallelism, False,
                     decode_in_jvm=decode_in_jvm).execute_async(_name(outputs))


def _name(outputs: Outputs) -> str:
    return f"labkit features: {outputs.input}"


def main() -> None:
    """Entry point for `flink run -pym labkit.engines.flink_job --topic T [--tag X]`."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--topic", required=True)
    parser.add_argument("--tag", default="")
    parser.add_argument("--group", default="")
    parser.add_argument("--parallelism", type=int, default=1)
    parser.add_argument("--decode-in-jvm", action="store_true")
    parser.add_argument("--end-offsets", type=parse_end_offsets, default=None,
                        help="PARTITION:OFFSET,... read up to these, waiting for them")
    args = parser.parse_args()
    outputs = Outputs(args.topic, args.tag)
    job = flink_settings.feature_job(get_settings(), decode_in_jvm=args.decode_in_jvm,
                                     submitted=True)
    env = StreamExecutionEnvironment.get_execution_environment(flink_settings.configuration(job))
    # `flink run` submits to the standalone cluster, whose address of the broker may differ.
    execute(env, outputs, args.group or outputs.group("flink"), args.parallelism,
            on_cluster=True, decode_in_jvm=args.decode_in_jvm, end_offsets=args.end_offsets)


if __name__ == "__main__":
    # Run by `-pym`, this file is `__main__`, whose classes cloudpickle would copy by
    # value, module globals and all (some unpicklable). The importable module's are
    # pickled by reference, and the TaskManager imports them from labkit.
    from labkit.engines import flink_job

    flink_job.main()
