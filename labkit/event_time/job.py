"""The event-time job of notebook 08, in PyFlink's DataStream API.

Kafka (one source subtask per partition) -> decode in Python -> event time from
the record's `timestamp` field, watermarks per subtask (bounded out-of-orderness,
optionally with idleness) -> a tracer that notes, per event, when it was seen and
the watermark it met -> a tumbling event-time window counting events (all keys
in one window: the lesson is the clock, not the grouping), with allowed lateness
and a side output for events too late for it -> everything as JSON lines into one
output topic, which `labkit.event_time` reads back.

This module imports PyFlink at the top: only `labkit.event_time` imports it,
inside `pyflink_job()`.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator

from pyflink.common import Duration, Row, Time, Types, WatermarkStrategy
from pyflink.common.serialization import ByteArraySchema, SimpleStringSchema
from pyflink.common.watermark_strategy import TimestampAssigner
from pyflink.datastream import (
    DataStream,
    MapFunction,
    OutputTag,
    ProcessFunction,
    ProcessWindowFunction,
    RuntimeContext,
    StreamExecutionEnvironment,
)
from pyflink.datastream.connectors.kafka import (
    KafkaOffsetsInitializer,
    KafkaRecordSerializationSchema,
    KafkaSink,
    KafkaSource,
)
from pyflink.datastream.window import TumblingEventTimeWindows

from .. import serde
from ..settings import get_settings
from . import Options, no_watermark

TRACE = OutputTag("trace", Types.STRING())


def event_type() -> Types:
    """Row(txn_id, event_ms), made afresh each time: PyFlink pickles the window's late-data
    tag with its type, and a type already handed to Java no longer pickles."""
    return Types.ROW_NAMED(["txn_id", "event_ms"], [Types.STRING(), Types.LONG()])


class Decode(MapFunction):
    """Confluent Avro bytes -> Row(txn_id, event_ms). A message that does not decode fails
    the job: the notebook's topics hold valid transactions only."""

    def open(self, runtime_context: RuntimeContext) -> None:
        self.decode = serde.ConfluentDecoder()

    def map(self, value: bytes) -> Row:
        txn = self.decode(value)
        return Row(txn_id=txn["txn_id"], event_ms=txn["timestamp"])


class EventTime(TimestampAssigner):
    """An event's time is its `timestamp` field, taken to be in milliseconds."""

    def extract_timestamp(self, value: Row, record_timestamp: int) -> int:
        return value.event_ms


class Trace(ProcessFunction):
    """Pass every event on, and note on a side output when it was seen and the watermark
    it met: the one the window operator meets too (the tracer feeds it, one channel)."""

    def process_element(self, value: Row, ctx: ProcessFunction.Context) -> Iterator:
        timers = ctx.timer_service()
        yield TRACE, json.dumps({"kind": "seen", "txn_id": value.txn_id,
                                 "event_ms": value.event_ms,
                                 "seen_ms": timers.current_processing_time(),
                                 "watermark_ms": no_watermark(timers.current_watermark())})
        yield value


class CountWindow(ProcessWindowFunction):
    """One JSON line per firing: the window, how many events it holds, the watermark that
    fired it and when (an event admitted by allowed lateness fires the window again)."""

    def process(self, key: int, context: ProcessWindowFunction.Context,
                elements: Iterable[Row]) -> Iterator[str]:
        window = context.window()
        yield json.dumps({"kind": "window", "start_ms": window.start, "end_ms": window.end,
                          "count": sum(1 for _ in elements),
                          "watermark_ms": no_watermark(context.current_watermark()),
                          "fired_ms": context.current_processing_time()})


def late_line(event: Row) -> str:
    return json.dumps({"kind": "late", "txn_id": event.txn_id, "event_ms": event.event_ms})


def watermark_strategy(options: Options) -> WatermarkStrategy:
    """Bounded out-of-orderness, optionally with idleness, timestamps from `EventTime`.

    The timestamp assigner goes last: PyFlink's `with_idleness` returns a new strategy
    without it, and a strategy without a Python assigner keeps the Kafka record's time.
    """
    strategy = WatermarkStrategy.for_bounded_out_of_orderness(Duration.of_millis(options.delay_ms))
    if options.idle_ms is not None:
        strategy = strategy.with_idleness(Duration.of_millis(options.idle_ms))
    return strategy.with_timestamp_assigner(EventTime())


def _source(topic: str, group: str, bounded: bool) -> KafkaSource:
    builder = (KafkaSource.builder().set_bootstrap_servers(get_settings().kafka)
               .set_topics(topic).set_group_id(group)
               .set_value_only_deserializer(ByteArraySchema())
               .set_starting_offsets(KafkaOffsetsInitializer.earliest()))
    if bounded:
        builder.set_bounded(KafkaOffsetsInitializer.latest())
    return builder.build()


def _sink(output: str) -> KafkaSink:
    return (KafkaSink.builder().set_bootstrap_servers(get_settings().kafka)
            .set_record_serializer(KafkaRecordSerializationSchema.builder().set_topic(output)
                                   .set_value_serialization_schema(SimpleStringSchema())
                                   .build())
            .build())


def _stamped(env: StreamExecutionEnvironment, topic: str, output: str, options: Options, *,
             partitions: int, bounded: bool) -> DataStream:
    """Events with timestamps and per-partition watermarks: each of the `partitions` source
    subtasks reads one partition, and its watermark generator sees only that partition."""
    env.set_parallelism(partitions)
    events = env.from_source(_source(topic, f"{output}-job", bounded),
                             WatermarkStrategy.no_watermarks(), "transactions")
    return (events.map(Decode(), output_type=event_type())
            .assign_timestamps_and_watermarks(watermark_strategy(options)))


def build(env: StreamExecutionEnvironment, topic: str, output: str, options: Options, *,
          partitions: int, bounded: bool) -> None:
    """Add the job to `env`: `topic` in, JSON lines (seen, window, late) into `output`."""
    stamped = _stamped(env, topic, output, options, partitions=partitions, bounded=bounded)
    # Operators take the environment's parallelism when they are made, and PyFlink's
    # assign_timestamps_and_watermarks and key_by make operators of their own: so the
    # first half is built at one subtask per partition, the rest at 1, where the tracer
    # and the window meet the same watermark (the minimum over the partitions').
    env.set_parallelism(1)
    traced = stamped.process(Trace(), output_type=event_type())
    late_tag = OutputTag("late", event_type())  # the late events, as the window got them
    windows = (traced.key_by(lambda _event: 0, key_type=Types.INT())
               .window(TumblingEventTimeWindows.of(Time.milliseconds(options.window_ms)))
               .allowed_lateness(options.allowed_lateness_ms)
               .side_output_late_data(late_tag)
               .process(CountWindow(), output_type=Types.STRING()))
    late = windows.get_side_output(late_tag).map(late_line, output_type=Types.STRING())
    traced.get_side_output(TRACE).union(windows, late).sink_to(_sink(output))
