"""Stopwatch, latency recording and percentiles: the benchmark's arithmetic, without a stack."""

import time

import pytest

from labkit.instruments import Latencies, Stopwatch, percentiles


def test_laps_are_charged_to_their_stage_and_add_up():
    # The sleeps are what the stopwatch times (known minimum durations), not synchronization.
    watch = Stopwatch()
    began = time.perf_counter()
    watch.start()
    time.sleep(0.02)
    watch.lap("decode")
    time.sleep(0.01)
    watch.lap("redis")
    watch.lap("redis")
    total = time.perf_counter() - began
    assert set(watch.seconds) == {"decode", "redis"}
    assert watch.seconds["decode"] >= 0.02
    assert watch.seconds["redis"] >= 0.01
    assert sum(watch.seconds.values()) <= total


def test_each_message_of_a_batch_gets_a_latency():
    latencies = Latencies()
    now_s = time.time()
    latencies.record(now_s - 0.5, [int(now_s * 1000) - 2000, int(now_s * 1000) - 1000])
    assert len(latencies.processing_ms) == len(latencies.end_to_end_ms) == 2
    assert latencies.processing_ms[0] == latencies.processing_ms[1] >= 500
    assert latencies.end_to_end_ms[0] - latencies.end_to_end_ms[1] == pytest.approx(1000)


def test_percentiles_of_a_known_distribution():
    found = percentiles([float(ms) for ms in range(1, 101)])
    assert found == {"p50": 50.5, "p95": 95.05, "p99": 99.01}
    assert percentiles([]) == {}
