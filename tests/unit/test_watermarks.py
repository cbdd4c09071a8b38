"""The SQL engine's watermark, modelled in plain Python: which rows it finds late."""

import pytest

from labkit.engines.watermarks import late_rows

S = 1_000  # one second in ms


def test_rows_in_order_are_never_late():
    assert late_rows({0: [0, 1 * S, 2 * S, 60 * S]}, delay_ms=5 * S) == set()


def test_a_row_at_or_behind_the_watermark_is_late():
    """After 20 s with a 5 s delay the watermark is 15 s: 14 s is behind it, 15 s is at it,
    16 s is ahead of it."""
    times = {0: [10 * S, 20 * S, 14 * S, 15 * S, 16 * S]}
    assert late_rows(times, delay_ms=5 * S) == {(0, 2), (0, 3)}


def test_a_row_is_judged_by_the_watermark_before_it():
    """The first row has no watermark to be behind; a row that jumps ahead is judged by
    the watermark of the rows before it, not by the one it raises."""
    assert late_rows({0: [50 * S, 0, 100 * S, 95 * S]}, delay_ms=0) == {(0, 1), (0, 3)}


def test_the_watermark_never_goes_back():
    """A late row lowers nothing: 40 s is still behind the 55 s from the 60 s row."""
    times = {0: [60 * S, 10 * S, 40 * S]}
    assert late_rows(times, delay_ms=5 * S) == {(0, 1), (0, 2)}


def test_a_partition_with_nothing_read_yet_holds_the_watermark_back():
    """Partition 1's rows come last: until then the source has no watermark, and the row
    that one partition alone would find late is not."""
    times = {0: [100 * S, 200 * S, 120 * S], 1: [60 * S, 70 * S]}
    assert late_rows({0: times[0]}, delay_ms=10 * S) == {(0, 2)}
    assert late_rows(times, delay_ms=10 * S, reads=[0, 0, 0, 1, 1]) == set()


def test_the_slowest_partition_sets_the_watermark():
    """Partition 1 read first at 60 s: the watermark stays at 50 s, so 120 s is not late,
    but 45 s (behind partition 1's own watermark too) is."""
    times = {0: [100 * S, 200 * S, 120 * S, 45 * S], 1: [60 * S, 70 * S]}
    assert late_rows(times, delay_ms=10 * S, reads=[1, 0, 0, 0, 0, 1]) == {(0, 3)}


def test_a_partition_read_to_its_end_no_longer_holds_the_watermark():
    """Once partition 1's only row is read it is finished: partition 0 alone moves the
    watermark to 190 s, and 120 s is late."""
    times = {0: [100 * S, 200 * S, 120 * S], 1: [60 * S]}
    assert late_rows(times, delay_ms=10 * S, reads=[1, 0, 0, 0]) == {(0, 2)}


def test_an_empty_partition_never_counts():
    assert late_rows({0: [10 * S, 20 * S, 14 * S], 1: []}, delay_ms=5 * S) == {(0, 2)}


def test_two_partitions_need_the_order_they_were_read_in():
    with pytest.raises(ValueError, match="reads"):
        late_rows({0: [1], 1: [2]}, delay_ms=0)
