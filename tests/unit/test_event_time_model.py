"""The event-time helpers: what the job must do, computed without Flink (no stack needed)."""

from __future__ import annotations

import random

import pytest

from labkit import event_time
from labkit.event_time import DROPPED, LATE_KEPT, ON_TIME, EventTimeRun, Fired, Options, Seen

MINUTE = 60_000


@pytest.mark.parametrize(("timestamp", "start"), [
    (0, 0), (59_999, 0), (60_000, 60_000), (1_767_225_600_123, 1_767_225_600_000),
    (-1, -60_000), (-60_000, -60_000), (-60_001, -120_000)])
def test_window_start_is_the_window_holding_the_timestamp(timestamp, start):
    assert event_time.window_start(timestamp, MINUTE) == start


def test_expected_windows_counts_every_timestamp_once_in_its_window():
    rng = random.Random(8)
    stamps = [rng.randrange(0, 10 * MINUTE) for _ in range(500)]
    counts = event_time.expected_windows(stamps, window_ms=MINUTE)
    assert list(counts) == sorted(counts)
    assert sum(counts.values()) == len(stamps)
    for start, count in counts.items():
        assert count == sum(start <= ts < start + MINUTE for ts in stamps)


def test_a_window_fires_once_the_watermark_reaches_its_last_millisecond():
    stamps = [10, 59_999, 60_000, 130_000]
    assert event_time.expected_windows(stamps, window_ms=MINUTE, watermark_ms=59_998) == {}
    assert event_time.expected_windows(stamps, window_ms=MINUTE, watermark_ms=59_999) == {0: 2}
    assert event_time.expected_windows(stamps, window_ms=MINUTE, watermark_ms=10**12) == {
        0: 2, 60_000: 1, 120_000: 1}


def test_watermark_after_is_the_largest_timestamp_minus_the_delay_minus_one():
    assert event_time.watermark_after([5_000, 90_000, 70_000], delay_ms=30_000) == 59_999


@pytest.mark.parametrize(("watermark", "lateness", "expected"), [
    (None, 0, ON_TIME), (59_998, 0, ON_TIME), (59_999, 0, DROPPED),
    (59_999, 10_000, LATE_KEPT), (69_998, 10_000, LATE_KEPT), (69_999, 10_000, DROPPED)])
def test_fate_follows_flinks_window_operator(watermark, lateness, expected):
    """The window [0, 60 s) fires at watermark 59,999 and is cleaned up at 59,999 + lateness."""
    assert event_time.fate(30_000, watermark, window_ms=MINUTE,
                           allowed_lateness_ms=lateness) == expected


def test_no_watermark_is_long_min_value():
    assert event_time.no_watermark(-(2**63)) is None
    assert event_time.no_watermark(0) == 0


def test_a_run_counts_each_window_at_its_last_firing_and_the_fates_of_its_events():
    options = Options(window_ms=MINUTE, delay_ms=5_000, allowed_lateness_ms=10_000)
    trace = [Seen("a", 1_000, 1, None), Seen("b", 70_000, 2, 64_999),
             Seen("c", 2_000, 3, 64_999), Seen("d", 3_000, 4, 80_000)]
    windows = [Fired(0, MINUTE, 1, 64_999, 2), Fired(0, MINUTE, 2, 64_999, 3)]
    run = EventTimeRun(options, trace, windows, [])
    assert run.counts() == {0: 2}
    assert run.fates() == {ON_TIME: 2, LATE_KEPT: 1, DROPPED: 1}


def test_the_output_topic_is_named_after_the_input_and_the_tag():
    assert event_time.output_topic("payments-run1", ".late") == "payments-run1.event-time.late"
