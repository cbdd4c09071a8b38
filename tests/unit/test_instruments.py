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


def test_a_batch_charges_its_stages_to_each_of_its_messages():
    latencies = Latencies()
    now_s = time.time()
    sent_ms = int(now_s * 1000) - 10
    latencies.record(now_s - 0.004, [sent_ms, sent_ms], acked_s=now_s,
                     stages_s={"decode": 0.001, "redis": 0.003})
    assert latencies.processing_ms == pytest.approx([4.0, 4.0], abs=1e-3)
    assert latencies.stages_ms["decode"] == pytest.approx([1.0, 1.0])
    assert latencies.stages_ms["redis"] == pytest.approx([3.0, 3.0])
    # waiting: end to end minus processing, the time before the engine had the message
    assert latencies.stages_ms["waiting"] == pytest.approx([6.0, 6.0], abs=1.0)


def test_the_tail_breakdown_names_the_stage_the_slowest_messages_waited_on():
    latencies = Latencies()
    for batch in range(100):
        slow = batch == 99  # one batch in a hundred waits 50 ms on Redis
        redis_s = 0.05 if slow else 0.001
        latencies.record(100.0, [99_000], acked_s=100.0 + 0.001 + redis_s,
                         stages_s={"decode": 0.001, "redis": redis_s})
    found = latencies.breakdown()
    assert found["redis"]["p50"] == pytest.approx(1.0)
    assert found["tail"]["redis"] == pytest.approx(50.0)
    assert found["tail"]["decode"] == pytest.approx(1.0)
    assert latencies.since(99).processing_ms == pytest.approx([51.0])


def test_recent_holds_each_stages_latest_lap_alone():
    watch = Stopwatch()
    watch.start()
    watch.lap("decode")
    first = watch.recent["decode"]
    time.sleep(0.01)  # a known minimum duration for the second lap
    watch.lap("decode")
    assert watch.recent["decode"] >= 0.01
    assert watch.seconds["decode"] == pytest.approx(first + watch.recent["decode"])
