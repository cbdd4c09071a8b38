"""What an engine can report while it runs: seconds per stage and per-message latencies.

The benchmarks pass these in; an engine run without them measures nothing.
Both are plain accumulators, cheap enough to leave on: a stopwatch lap is one
clock read per stage per batch, a latency one subtraction per message.
"""

from __future__ import annotations

import time
from collections import defaultdict
from dataclasses import dataclass, field

import numpy as np

__all__ = ["Latencies", "Stopwatch", "percentiles"]


class Stopwatch:
    """Seconds spent per stage, summed over a run: `start()`, then `lap(stage)` after each.

    `began_at` and `ended_at` (epoch seconds) bound the laps: where several
    processes share a run, their loops' union is the run's time.
    """

    def __init__(self) -> None:
        self.seconds: dict[str, float] = defaultdict(float)
        self._last = time.perf_counter()
        self.began_at = self.ended_at = time.time()

    def start(self) -> None:
        self._last = time.perf_counter()
        self.began_at = self.ended_at = time.time()

    def lap(self, stage: str) -> None:
        """Charge the time since the last lap (or start) to `stage`."""
        now = time.perf_counter()
        self.seconds[stage] += now - self._last
        self._last = now
        self.ended_at = time.time()


@dataclass
class Latencies:
    """Per-message latencies in milliseconds, recorded when a batch's Redis write is acknowledged.

    processing: the message was handed to the engine -> its features were in Redis.
    end_to_end: the producer sent it (the Kafka record's CreateTime) -> the same moment.
    """

    processing_ms: list[float] = field(default_factory=list)
    end_to_end_ms: list[float] = field(default_factory=list)

    def record(self, received_s: float, sent_ms: list[int]) -> None:
        """One batch: received at `received_s` (time.time()), sent at `sent_ms`; acked now."""
        acked_s = time.time()
        self.processing_ms.extend([(acked_s - received_s) * 1000] * len(sent_ms))
        acked_ms = acked_s * 1000
        self.end_to_end_ms.extend(acked_ms - sent for sent in sent_ms)


def percentiles(values_ms: list[float], points: tuple[int, ...] = (50, 95, 99)) -> dict[str, float]:
    """{"p50": ..., "p95": ..., "p99": ...} in ms, rounded to 0.01 ms ({} if there are none)."""
    if not values_ms:
        return {}
    found = np.percentile(np.asarray(values_ms), points)
    return {f"p{point}": round(float(value), 2) for point, value in zip(points, found, strict=True)}
