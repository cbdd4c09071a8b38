"""Verdicts from repetitions: a word only when every repetition agrees (no stack)."""

import pytest

from labkit.verdicts import against_claim, ordering


@pytest.mark.parametrize(("values", "word"), [
    ([12_000, 11_000, 15_000], "confirmed"),  # every run meets ~10K/s
    ([9_000, 8_000, 9_900], "refuted"),       # none does
    ([9_000, 12_000, 11_000], "depends"),     # the runs disagree: no verdict
])
def test_a_throughput_claim_needs_every_repetition_on_one_side(values, word):
    assert against_claim("10K/s", values, 10_000).word == word


def test_an_approximate_claim_allows_a_little_below_it():
    assert against_claim("~10K/s", [9_100, 9_500, 12_000], 10_000, approximate=True).word == \
        "confirmed"
    assert against_claim("~10K/s", [8_900, 9_500, 12_000], 10_000, approximate=True).word == \
        "depends"


def test_a_latency_claim_is_met_from_below():
    assert against_claim("p99 < 10 ms", [4.0, 9.9, 6.0], 10, lower_is_better=True).word == \
        "confirmed"
    assert against_claim("p99 < 10 ms", [10.0, 40.0, 12.0], 10,
                         lower_is_better=True).word == "refuted"


def test_an_ordering_needs_the_runs_apart_by_more_than_the_margin():
    assert ordering("two vs one", [15.1, 16, 17], [10, 11, 12]).word == "faster"
    assert ordering("two vs one", [7, 7.5, 7.9], [10, 11, 12]).word == "slower"
    # 14.9 vs 12: within the 25 % margin of the fastest baseline run
    assert ordering("two vs one", [14.9, 16, 17], [10, 11, 12]).word == "about the same"
    assert ordering("two vs one", [8.1, 7.5, 7.9], [10, 11, 12]).word == "about the same"


def test_a_verdict_prints_its_word_median_and_spread():
    verdict = ordering("two vs one", [16, 16, 18], [10, 10, 12])
    assert verdict.values == (1.6, 1.6, 1.5)
    assert str(verdict) == "two vs one: faster — measured 1.6x (1.5 to 1.6), 3 runs"
    assert str(against_claim("p50 < 10 ms", [4.0], 10, lower_is_better=True, unit=" ms")) == \
        "p50 < 10 ms: confirmed — measured 4 ms, 1 run"


def test_nothing_measured_is_no_verdict():
    with pytest.raises(ValueError):
        against_claim("x", [], 1)
    with pytest.raises(ValueError):
        ordering("x", [1, 2], [1])


def test_a_latency_ordering_is_better_lower():
    assert ordering("pinned p99", [5, 6, 7], [10, 12, 11], lower_is_better=True).word == "faster"
    assert ordering("pinned p99", [20, 30, 25], [10, 12, 11],
                    lower_is_better=True).word == "slower"
    assert ordering("pinned p99", [7.6, 6, 7], [10, 12, 11],
                    lower_is_better=True).word == "about the same"
    assert ordering("pinned p99", [9, 11, 12], [10, 12, 11],
                    lower_is_better=True).word == "about the same"
