"""Hostile input never stops the pipeline: every bad message is dead-lettered for its reason.

The tests marked `integration` run thousands of labelled hostile and valid
messages through every engine on the live stack: each reads them all, balances,
and dead-letters each hostile message whole, at its source, for the reason its
kind demands; the engines agree letter by letter. The Hypothesis tests fuzz
`processing.handle` alone (schemaless Avro, no stack): whatever the bytes, it
returns features or a dead letter and never raises.
"""

from __future__ import annotations

import copy
import functools
import math
from collections import Counter
from collections.abc import Callable
from typing import NamedTuple

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import labkit as lk
from labkit import engines, generate, parity, serde
from labkit.engines import flink_sql
from labkit.errors import LabError
from labkit.features import FEATURE_NAMES, WINDOW_1H_MS, CardWindow
from labkit.processing import DeadLetter, Source, handle
from labkit.runs import Outputs, RunReport, read_dead_letters
from labkit.topics import Record

COUNT = 4_000
# The reason each hostile kind must be dead-lettered for.
EXPECTED_REASON = {
    "truncated": "undecodable", "empty": "undecodable", "json": "undecodable",
    "wrong_magic": "undecodable", "null": "undecodable", "random_bytes": "undecodable",
    "unknown_schema": "undecodable", "oversized": "oversized", "wrong_key": "invalid",
    "non_finite_amount": "invalid", "huge_amount": "invalid",
}
REASONS = {"oversized", "undecodable", "invalid", "late"}
# The engines of the feature contract, and the SQL engine: it checks and dead-letters
# like them, and drops what is behind its watermark (its late topic) instead of `late`.
CONTRACT_ENGINES = ("simple", "flink", "flink-jvm")
ENGINES = (*CONTRACT_ENGINES, "flink-sql")


def test_every_hostile_kind_has_an_expected_reason():
    assert set(EXPECTED_REASON) == set(generate.HOSTILE_KINDS)


# -- live: thousands of messages through every engine --------------------------------

class Hostile(NamedTuple):
    """The hostile topic, what was produced, and each message by where it landed."""

    topic: str
    sent: Counter[str]  # kind -> messages produced
    originals: dict[tuple[int, int], tuple[str, Record]]  # (partition, offset) -> (kind, record)


class HostileRun(NamedTuple):
    engine: str
    outputs: Outputs
    report: RunReport
    letters: dict[tuple[int, int], DeadLetter]  # by source (partition, offset)


@pytest.fixture(scope="module")
def hostile() -> Hostile:
    """4,000 messages, a fifth of them hostile, on 3 partitions."""
    topic = lk.topics.fresh_topic("it-hostile", partitions=3)
    sent = generate.produce_hostile(topic, COUNT, bad_share=0.2, n_cards=100, late_share=0.03,
                                    jitter_ms=2 * WINDOW_1H_MS)
    records = lk.topics.read_all(topic)
    originals = {(r.partition, r.offset): (dict(r.headers)[generate.KIND_HEADER].decode(), r)
                 for r in records}
    return Hostile(topic, sent, originals)


@pytest.fixture(scope="module")
def run_on_hostile(hostile) -> Callable[[str], HostileRun]:
    """An engine over the hostile topic, run once (it must not raise, whatever the input)."""
    @functools.cache
    def run(engine: str) -> HostileRun:
        report = engines.run(engine, hostile.topic, tag=f".{engine}")
        letters = {(d.source.partition, d.source.offset): d
                   for d in read_dead_letters(report.outputs)}
        return HostileRun(engine, report.outputs, report, letters)
    return run


@pytest.fixture(params=ENGINES)
def hostile_run(request, run_on_hostile) -> HostileRun:
    return run_on_hostile(request.param)


@pytest.mark.integration
def test_the_run_reads_every_message_and_balances(hostile, hostile_run):
    report = hostile_run.report
    assert report.input_messages == COUNT == sum(hostile.sent.values())
    assert report.balanced, str(report)
    assert set(hostile.sent) == {"valid", *generate.HOSTILE_KINDS}
    assert set(report.dead_letters) <= REASONS


@pytest.mark.integration
def test_every_hostile_message_is_dead_lettered_whole_at_its_source_for_its_reason(
        hostile, hostile_run):
    bad = {where: (kind, record) for where, (kind, record) in hostile.originals.items()
           if kind != "valid"}
    assert len(bad) == COUNT - hostile.sent["valid"]
    for where, (kind, record) in bad.items():
        letter = hostile_run.letters.get(where)
        assert letter is not None, f"{kind} message at {where} has no dead letter"
        assert letter.source.topic == hostile.topic
        assert letter.reason == EXPECTED_REASON[kind], (kind, letter.error)
        assert (letter.key, letter.value) == (record.key, record.value), kind
        if kind == "unknown_schema":  # rejected by the live registry, not by Avro
            assert str(generate.UNKNOWN_SCHEMA_ID) in letter.error


