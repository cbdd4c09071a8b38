"""Reference solutions for chapter 08 (try the exercises in ../ch08_event_time.py first)."""

from __future__ import annotations


def tumbling_window(timestamp_ms: int, *, window_ms: int, offset_ms: int = 0) -> tuple[int, int]:
    """Step back from the timestamp to the last grid point at or before it."""
    start = timestamp_ms - (timestamp_ms - offset_ms) % window_ms
    return start, start + window_ms


def watermarks(events: list[tuple[int, int]], *, partitions: int, delay_ms: int,
               idle: frozenset[int] = frozenset()) -> list[int | None]:
    """Per event: the smallest partition watermark among the partitions that are not idle."""
    largest: dict[int, int] = {}
    active = set(range(partitions)) - idle
    out: list[int | None] = []
    for partition, timestamp in events:
        largest[partition] = max(timestamp, largest.get(partition, timestamp))
        waiting = any(p not in largest for p in active)
        out.append(None if waiting else min(largest[p] for p in active) - delay_ms - 1)
    return out


def classify(event_ms: int, watermark_ms: int | None, *, window_ms: int,
             allowed_lateness_ms: int) -> str:
    """Fired once the watermark reaches the window's last ms; gone `allowed_lateness_ms` later."""
    last_ms = event_ms - event_ms % window_ms + window_ms - 1
    if watermark_ms is None or watermark_ms < last_ms:
        return "on time"
    return "late" if watermark_ms < last_ms + allowed_lateness_ms else "dropped"
