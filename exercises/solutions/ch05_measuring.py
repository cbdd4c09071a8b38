"""Reference solutions for chapter 05 (try the exercises in ../ch05_measuring.py first)."""

from __future__ import annotations

import math

import labkit as lk
from labkit.topics import Record


def nearest_rank(values_ms: list[float], percentile: float) -> float:
    """The value at rank ceil(p / 100 * n) of the sorted values (ranks from 1)."""
    ordered = sorted(values_ms)
    rank = math.ceil(percentile / 100 * len(ordered))
    return ordered[max(rank, 1) - 1]


def steady_throughput(timestamps_ms: list[int]) -> float:
    """(n - 1) records over the seconds between the earliest and the latest output."""
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
    latencies = {}
    for record in features:
        txn_id = decode(record.value)["txn_id"]
        latencies[txn_id] = float(record.timestamp_ms - sent_ms[txn_id])
    return latencies
