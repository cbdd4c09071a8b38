"""Flink's event time on the mini-cluster: a partition without data stalls the watermark, so a
followed job emits nothing; with idleness it fires exactly the windows counted from the input."""

from dataclasses import replace

import pytest

import labkit as lk
from labkit import event_time

pytestmark = pytest.mark.integration

EVENTS = 200
OPTIONS = event_time.Options(window_ms=60_000, delay_ms=30_000)
STALL_WAIT_S = 10.0  # nothing fires in this long; with idleness all windows fire within ~3 s


@pytest.fixture(scope="module")
def one_card() -> tuple[str, list[int]]:
    """200 events of one card on 2 partitions: the key puts them all on one partition."""
    topic = lk.topics.fresh_topic("it-event-time", partitions=2)
    txns = list(lk.generate.transactions(EVENTS, n_cards=1))
    assert event_time.produce(topic, txns) == EVENTS
    assert sorted(lk.topics.partition_counts(topic).values()) == [0, EVENTS]
    return topic, [txn["timestamp"] for txn in txns]


def test_a_partition_without_data_holds_the_watermark_back_for_good(one_card):
    topic, _stamps = one_card
    with event_time.following(topic, OPTIONS, tag=".stall") as job:
        assert job.wait(seen=EVENTS, timeout_s=60)  # every event was read...
        assert not job.wait(windows=1, timeout_s=STALL_WAIT_S)  # ...and nothing fires
    run = job.result()
    assert run.windows == [] and run.late == []
    assert {seen.watermark_ms for seen in run.trace} == {None}


def test_idleness_fires_exactly_the_windows_counted_from_the_input(one_card):
    topic, stamps = one_card
    settled = event_time.watermark_after(stamps, delay_ms=OPTIONS.delay_ms)
    expected = event_time.expected_windows(stamps, window_ms=OPTIONS.window_ms,
                                           watermark_ms=settled)
    assert len(expected) >= 3
    with event_time.following(topic, replace(OPTIONS, idle_ms=2_000), tag=".idle") as job:
        assert job.wait(windows=len(expected), timeout_s=60)
    run = job.result()
    assert run.counts() == expected
    assert len(run.windows) == len(expected)  # each fired once: nothing came late
    assert all(fired.watermark_ms <= settled for fired in run.windows)
    assert run.late == []
