"""The feature contract: one implementation, used by every engine.

Part of the pure core (with `errors` and `processing`): no I/O, no third-party
imports, so every engine and every Flink worker can load it cheaply.

State is per card (`CardWindow`). Each card has an event-time clock `T`, the
largest `timestamp` seen so far for it. Every event is added to the card's
window and the feature record is recomputed as of `T` over (T-5 min, T] and
(T-1 h, T], late arrivals included. An event at or before T-1 h when it
arrives is outside every window: it changes nothing and `update` returns None
(the engines dead-letter it as `late`).

Cost per event, and why:
- 1-hour aggregates (count, sum, sum of squares, per-country counts, high-risk
  count) are incremental: add the new event, subtract the events that fall out
  as T advances (evict by time). Their cost does not grow with the window. The
  time-ordered buffer itself is a Python list: an in-order event is appended,
  an out-of-order one inserted (a memmove, cheap at the few hundred events a
  card holds per hour), with a parallel list of timestamps to bisect.
- Sums are exact integers in micro-units of the amount, so subtracting never
  leaves floating-point drift behind and the variance has no cancellation
  error. Amounts with more than 6 decimals are rounded to the micro-unit.
- 5-minute count, sum and max are read from the tail of the time-ordered
  buffer: O(events in 5 minutes), which is small by definition (5 or more is
  already "high velocity"). A max cannot be maintained by subtraction.
"""

from __future__ import annotations

import math
from bisect import bisect_right
from dataclasses import dataclass, field
from typing import NamedTuple

__all__ = ["FEATURE_NAMES", "HIGH_RISK_MCCS", "HIGH_VELOCITY_COUNT", "MICROS", "WINDOW_1H_MS",
           "WINDOW_5M_MS", "CardWindow"]

WINDOW_5M_MS = 5 * 60 * 1000
WINDOW_1H_MS = 60 * 60 * 1000
MICROS = 1_000_000  # amounts are summed as exact integers of a millionth
HIGH_VELOCITY_COUNT = 5  # this many events in 5 minutes is "high velocity"
HIGH_RISK_MCCS = ("6011", "5967", "7011", "7995")  # cash, direct marketing, hotels, gambling

FEATURE_NAMES = (
    "card_id", "txn_id", "event_ts", "feature_ts", "txn_count_5m", "txn_count_1h",
    "amount_sum_5m", "amount_sum_1h", "amount_avg_5m", "amount_max_5m", "amount_std_1h",
    "amount_zscore", "unique_countries_1h", "high_risk_mcc_ratio_1h", "seconds_since_prev",
    "is_high_velocity", "is_new_country", "last_geo_country", "is_fraud",
)


class _Event(NamedTuple):
    timestamp: int
    micros: int
    country: str | None
    high_risk: bool


