"""The Flink SQL job on a stream with late events: every input message accounted for, and
the rows dropped behind the watermark exactly those the watermark model predicts."""

import pytest

import labkit as lk
from labkit import engines, parity, serde
from labkit.engines import flink_sql
from labkit.engines.watermarks import late_rows
from labkit.runs import RunReport

pytestmark = pytest.mark.integration

EVENTS = 2_000
# A tenth of the events up to 5 minutes out of order, far beyond the 30 s watermark delay.
# One partition: the source reads it in offset order, so the input alone decides which
# rows are late (with two, Kafka's fetches decide how the source interleaves them).
SHAPE = {"n_cards": 50, "late_share": 0.1, "jitter_ms": 5 * 60 * 1000}
DELAY_MS = flink_sql.WATERMARK_DELAY_S * 1000


@pytest.fixture(scope="module")
def stream() -> str:
    topic = lk.topics.fresh_topic("it-flink-sql-late", partitions=1)
    assert lk.generate.produce(topic, EVENTS, fmt="confluent", **SHAPE) == EVENTS
    return topic


@pytest.fixture(scope="module")
def sql_run(stream) -> RunReport:
    return engines.run("flink-sql", stream, tag=".late")


@pytest.fixture(scope="module")
def events(stream) -> list[dict]:
    """The input as the job read it: one partition, in offset order."""
    return serde.decode_records(lk.topics.read_all(stream), serde.ConfluentDecoder())


@pytest.fixture(scope="module")
def dropped(stream, sql_run) -> list[dict]:
    return flink_sql.dropped_rows(flink_sql.sql_outputs(stream, ".late"))


def test_the_run_balances_with_its_drops_counted(sql_run):
    assert sql_run.dropped > 0
    assert sql_run.input_messages == EVENTS
    assert sql_run.feature_records + sql_run.dropped == EVENTS
    assert sql_run.balanced, str(sql_run)
    assert f"dropped behind the watermark {sql_run.dropped:,} -> balanced" in str(sql_run)


def test_the_drops_are_the_rows_the_model_predicts(events, sql_run, dropped):
    predicted = late_rows({0: [event["timestamp"] for event in events]}, delay_ms=DELAY_MS)
    assert len(dropped) == sql_run.dropped == len(predicted)
    assert {row["txn_id"] for row in dropped} == {events[index]["txn_id"]
                                                  for _, index in predicted}


def test_each_drop_met_the_watermark_of_the_rows_before_it(events, dropped):
    """Emitted on every event, the watermark a row meets is the newest time before it
    minus the delay, to the millisecond."""
    newest, met = events[0]["timestamp"], {}
    for event in events[1:]:
        met[event["txn_id"]] = newest - DELAY_MS
        newest = max(newest, event["timestamp"])
    assert all(row["watermark"] == met[row["txn_id"]] >= row["timestamp"] for row in dropped)


def test_every_event_is_either_a_feature_row_or_dropped(stream, events, dropped):
    features = {row["txn_id"] for row in parity.sql_rows(flink_sql.sql_outputs(stream, ".late"))}
    late = {row["txn_id"] for row in dropped}
    assert not features & late
    assert features | late == {event["txn_id"] for event in events}