@pytest.mark.integration
def test_every_valid_message_gives_features_or_is_late(hostile, hostile_run):
    """Exactly one of the two: a late event changes no window, so it has no features.
    Late is a `late` dead letter for the contract's engines, a row of the late topic
    (behind the watermark) for the SQL engine."""
    if hostile_run.engine == "flink-sql":
        features = {row["txn_id"] for row in parity.sql_rows(hostile_run.outputs)}
        late = {row["txn_id"] for row in flink_sql.dropped_rows(hostile_run.outputs)}
    else:
        features = {record["txn_id"] for record in parity.feature_log(hostile_run.outputs)}
        late = {letter.source for letter in hostile_run.letters.values()
                if letter.reason == "late"}
    decode = serde.ConfluentDecoder()
    valid = {Source(hostile.topic, *where): decode(record.value)["txn_id"]
             for where, (kind, record) in hostile.originals.items() if kind == "valid"}
    assert len(valid) == hostile.sent["valid"]
    for source, txn_id in valid.items():
        is_late = (txn_id if hostile_run.engine == "flink-sql" else source) in late
        assert (txn_id in features) != is_late, (source, txn_id)
    assert late, "the mix should hold late events"
    assert features <= set(valid.values()), "a hostile message produced a feature record"


@pytest.mark.integration
def test_the_engines_dead_letter_the_same_messages_for_the_same_reasons(hostile,
                                                                      run_on_hostile):
    """Letter by letter against the simple engine's: the contract's engines to the error
    text, the SQL engine (its own decoder, its errors in its own words) to the reason;
    `late` is the contract's alone."""
    def letters(engine: str, *, with_error: bool) -> set[tuple]:
        return {(d.source, d.reason, d.key, d.value, d.error if with_error else "")
                for d in run_on_hostile(engine).letters.values() if d.reason != "late"}

    reference = letters("simple", with_error=True)
    assert len(reference) == COUNT - hostile.sent["valid"]
    for engine in CONTRACT_ENGINES[1:]:
        assert letters(engine, with_error=True) == reference, engine
    assert letters("flink-sql", with_error=False) == {(*letter[:4], "") for letter in reference}


@pytest.mark.integration
def test_a_value_above_kafkas_limit_is_a_clear_lab_error():
    topic = lk.topics.fresh_topic("it-too-large")
    with pytest.raises(LabError, match=r"(?i)too large|size"):
        lk.topics.produce(topic, [(b"card-0001", b"x" * (2 * 1024 * 1024))])


# -- no stack: fuzzing the per-message core -----------------------------------------

SOURCE = Source("payments", 1, 7)
FIRST = next(generate.transactions(1))
KEY = FIRST["card_id"].encode()
ENCODED = serde.encode_avro(FIRST)


def _window_with_first() -> CardWindow:
    window, _ = handle(None, KEY, ENCODED, SOURCE, serde.decode_avro)
    return window


def _check_handled(window: CardWindow | None, key: bytes | None,
                   value: bytes | None) -> dict | DeadLetter:
    """`handle` returns features or a dead letter that keeps the message; bad input changes
    no window. Returns what `handle` returned."""
    before = copy.deepcopy(window)
    after, out = handle(window, key, value, SOURCE, serde.decode_avro)
    if isinstance(out, DeadLetter):
        assert out.reason in REASONS
        assert (out.key, out.value, out.source) == (key, value, SOURCE)
        assert after == before
    else:
        assert set(out) == set(FEATURE_NAMES)
        assert out["card_id"].encode() == key
    return out


@settings(max_examples=300, deadline=None)
@given(key=st.none() | st.just(KEY) | st.binary(max_size=24),
       value=st.none() | st.binary(max_size=600), known_card=st.booleans())
def test_arbitrary_bytes_become_features_or_a_dead_letter(key, value, known_card):
    _check_handled(_window_with_first() if known_card else None, key, value)


@settings(max_examples=300, deadline=None)
@given(edits=st.lists(st.tuples(st.integers(0, len(ENCODED) - 1), st.integers(0, 255)),
                      min_size=1, max_size=6),
       keep=st.integers(1, len(ENCODED)))
def test_a_damaged_transaction_becomes_features_or_a_dead_letter(edits, keep):
    # Small edits to a real encoding reach deeper than random bytes: past the first
    # fields, into lengths, unions, enums and the metadata map.
    damaged = bytearray(ENCODED)
    for position, byte in edits:
        damaged[position] = byte
    _check_handled(_window_with_first(), KEY, bytes(damaged[:keep]))


@settings(max_examples=300, deadline=None)
@given(amount=st.floats(), shift_ms=st.integers(-10 * WINDOW_1H_MS, 10 * WINDOW_1H_MS),
       country=st.none() | st.text(max_size=3))
def test_any_well_formed_transaction_becomes_features_or_a_dead_letter(amount, shift_ms,
                                                                      country):
    # The card already has an event, so the window's sums and variance are exercised.
    txn = {**FIRST, "amount": amount, "timestamp": FIRST["timestamp"] + shift_ms,
           "geo_country": country, "txn_id": "fuzz"}
    out = _check_handled(_window_with_first(), KEY, serde.encode_avro(txn))
    if not math.isfinite(amount):
        assert out.reason == "invalid"
