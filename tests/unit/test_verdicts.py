"""Verdicts from repetitions: a word only when every repetition agrees, with room for their
spread (no stack)."""

import pytest

from labkit.verdicts import MARGIN, against_claim, ordering


@pytest.mark.parametrize(("values", "word"), [
    ([30_000, 31_000, 33_000], "confirmed"),  # worst 30K, 1.03x below the median: 29K meets
    ([12_000, 11_000, 15_000], "confirmed"),  # 11K, 1.09x below 12K: 10.08K still meets 10K
    ([6_000, 6_500, 7_000], "refuted"),       # best 7K, 1.08x above 6.5K: 7.5K still misses
    ([9_000, 12_000, 11_000], "depends"),     # the runs straddle the claim
    ([10_500, 12_000, 20_000], "depends"),    # all meet it, but 10.5K / 1.14 = 9.2K would not
    ([9_000, 8_000, 9_900], "depends"),       # none meets it, but 9.9K x 1.1 = 10.9K would
])
def test_a_throughput_claim_needs_every_repetition_on_one_side_with_room(values, word):
    assert against_claim("10K/s", values, 10_000).word == word


def test_the_room_is_the_repetitions_own_spread():
    # 11K..12K: the median 11.5K, so the worst run made worse (10.5K) still meets 10K.
    assert against_claim("10K/s", [11_000, 12_000], 10_000).word == "confirmed"
    # 10.5K..12K: 10.5K / (11.25 / 10.5) = 9.8K no longer does.
    assert against_claim("10K/s", [10_500, 12_000], 10_000).word == "depends"
    # One run has no spread: the claim is judged on it alone.
    assert against_claim("10K/s", [10_001], 10_000).word == "confirmed"
    assert against_claim("10K/s", [9_999], 10_000).word == "refuted"


def test_an_approximate_claim_allows_a_little_below_it():
    assert against_claim("~10K/s", [9_100], 10_000, approximate=True).word == "confirmed"
    assert against_claim("~10K/s", [8_900], 10_000, approximate=True).word == "refuted"
    assert against_claim("~10K/s", [9_100, 9_500], 10_000, approximate=True).word == "depends"


def test_a_latency_claim_is_met_from_below():
    assert against_claim("p99 < 10 ms", [4.0, 4.5, 4.2], 10, lower_is_better=True).word == \
        "confirmed"
    assert against_claim("p99 < 10 ms", [30.0, 40.0, 32.0], 10,
                         lower_is_better=True).word == "refuted"
    # A scattered tail: 2.6 to 13.7 ms. Every run below 10 ms would still not be enough
    # room for a spread of 5x; here some are above, some below.
    assert against_claim("p99 < 10 ms", [2.6, 13.7, 2.9], 10, lower_is_better=True).word == \
        "depends"
    # All three below 10 ms, but the worst is 2.8x the median: the next may be 2.8x worse.
    assert against_claim("p99 < 10 ms", [2.8, 3.0, 8.5], 10, lower_is_better=True).word == \
        "depends"
    # All above, 110 to 113 ms: refuted even with the best made 1 % better.
    assert against_claim("p99 < 100 ms", [110.0, 113.0, 111.0], 100,
                         lower_is_better=True).word == "refuted"
    # One run far worse says nothing about a run far better: still refuted.
    assert against_claim("p99 < 100 ms", [110.0, 111.0, 198.5], 100,
                         lower_is_better=True).word == "refuted"


def test_an_ordering_needs_every_run_apart_by_more_than_the_margin():
    assert MARGIN == 0.35  # the examples below are built around it
    assert ordering("two vs one", [16.3, 17, 18], [10, 11, 12]).word == "faster"
    assert ordering("two vs one", [7, 7.2, 7.3], [10, 11, 12]).word == "slower"
    # 16.1 vs 12: within the 35 % margin of the fastest baseline run
    assert ordering("two vs one", [16.1, 17, 18], [10, 11, 12]).word == "about the same"
    # 7.5 x 1.35 = 10.1: the best of them no longer trails the worst baseline by the margin
    assert ordering("two vs one", [7.5, 7.2, 7.3], [10, 11, 12]).word == "about the same"


def test_a_verdict_prints_its_word_median_and_spread():
    verdict = ordering("two vs one", [17, 17, 18], [10, 10, 12])
    assert verdict.values == (1.7, 1.7, 1.5)
    assert str(verdict) == "two vs one: faster — measured 1.7x (1.5 to 1.7), 3 runs"
    assert str(against_claim("p50 < 10 ms", [4.0], 10, lower_is_better=True, unit=" ms")) == \
        "p50 < 10 ms: confirmed — measured 4 ms, 1 run"


def test_nothing_measured_is_no_verdict():
    with pytest.raises(ValueError):
        against_claim("x", [], 1)
    with pytest.raises(ValueError):
        against_claim("x", [0.0, 1.0], 1)
    with pytest.raises(ValueError):
        ordering("x", [1, 2], [1])


def test_a_latency_ordering_is_better_lower():
    assert ordering("pinned p99", [5, 6, 7], [10, 12, 11], lower_is_better=True).word == "faster"
    assert ordering("pinned p99", [20, 30, 25], [10, 12, 11],
                    lower_is_better=True).word == "slower"
    # 7.6 x 1.35 = 10.3: not below the lowest baseline run
    assert ordering("pinned p99", [7.6, 6, 7], [10, 12, 11],
                    lower_is_better=True).word == "about the same"
    assert ordering("pinned p99", [9, 11, 12], [10, 12, 11],
                    lower_is_better=True).word == "about the same"
