"""Hostile input never stops the pipeline: every bad message is dead-lettered for its reason.

Thousands of labelled hostile and valid messages run through every engine on the
live stack: each reads them all, balances, and dead-letters each hostile message
whole, at its source, for the reason the per-message core (`processing.handle`)
gives it; the engines agree letter by letter. tests/unit/test_handle_fuzz.py holds
that core to the reason each hostile kind demands, and fuzzes it, without a stack.
"""

from __future__ import annotations

import functools
from collections import Counter
from collections.abc import Callable
from typing import NamedTuple

import pytest

import labkit as lk
from labkit import engines, generate, parity, serde
from labkit.engines import flink_sql
from labkit.errors import LabError
from labkit.features import WINDOW_1H_MS
from labkit.processing import DeadLetter, Source, handle
from labkit.runs import Outputs, RunReport, read_dead_letters
from labkit.topics import Record

COUNT = 4_000
REASONS = {"oversized", "undecodable", "invalid", "late"}
# The engines of the feature contract, and the SQL engine: it checks and dead-letters
# like them, and drops what is behind its watermark (its late topic) instead of `late`.
CONTRACT_ENGINES = ("simple", "flink", "flink-jvm")
ENGINES = (*CONTRACT_ENGINES, "flink-sql")


class Hostile(NamedTuple):
    """The hostile topic, what was produced, and each message by where it landed."""

    topic: str
    sent: Counter[str]  # kind -> messages produced
    originals: dict[tuple[int, int], tuple[str, Record]]  # (partition, offset) -> (kind, record)
    # (partition, offset) -> the reason the per-message core gives each hostile message
    reasons: dict[tuple[int, int], str]


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
    decode = serde.ConfluentDecoder()  # the live registry, as the engines ask it
    reasons = {}
    for where, (kind, record) in originals.items():
        if kind != "valid":
            _, letter = handle(None, record.key, record.value, Source(topic, *where), decode)
            assert isinstance(letter, DeadLetter), f"the core gives a {kind} message features"
            reasons[where] = letter.reason
    return Hostile(topic, sent, originals, reasons)


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
        assert letter.reason == hostile.reasons[where], (kind, letter.error)
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