@dataclass
class CardWindow:
    """One card's last hour of events, in event-time order, with running 1-hour aggregates.

    Plain data, so Flink can keep it in keyed state (pickled) and the simple
    engine in a dict. `times` mirrors the events' timestamps: bisecting a list
    of ints is several times faster than bisecting events with a key function.
    """

    card_id: str
    clock_ms: int | None = None  # T
    events: list[_Event] = field(default_factory=list)  # sorted by timestamp
    times: list[int] = field(default_factory=list)  # events[i].timestamp
    count_1h: int = 0
    micros_1h: int = 0
    squares_1h: int = 0
    high_risk_1h: int = 0
    countries_1h: dict[str, int] = field(default_factory=dict)

    def __reduce__(self) -> tuple:
        """Pickle as plain values: the Flink engine pickles a card's window into keyed state
        on every event, and a list of plain tuples pickles several times faster than one
        of named tuples (each of those pickles its class and calls back into Python)."""
        return (_restored, (self.card_id, self.clock_ms, [tuple(e) for e in self.events],
                            self.count_1h, self.micros_1h, self.squares_1h, self.high_risk_1h,
                            self.countries_1h))

    def update(self, txn: dict) -> dict | None:
        """Add one transaction; return the card's new feature record, or None if too late."""
        timestamp = txn["timestamp"]
        previous = self.clock_ms
        if previous is not None and timestamp <= previous - WINDOW_1H_MS:
            return None
        self.clock_ms = timestamp if previous is None or timestamp > previous else previous
        event = _Event(timestamp, round(txn["amount"] * MICROS), txn["geo_country"],
                       txn["mcc"] in HIGH_RISK_MCCS)
        self._insert(event)
        self._count(event, +1)
        self._evict(self.clock_ms - WINDOW_1H_MS)
        return self._features(txn, event, previous)

    def _insert(self, event: _Event) -> None:
        """Keep time order; equal timestamps keep arrival order. Most events arrive in order."""
        if not self.times or event.timestamp >= self.times[-1]:
            self.events.append(event)
            self.times.append(event.timestamp)
        else:
            at = bisect_right(self.times, event.timestamp)
            self.events.insert(at, event)
            self.times.insert(at, event.timestamp)

    def _count(self, event: _Event, sign: int) -> None:
        self.count_1h += sign
        self.micros_1h += sign * event.micros
        self.squares_1h += sign * event.micros * event.micros
        self.high_risk_1h += sign * event.high_risk
        if event.country is not None:
            left = self.countries_1h.get(event.country, 0) + sign
            if left:
                self.countries_1h[event.country] = left
            else:
                del self.countries_1h[event.country]

    def _evict(self, cutoff_ms: int) -> None:
        """Drop events at or before `cutoff_ms` (outside (T-1h, T]) from buffer and sums."""
        if self.times[0] > cutoff_ms:
            return
        gone = bisect_right(self.times, cutoff_ms)
        for event in self.events[:gone]:
            self._count(event, -1)
        del self.events[:gone]
        del self.times[:gone]

    def _features(self, txn: dict, event: _Event, previous: int | None) -> dict:
        recent = self.events[bisect_right(self.times, self.clock_ms - WINDOW_5M_MS):]
        micros_5m = 0
        max_5m = recent[0].micros
        for e in recent:
            micros_5m += e.micros
            if e.micros > max_5m:
                max_5m = e.micros
        n = self.count_1h
        # Population variance from exact integer sums: (n*sum(x^2) - sum(x)^2) / n^2.
        variance = (n * self.squares_1h - self.micros_1h ** 2) / (n * n) / MICROS ** 2
        std = math.sqrt(variance)
        mean = self.micros_1h / n / MICROS
        country = txn["geo_country"]
        return {
            "card_id": self.card_id,
            "txn_id": txn["txn_id"],
            "event_ts": event.timestamp,
            "feature_ts": self.clock_ms,
            "txn_count_5m": len(recent),
            "txn_count_1h": n,
            "amount_sum_5m": micros_5m / MICROS,
            "amount_sum_1h": self.micros_1h / MICROS,
            "amount_avg_5m": micros_5m / len(recent) / MICROS,
            "amount_max_5m": max_5m / MICROS,
            "amount_std_1h": std,
            "amount_zscore": (event.micros / MICROS - mean) / std if std > 0 else 0.0,
            "unique_countries_1h": len(self.countries_1h),
            "high_risk_mcc_ratio_1h": self.high_risk_1h / n,
            "seconds_since_prev": None if previous is None else (event.timestamp - previous) / 1000,
            "is_high_velocity": len(recent) >= HIGH_VELOCITY_COUNT,
            "is_new_country": country is not None and self.countries_1h.get(country) == 1,
            "last_geo_country": country,
            "is_fraud": txn["is_fraud"],
        }


def _restored(card_id: str, clock_ms: int | None, events: list[tuple],
              count_1h: int, micros_1h: int, squares_1h: int, high_risk_1h: int,
              countries_1h: dict[str, int]) -> CardWindow:
    """A CardWindow back from `CardWindow.__reduce__`'s plain values."""
    restored = [_Event(*event) for event in events]
    return CardWindow(card_id, clock_ms, restored, [event.timestamp for event in restored],
                      count_1h, micros_1h, squares_1h, high_risk_1h, countries_1h)
