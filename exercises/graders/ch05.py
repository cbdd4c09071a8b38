"""Graders for chapter 05: seeded or recorded data only, never a timing assertion."""

from __future__ import annotations

import contextlib
import math
import random
from collections.abc import Iterator
from dataclasses import replace
from fractions import Fraction
from functools import cache
from types import ModuleType

import numpy as np

import labkit as lk
from labkit.check import Wrong, grader, must_raise

# -- nearest_rank: the exact rank, on float traps and seeded latencies ---------------------

def _latencies(seed: int, n: int) -> list[float]:
    """Latency-like numbers: mostly a few ms, with a long tail (seeded)."""
    rng = random.Random(seed)
    return [round(rng.lognormvariate(math.log(3.0), 0.9), 3) for _ in range(n)]


def _rank(percentile: float, n: int) -> int:
    """The nearest rank, computed exactly (no float rounding)."""
    return max(1, math.ceil(Fraction(str(percentile)) * n / 100))


SIZES = (1, 8, 100, 200, 1_001)
PERCENTILES = (1, 25, 50, 90, 95, 99, 99.9, 100)
# Where the rank in floats lands above the exact one: 7 / 100 * 100 == 7.000000000000001
# (ceil: 8, where the definition says 7), and 7 / 100 * 100 again as n / 100 * p.
FLOAT_TRAPS = ((100, (7, 14, 28, 55, 56)), (7, (100,)), (14, (50,)))


def _cases() -> Iterator[tuple[str, list[float], float]]:
    """(what, values, percentile): the float traps on 1..n shuffled, then seeded latencies
    (where numpy's "inverted_cdf", the same definition, cross-checks the expected value;
    in floats itself, numpy gives 8 for p7 of 1..100)."""
    rng = random.Random(55)
    for n, percentiles in FLOAT_TRAPS:
        values = [float(v) for v in rng.sample(range(1, n + 1), n)]
        for percentile in percentiles:
            yield f"p{percentile} of 1..{n} (shuffled)", values, percentile
    for seed, n in enumerate(SIZES):
        values = _latencies(seed, n)
        for percentile in PERCENTILES:
            expected = sorted(values)[_rank(percentile, n) - 1]
            assert expected == np.percentile(values, percentile, method="inverted_cdf")
            yield f"p{percentile} of {n:,} seeded latencies", values, percentile


@grader("nearest_rank", hint="sort the values; the answer is the value at rank "
        "ceil(p / 100 * n), counting from 1 (index rank - 1), computed exactly: in floats "
        "7 / 100 * 100 is 7.000000000000001; it is never interpolated")
def grade_nearest_rank(exercise: ModuleType) -> None:
    for what, values, percentile in _cases():
        expected = sorted(values)[_rank(percentile, len(values)) - 1]
        got = exercise.nearest_rank(list(values), percentile)
        if got != expected:
            raise Wrong(what + ("" if got in values else " (a nearest rank is one of the "
                                "values, never interpolated)"), expected=expected, got=got)


# -- steady_throughput: synthetic timestamps, then a recorded run ------------------------

@cache
def _recorded_run() -> tuple[list[lk.topics.Record], list[lk.topics.Record]]:
    """A simple engine's run over 800 events with bad and late ones: (inputs, features)."""
    topic = lk.topics.fresh_topic("ch05-run", partitions=2)
    lk.generate.produce(topic, 800, fmt="confluent", n_cards=30, bad_share=0.03,
                        late_share=0.05, jitter_ms=2 * lk.features.WINDOW_1H_MS)
    lk.engines.run("simple", topic, tag=".run")
    return lk.topics.read_all(topic), lk.topics.read_all(lk.runs.Outputs(topic, ".run").features)


NO_SPAN = ([], [5_000], [3_000, 3_000])  # nothing to measure: ValueError


@grader("steady_throughput", hint="(n - 1) / ((max - min) / 1000): the list is in "
        "(partition, offset) order, so the first output is the smallest timestamp, not the "
        "first element; fewer than two timestamps or a zero span raise ValueError")
def grade_steady_throughput(exercise: ModuleType) -> None:
    cases = [([5_000, 1_000, 3_000, 2_000], 0.75)]
    rng = random.Random(505)
    stamps = sorted(rng.randrange(10_000, 70_000) for _ in range(5_000))
    cases.append((stamps[2_500:] + stamps[:2_500], 4_999 / ((stamps[-1] - stamps[0]) / 1000)))
    recorded = [record.timestamp_ms for record in _recorded_run()[1]]
    if max(recorded) > min(recorded):  # a run finished within one millisecond proves nothing
        cases.append((recorded, (len(recorded) - 1) / ((max(recorded) - min(recorded)) / 1000)))
    for timestamps, expected in cases:
        got = exercise.steady_throughput(list(timestamps))
        if not isinstance(got, int | float) or not math.isclose(got, expected, rel_tol=1e-9):
            raise Wrong(f"records/s over {len(timestamps):,} broker timestamps",
                        expected=expected, got=got)
    for timestamps in NO_SPAN:
        must_raise(ValueError, lambda stamps=timestamps: exercise.steady_throughput(list(stamps)),
                   f"steady_throughput({timestamps}) has no span to measure over and", exercise)


# -- end_to_end_ms: a recorded run, matched by txn_id ------------------------------------

def _replayed(features: list[lk.topics.Record]) -> list[lk.topics.Record]:
    """The feature log, then a replay of 5 of its records (a restart re-wrote them 5 s later)."""
    again = [replace(record, offset=record.offset + len(features),
                     timestamp_ms=record.timestamp_ms + 5_000) for record in features[10:15]]
    return features + again


@grader("end_to_end_ms", hint="decode inputs (skip the undecodable ones) and features, map "
        "txn_id -> timestamp_ms on each side, subtract: feature minus input; a feature "
        "record written twice keeps its earliest timestamp")
def grade_end_to_end_ms(exercise: ModuleType) -> None:
    inputs, features = _recorded_run()
    decode = lk.serde.ConfluentDecoder()
    sent = {}
    for record in inputs:
        if record.value and record.value[:1] == b"\x00":
            with contextlib.suppress(lk.errors.DecodeError):  # not Avro after all
                sent[decode(record.value)["txn_id"]] = record.timestamp_ms
    replayed = _replayed(features)
    expected: dict[str, float] = {}
    for feature, record in zip(lk.serde.decode_records(replayed, decode), replayed, strict=True):
        latency = float(record.timestamp_ms - sent[feature["txn_id"]])
        expected[feature["txn_id"]] = min(latency, expected.get(feature["txn_id"], latency))
    got = exercise.end_to_end_ms(list(inputs), replayed)
    if not isinstance(got, dict) or set(got) != set(expected):
        raise Wrong("txn_ids with a latency (one per feature record)", expected=len(expected),
                    got=len(got) if isinstance(got, dict) else got)
    wrong = [txn for txn in expected if not math.isclose(got[txn], expected[txn], abs_tol=1e-6)]
    if wrong:
        replay = " (a record written twice: its first write counts)" if any(
            decode(record.value)["txn_id"] == wrong[0] for record in replayed[len(features):]) \
            else ""
        raise Wrong(f"latency of {wrong[0]}{replay} ({len(wrong)} of {len(expected)} differ)",
                    expected=expected[wrong[0]], got=got[wrong[0]])
