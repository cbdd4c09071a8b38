"""`processing.handle`: every path a message can take, without Kafka."""

import pytest

from labkit import generate, serde
from labkit.features import WINDOW_1H_MS
from labkit.processing import DeadLetter, Source, handle
from labkit.runs import Outputs, RunReport

SOURCE = Source("payments", 0, 41)
FIRST = next(generate.transactions(1))
KEY = FIRST["card_id"].encode()


def test_a_valid_message_creates_the_window_and_yields_features():
    window, out = handle(None, KEY, serde.encode_avro(FIRST), SOURCE, serde.decode_avro)
    assert window.card_id == FIRST["card_id"]
    assert out["txn_id"] == FIRST["txn_id"]
    assert out["seconds_since_prev"] is None


def test_undecodable_bytes_become_a_located_dead_letter_and_change_nothing():
    window, out = handle(None, KEY, b"\x07garbage", SOURCE, serde.decode_avro)
    assert window is None
    assert isinstance(out, DeadLetter)
    assert (out.reason, out.key, out.value) == ("undecodable", KEY, b"\x07garbage")
    assert "payments[0]@41" in out.error
    assert out.headers()["dlq.offset"] == b"41"


def test_a_late_event_is_dead_lettered_and_leaves_the_window_alone():
    window, _ = handle(None, KEY, serde.encode_avro(FIRST), SOURCE, serde.decode_avro)
    late = {**FIRST, "timestamp": FIRST["timestamp"] - WINDOW_1H_MS}
    events_before = list(window.events)
    window, out = handle(window, KEY, serde.encode_avro(late), SOURCE, serde.decode_avro)
    assert out.reason == "late"
    assert window.events == events_before


@pytest.mark.parametrize(("key", "change", "why"), [
    (b"card-9999", {}, "is not the event's card_id"),
    (None, {}, "is not the event's card_id"),
    (KEY, {"amount": float("nan")}, "not a finite number"),
    (KEY, {"amount": float("inf")}, "not a finite number"),
])
def test_decodable_but_unusable_events_are_invalid_dead_letters(key, change, why):
    value = serde.encode_avro({**FIRST, **change})
    window, out = handle(None, key, value, SOURCE, serde.decode_avro)
    assert window is None
    assert out.reason == "invalid"
    assert why in out.error


def test_outputs_are_named_after_the_input_and_tag():
    outputs = Outputs("payments", ".flink")
    assert (outputs.features, outputs.dlq, outputs.redis_prefix) == (
        "payments.features.flink", "payments.dlq.flink", "features:payments.flink:")


def test_only_the_sql_engine_writes_a_late_topic():
    from labkit.engines.flink_sql import sql_outputs

    sql = sql_outputs("payments", ".a")
    assert sql.late == "payments.late-sql.a"
    assert sql.answers == ("payments.features-sql.a", "payments.dlq-sql.a", sql.late)
    assert (sql.tag, sql.redis_prefix) == (".a", "features:payments-sql.a:")  # the tag as given
    assert Outputs("payments", ".flink").answers == ("payments.features.flink",
                                                     "payments.dlq.flink")


PAYMENTS = Outputs("payments")


def test_a_report_balances_only_when_every_message_is_accounted_for():
    assert RunReport("simple", 10, 7, {"late": 2, "undecodable": 1}, outputs=PAYMENTS).balanced
    assert not RunReport("simple", 10, 7, {"late": 2}, outputs=PAYMENTS).balanced


def test_rows_dropped_behind_the_watermark_are_accounted_for():
    report = RunReport("flink-sql", 10, 7, {}, dropped=3, outputs=PAYMENTS)
    assert report.balanced
    assert str(report) == ("flink-sql: input 10 = feature records 7 + dead letters 0 (none)"
                           " + dropped behind the watermark 3 -> balanced")
    assert RunReport("flink-sql", 10, 7, {}, dropped=2, outputs=PAYMENTS).unaccounted == 1
    assert "dropped" not in str(RunReport("simple", 10, 10, {}, outputs=PAYMENTS))


def test_a_report_names_where_the_run_wrote():
    with pytest.raises(TypeError, match="outputs"):
        RunReport("simple", 10, 10, {})  # type: ignore[call-arg]
    assert RunReport("simple", 10, 10, {}, outputs=PAYMENTS).outputs.features == \
        "payments.features"
