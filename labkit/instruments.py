"""What an engine can report while it runs: seconds per stage and per-message latencies.

The benchmarks pass these in; an engine run without them measures nothing.
Both are plain accumulators, cheap enough to leave on: a stopwatch lap is one
clock read per stage per batch, a latency one subtraction per message.
"""

from __future__ import annotations

import statistics
import time
from collections import defaultdict
from dataclasses import dataclass, field

import numpy as np

__all__ = ["Latencies", "Stopwatch", "percentiles"]


class Stopwatch:
    """Seconds spent per stage, summed over a run: `start()`, then `lap(stage)` after each.

    `began_at` and `ended_at` (epoch seconds) bound the laps: where several
    processes share a run, their loops' union is the run's time. `recent`
    holds each stage's latest lap alone: after a batch, what that batch spent
    in each stage (the latency breakdown reads it).
    """

    def __init__(self) -> None:
        self.seconds: dict[str, float] = defaultdict(float)
        self.recent: dict[str, float] = {}
        self._last = time.perf_counter()
        self.began_at = self.ended_at = time.time()

    def start(self) -> None:
        self._last = time.perf_counter()
        self.began_at = self.ended_at = time.time()

    def lap(self, stage: str) -> None:
        """Charge the time since the last lap (or start) to `stage`."""
        now = time.perf_counter()
        self.seconds[stage] += now - self._last
        self.recent[stage] = now - self._last
        self._last = now
        self.ended_at = time.time()


@dataclass
class Latencies:
    """Per-message latencies in milliseconds, up to the moment Redis acknowledged the
    message's features.

    processing: the message was handed to the engine -> its features were in Redis.
    end_to_end: the producer sent it (the Kafka record's CreateTime) -> the same moment.
    stages_ms: where each message's time went, stage by stage (`record`'s `stages_s`),
    one list per stage, in step with the two above.
    """

    processing_ms: list[float] = field(default_factory=list)
    end_to_end_ms: list[float] = field(default_factory=list)
    stages_ms: dict[str, list[float]] = field(default_factory=dict)

    def record(self, received_s: float, sent_ms: list[int], *, acked_s: float | None = None,
               stages_s: dict[str, float] | None = None) -> None:
        """One batch: handed to the engine at `received_s`, sent at `sent_ms`, its features
        acknowledged by Redis at `acked_s` (time.time(); now if not given).

        `stages_s`: the batch's seconds per stage (`Stopwatch.recent`), charged to each
        of its messages, plus `waiting`: end to end minus processing, the time before
        the engine had the message (producer, broker, fetch, and the queue while the
        engine was busy with earlier batches).
        """
        acked_s = time.time() if acked_s is None else acked_s
        processing_ms = (acked_s - received_s) * 1000
        acked_ms = acked_s * 1000
        end_to_end = [acked_ms - sent for sent in sent_ms]
        self.processing_ms.extend([processing_ms] * len(sent_ms))
        self.end_to_end_ms.extend(end_to_end)
        if stages_s is not None:
            self.stages_ms.setdefault("waiting", []).extend(
                ms - processing_ms for ms in end_to_end)
            for stage, seconds in stages_s.items():
                self.stages_ms.setdefault(stage, []).extend([seconds * 1000] * len(sent_ms))

    def since(self, first: int) -> Latencies:
        """The messages from the `first`-th on (leaving out a warm-up)."""
        return Latencies(self.processing_ms[first:], self.end_to_end_ms[first:],
                         {stage: ms[first:] for stage, ms in self.stages_ms.items()})

    def breakdown(self, points: tuple[int, ...] = (50, 99)) -> dict[str, dict[str, float]]:
        """Per stage, the percentiles of the time messages spent in it; plus `tail`: for the
        messages at or above the processing p99, the mean time each stage took.

        Percentiles of parts do not add up to the percentile of the whole; the tail's
        means do (near enough) add up to its processing time, so they say which stage
        the slowest messages waited on.
        """
        found = {stage: percentiles(ms, points) for stage, ms in self.stages_ms.items()}
        if not self.processing_ms or not self.stages_ms:
            return found
        cutoff = float(np.percentile(np.asarray(self.processing_ms), 99))
        slow = [i for i, ms in enumerate(self.processing_ms) if ms >= cutoff]
        found["tail"] = {stage: round(statistics.fmean(ms[i] for i in slow), 2)
                         for stage, ms in self.stages_ms.items()}
        return found


def percentiles(values_ms: list[float], points: tuple[int, ...] = (50, 95, 99)) -> dict[str, float]:
    """{"p50": ..., "p95": ..., "p99": ...} in ms, rounded to 0.01 ms ({} if there are none)."""
    if not values_ms:
        return {}
    found = np.percentile(np.asarray(values_ms), points)
    return {f"p{point}": round(float(value), 2) for point, value in zip(points, found, strict=True)}
