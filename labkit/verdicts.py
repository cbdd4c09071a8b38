"""Verdicts from repeated measurements: words that hold on a noisy machine, and their spread.

A benchmark on two shared cores moves from run to run, so one number decides
nothing. Each verdict here looks at every repetition, not only the median, and
at how far the repetitions disagree among themselves:

- a claim is *confirmed* only if every repetition meets it with room to spare:
  even the worst one, made worse again by as much as it is worse than the
  median, would still meet it; *refuted* only if even the best one, made better
  again by as much as it beats the median, misses it; otherwise it *depends*.
  A claim of "~X" is met from `APPROXIMATE` below X.
- an ordering (A faster than B) holds only if every repetition of A beats
  every repetition of B by more than `MARGIN`.

Near a threshold, or where repetitions scatter (a latency tail), the honest
word is "depends", and the spread printed beside it says why.

Pure functions of numbers: the notebooks print them, the tests feed them numbers.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass

__all__ = ["APPROXIMATE", "MARGIN", "Verdict", "against_claim", "ordering"]

# How far apart two sets of repetitions must be to call one faster. Three runs of one
# configuration on the lab's 2-core machine differ by 10-40 % (notebook 05 prints its
# own); a difference inside this margin is what repeating a run can change on its own.
MARGIN = 0.35
# A claim of "~10K events/s" is met by 9K: "about" allows this much below the figure.
APPROXIMATE = 0.10


@dataclass(frozen=True)
class Verdict:
    """A word (what nbval compares) and the numbers behind it (what varies)."""

    word: str
    subject: str
    values: tuple[float, ...]
    unit: str = ""

    @property
    def median(self) -> float:
        return statistics.median(self.values)

    def spread(self) -> str:
        """The repetitions' median and, in brackets, their lowest and highest."""
        if len(self.values) == 1:
            return f"{_fmt(self.median)}{self.unit}"
        low, high = min(self.values), max(self.values)
        return f"{_fmt(self.median)}{self.unit} ({_fmt(low)} to {_fmt(high)})"

    def __str__(self) -> str:
        runs = f"{len(self.values)} run" + ("s" if len(self.values) > 1 else "")
        return f"{self.subject}: {self.word} — measured {self.spread()}, {runs}"


def _fmt(value: float) -> str:
    if abs(value) >= 1000:
        return f"{value:,.0f}"
    return f"{value:.3g}" if abs(value) < 10 else f"{value:.1f}"


def against_claim(subject: str, values: Sequence[float], claim: float, *,
                  lower_is_better: bool = False, approximate: bool = False,
                  unit: str = "") -> Verdict:
    """Confirmed if every repetition meets `claim` with room for the repetitions' own
    spread, refuted if none comes within it, else depends.

    Throughput claims are met from above (`values >= claim`), latency claims
    from below (`lower_is_better`: `values < claim`). An `approximate` claim
    ("~10K events/s") is met from `APPROXIMATE` short of it. The room on each
    side is how far the runs reached beyond their median on that side: a tail
    whose worst run is 3x its median may well have a next run 3x worse again,
    and a rate whose runs sit tightly above a claim will not fall through it.
    """
    if not values:
        raise ValueError("a verdict needs at least one measurement")
    if min(values) <= 0:
        raise ValueError("measurements of a claim are positive (a rate, a latency, a ratio)")
    if approximate:
        claim = claim * (1 + APPROXIMATE) if lower_is_better else claim * (1 - APPROXIMATE)
    middle = statistics.median(values)
    above, below = max(values) / middle, middle / min(values)
    if lower_is_better:  # worst is the highest; worse is higher still
        confirmed = max(values) * above < claim
        refuted = min(values) / below >= claim
    else:  # worst is the lowest; worse is lower still
        confirmed = min(values) / below >= claim
        refuted = max(values) * above < claim
    word = "confirmed" if confirmed else "refuted" if refuted else "depends"
    return Verdict(word, subject, tuple(values), unit)


def ordering(subject: str, values: Sequence[float], baseline: Sequence[float], *,
             lower_is_better: bool = False, margin: float = MARGIN, unit: str = "x") -> Verdict:
    """Is `values` better than `baseline`? Judged on every repetition of each.

    Rates are better higher, latencies lower (`lower_is_better`). "faster" if the
    worst of `values` beats the best of `baseline` by `margin`, "slower" if the
    best of `values` trails the worst of `baseline` by `margin`, else "about the
    same". The Verdict's values are the ratios of the paired repetitions
    (values[i] / baseline[i]).
    """
    if not values or len(values) != len(baseline):
        raise ValueError("an ordering needs the same number (> 0) of runs on each side")

    def beats(some: Sequence[float], others: Sequence[float]) -> bool:
        """Every run of `some` better than every run of `others`, by the margin."""
        if lower_is_better:
            return max(some) * (1 + margin) < min(others)
        return min(some) > max(others) * (1 + margin)

    word = ("faster" if beats(values, baseline) else
            "slower" if beats(baseline, values) else "about the same")
    ratios = tuple(value / base for value, base in zip(values, baseline, strict=True))
    return Verdict(word, subject, ratios, unit)
