"""Plausible wrong answers to chapter 05's exercises: each is the reference solution with one
function replaced, and `exercises/graders/ch05.py` must fail it with `fails_with` in its line."""

from __future__ import annotations

import contextlib
import math
import statistics
from fractions import Fraction

import labkit as lk
from labkit.check import wrong_answer
from labkit.topics import Record

solution = lk.check.load("05", solutions=True)


def _rank(percentile: float, n: int) -> int:
    """The exact nearest rank, from 1."""
    return max(math.ceil(Fraction(str(percentile)) * n / 100), 1)


@wrong_answer("nearest_rank", fails_with="p7 of 1..100 (shuffled): expected 7.0, got 8.0")
def rank_in_floats(values_ms: list[float], percentile: float) -> float:
    """Computes the rank as math.ceil(p / 100 * n) in floats: 7 / 100 * 100 rounds up to 8."""
    ordered = sorted(values_ms)
    return ordered[max(math.ceil(percentile / 100 * len(ordered)), 1) - 1]


@wrong_answer("nearest_rank", fails_with="p7 of 1..100 (shuffled): expected 7.0, got 8.0")
def rank_as_index(values_ms: list[float], percentile: float) -> float:
    """Uses the rank as a 0-based index: one value too high (p100 kept inside the list)."""
    ordered = sorted(values_ms)
    return ordered[min(_rank(percentile, len(ordered)), len(ordered) - 1)]


@wrong_answer("nearest_rank", fails_with="seeded latencies")
def rank_rounded(values_ms: list[float], percentile: float) -> float:
    """Rounds p / 100 * n to the nearest rank instead of rounding up."""
    ordered = sorted(values_ms)
    return ordered[max(round(percentile * len(ordered) / 100), 1) - 1]


@wrong_answer("nearest_rank", fails_with="never interpolated")
def interpolated(values_ms: list[float], percentile: float) -> float:
    """Interpolates between two values (statistics.quantiles, like numpy's default)."""
    if percentile == 100 or len(values_ms) < 2:
        return max(values_ms)
    cuts = statistics.quantiles(values_ms, n=1000, method="inclusive")
    return cuts[round(percentile * 10) - 1]


@wrong_answer("nearest_rank", fails_with="p7 of 1..100 (shuffled)")
def unsorted(values_ms: list[float], percentile: float) -> float:
    """Takes the value at that rank in the order the values came, unsorted."""
    return values_ms[_rank(percentile, len(values_ms)) - 1]


def _rate(records: int, span_ms: int) -> float:
    """`records` over `span_ms`, refusing a rate over no time."""
    if span_ms <= 0:
        raise ValueError("no span to measure")
    return records / (span_ms / 1000)


@wrong_answer("steady_throughput", fails_with="records/s over 4 broker timestamps")
def first_and_last_element(timestamps_ms: list[int]) -> float:
    """Takes the span from the first to the last element: the list is not in time order."""
    if len(timestamps_ms) < 2 or timestamps_ms[-1] == timestamps_ms[0]:
        raise ValueError("no span to measure")
    return (len(timestamps_ms) - 1) / ((timestamps_ms[-1] - timestamps_ms[0]) / 1000)


@wrong_answer("steady_throughput", fails_with="records/s over 4 broker timestamps")
def counts_the_first_output(timestamps_ms: list[int]) -> float:
    """Divides all n records by the span: the first output arrived at the start of it."""
    if len(timestamps_ms) < 2:
        raise ValueError("no span to measure")
    return _rate(len(timestamps_ms), max(timestamps_ms) - min(timestamps_ms))


@wrong_answer("steady_throughput", fails_with="records/s over 4 broker timestamps")
def per_millisecond(timestamps_ms: list[int]) -> float:
    """Divides by the span in milliseconds: records per ms, not per second."""
    if len(timestamps_ms) < 2 or max(timestamps_ms) == min(timestamps_ms):
        raise ValueError("no span to measure")
    return (len(timestamps_ms) - 1) / (max(timestamps_ms) - min(timestamps_ms))


@wrong_answer("steady_throughput", fails_with="raised ZeroDivisionError")
def no_span_unchecked(timestamps_ms: list[int]) -> float:
    """Divides without looking: one timestamp, or one millisecond, divides by zero."""
    return (len(timestamps_ms) - 1) / ((max(timestamps_ms) - min(timestamps_ms)) / 1000)


@wrong_answer("steady_throughput", fails_with="it returned 0.0")
def no_span_is_zero(timestamps_ms: list[int]) -> float:
    """Returns 0.0 when there is no span: a rate made up where there is nothing to measure."""
    if len(timestamps_ms) < 2 or max(timestamps_ms) == min(timestamps_ms):
        return 0.0
    return solution.steady_throughput(timestamps_ms)


@wrong_answer("end_to_end_ms", fails_with="latency of")
def matched_by_position(inputs: list[Record], features: list[Record]) -> dict[str, float]:
    """Pairs the i-th feature record with the i-th input: dead letters shift them apart."""
    decode = lk.serde.ConfluentDecoder()
    return {decode(feature.value)["txn_id"]: float(feature.timestamp_ms - sent.timestamp_ms)
            for feature, sent in zip(features, inputs, strict=False)}


def _latencies(features: list[Record], sent: dict[str, int]) -> dict[str, float]:
    """txn_id -> feature time minus `sent[txn_id]`; a txn_id written twice keeps its last."""
    decode = lk.serde.ConfluentDecoder()
    latencies = {}
    for record in features:
        txn_id = decode(record.value)["txn_id"]
        latencies[txn_id] = float(record.timestamp_ms - sent[txn_id])
    return latencies


@wrong_answer("end_to_end_ms", fails_with="raised labkit.errors.DecodeError")
def every_input_decoded(inputs: list[Record], features: list[Record]) -> dict[str, float]:
    """Decodes every input: a dead letter's bytes raise."""
    decode = lk.serde.ConfluentDecoder()
    sent = {decode(record.value or b"")["txn_id"]: record.timestamp_ms for record in inputs}
    return _latencies(features, sent)


@wrong_answer("end_to_end_ms", fails_with="(a record written twice: its first write counts)")
def last_write_wins(inputs: list[Record], features: list[Record]) -> dict[str, float]:
    """Overwrites a replayed feature record's latency with its last copy's."""
    decode = lk.serde.ConfluentDecoder()
    sent = {}
    for record in inputs:
        with contextlib.suppress(lk.errors.DecodeError):
            sent[decode(record.value or b"")["txn_id"]] = record.timestamp_ms
    return _latencies(features, sent)


@wrong_answer("end_to_end_ms", fails_with="latency of")
def input_minus_feature(inputs: list[Record], features: list[Record]) -> dict[str, float]:
    """Subtracts the other way round: the input's time minus the feature's."""
    return {txn: -latency for txn, latency in solution.end_to_end_ms(inputs, features).items()}
