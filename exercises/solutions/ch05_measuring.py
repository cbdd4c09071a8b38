"""Reference solutions for chapter 05 (try the exercises in ../ch05_measuring.py first)."""

from __future__ import annotations

import math
from fractions import Fraction

import labkit as lk
from labkit.topics import Record


def nearest_rank(values_ms: list[float], percentile: float) -> float:
    """The value at rank ceil(p / 100 * n) of the sorted values (ranks from 1).

    The rank in exact arithmetic: the percentile as a fraction (99.9 is 999/10), so no
    float rounding lifts an exact rank by one (in floats 7 / 100 * 100 is 7.000000000000001).
    """
    ordered = sorted(values_ms)
    rank = math.ceil(Fraction(str(percentile)) * len(ordered) / 100)
    return ordered[max(rank, 1) - 1]


def steady_throughput(timestamps_ms: list[int]) -> float:
    """(n - 1) records over the seconds between the earliest and the latest output."""
    if len(timestamps_ms) < 2 or max(timestamps_ms) == min(timestamps_ms):
        raise ValueError(f"{len(timestamps_ms)} timestamp(s) spanning no time: no rate to measure")
    span_s = (max(timestamps_ms) - min(timestamps_ms)) / 1000
    return (len(timestamps_ms) - 1) / span_s


def end_to_end_ms(inputs: list[Record], features: list[Record]) -> dict[str, float]:
    """Feature record's LogAppendTime minus its input's CreateTime, matched by txn_id."""
    decode = lk.serde.ConfluentDecoder()
    sent_ms = {}
    for record in inputs:
        try:
            sent_ms[decode(record.value or b"")["txn_id"]] = record.timestamp_ms
        except lk.errors.DecodeError:
            continue  # undecodable: a dead letter, no feature record
    latencies: dict[str, float] = {}
    for record in features:
        txn_id = decode(record.value)["txn_id"]
        latency = float(record.timestamp_ms - sent_ms[txn_id])
        latencies[txn_id] = min(latency, latencies.get(txn_id, latency))  # a replay: the first
    return latencies
