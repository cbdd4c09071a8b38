"""Graders for chapter 05: seeded or recorded data only, never a timing assertion."""

from __future__ import annotations

import contextlib
import math
import random
from fractions import Fraction
from types import ModuleType

import numpy as np

import labkit as lk
from labkit.check import Wrong, grader

# -- nearest_rank: against numpy's inverted CDF (the same definition) --------------------

def _latencies(seed: int, n: int) -> list[float]:
    """Latency-like numbers: mostly a few ms, with a long tail (seeded)."""
    rng = random.Random(seed)
    return [round(rng.lognormvariate(math.log(3.0), 0.9), 3) for _ in range(n)]


def _rank(percentile: float, n: int) -> int:
    """The nearest rank, computed exactly (no float rounding)."""
    return max(1, math.ceil(Fraction(str(percentile)) * n / 100))


# Sizes where p / 100 * n (and its other orders) rounds to the exact product for every
# percentile below: the lesson is the definition, not float rounding (n = 7, p = 100 gives
# 100 / 100 * 7 = 7.000000000000001 in floats).
SIZES = (1, 8, 100, 200, 1_001)
PERCENTILES = (1, 25, 50, 90, 95, 99, 99.9, 100)


@grader("nearest_rank", hint="sort the values; the answer is the value at rank "
        "ceil(p / 100 * n), counting from 1 (index rank - 1); it is never interpolated")
def grade_nearest_rank(exercise: ModuleType) -> None:
    for seed, n in enumerate(SIZES):
        values = _latencies(seed, n)
        for percentile in PERCENTILES:
            expected = sorted(values)[_rank(percentile, n) - 1]
            # numpy's "inverted_cdf" method is the same definition: a cross-check.
            assert expected == np.percentile(values, percentile, method="inverted_cdf")
            got = exercise.nearest_rank(list(values), percentile)
            if got != expected:
                raise Wrong(f"p{percentile} of {n:,} seeded latencies", expected=expected,
                            got=got)


# -- steady_throughput: synthetic timestamps, then a recorded run ------------------------

@grader("steady_throughput", hint="(n - 1) / ((max - min) / 1000): the list is in "
        "(partition, offset) order, so the first output is the smallest timestamp, not the "
        "first element")
def grade_steady_throughput(exercise: ModuleType) -> None:
    cases = [([5_000, 1_000, 3_000, 2_000], 0.75)]
    rng = random.Random(505)
    stamps = sorted(rng.randrange(10_000, 70_000) for _ in range(5_000))
    cases.append((stamps[2_500:] + stamps[:2_500], 4_999 / ((stamps[-1] - stamps[0]) / 1000)))
    topic = lk.topics.fresh_topic("ch05-rate", partitions=2)
    lk.generate.produce(topic, 2_000, fmt="confluent", n_cards=50)
    lk.engines.run("simple", topic, tag=".run")
    recorded = [r.timestamp_ms for r in lk.topics.read_all(lk.runs.Outputs(topic, ".run").features)]
    if max(recorded) > min(recorded):  # a run finished within one millisecond proves nothing
        cases.append((recorded, (len(recorded) - 1) / ((max(recorded) - min(recorded)) / 1000)))
    for timestamps, expected in cases:
        got = exercise.steady_throughput(list(timestamps))
        if not isinstance(got, int | float) or not math.isclose(got, expected, rel_tol=1e-9):
            raise Wrong(f"records/s over {len(timestamps):,} broker timestamps",
                        expected=expected, got=got)


# -- end_to_end_ms: a recorded run, matched by txn_id ------------------------------------

@grader("end_to_end_ms", hint="decode inputs (skip the undecodable ones) and features, map "
        "txn_id -> timestamp_ms on each side, subtract: feature minus input")
def grade_end_to_end_ms(exercise: ModuleType) -> None:
    topic = lk.topics.fresh_topic("ch05-latency", partitions=2)
    lk.generate.produce(topic, 800, fmt="confluent", n_cards=30, bad_share=0.03,
                        late_share=0.05, jitter_ms=2 * lk.features.WINDOW_1H_MS)
    lk.engines.run("simple", topic, tag=".run")
    inputs = lk.topics.read_all(topic)
    features = lk.topics.read_all(lk.runs.Outputs(topic, ".run").features)
    decode = lk.serde.ConfluentDecoder()
    log = lk.serde.decode_records(features, decode)
    sent = {}
    for record in inputs:
        if record.value and record.value[:1] == b"\x00":
            with contextlib.suppress(lk.errors.DecodeError):  # not Avro after all
                sent[decode(record.value)["txn_id"]] = record.timestamp_ms
    expected = {f["txn_id"]: float(r.timestamp_ms - sent[f["txn_id"]])
                for f, r in zip(log, features, strict=True)}
    got = exercise.end_to_end_ms(inputs, features)
    if not isinstance(got, dict) or set(got) != set(expected):
        raise Wrong("txn_ids with a latency (one per feature record)", expected=len(expected),
                    got=len(got) if isinstance(got, dict) else got)
    wrong = [txn for txn in expected if not math.isclose(got[txn], expected[txn], abs_tol=1e-6)]
    if wrong:
        raise Wrong(f"latency of {wrong[0]} ({len(wrong)} of {len(expected)} differ)",
                    expected=expected[wrong[0]], got=got[wrong[0]])
