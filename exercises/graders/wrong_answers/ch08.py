"""Plausible wrong answers to chapter 08's exercises: each is the reference solution with one
function replaced, and `exercises/graders/ch08.py` must fail it with `fails_with` in its line."""

from __future__ import annotations

import labkit as lk
from labkit.check import wrong_answer

solution = lk.check.load("08", solutions=True)


@wrong_answer("tumbling_window", fails_with="offset 10000")
def offset_ignored(timestamp_ms: int, *, window_ms: int, offset_ms: int = 0) -> tuple[int, int]:
    """Lays the grid from 0 whatever the offset."""
    return solution.tumbling_window(timestamp_ms, window_ms=window_ms)


@wrong_answer("tumbling_window", fails_with="the window of -1")
def truncated_division(timestamp_ms: int, *, window_ms: int,
                       offset_ms: int = 0) -> tuple[int, int]:
    """Divides with int(a / b), which truncates toward zero: before 1970 the window is the
    next one."""
    start = int((timestamp_ms - offset_ms) / window_ms) * window_ms + offset_ms
    return start, start + window_ms


@wrong_answer("tumbling_window", fails_with="offset 10000")
def offset_added_after_flooring(timestamp_ms: int, *, window_ms: int,
                                offset_ms: int = 0) -> tuple[int, int]:
    """Floors the timestamp on the grid from 0, then adds the offset: past the timestamp."""
    start = timestamp_ms // window_ms * window_ms + offset_ms
    return start, start + window_ms


@wrong_answer("tumbling_window", fails_with="the window of 125000")
def end_inclusive(timestamp_ms: int, *, window_ms: int, offset_ms: int = 0) -> tuple[int, int]:
    """Returns the window's last millisecond as its end: [start, end], not [start, end)."""
    start, end = solution.tumbling_window(timestamp_ms, window_ms=window_ms, offset_ms=offset_ms)
    return start, end - 1


def _watermarks(events: list[tuple[int, int]], partitions: int, *, minus: int,
                held_back_by: set[int] | None = None, newest=max) -> list[int | None]:
    """Per event: the minimum over the partitions in `held_back_by` (default: all) of
    newest(timestamps) - `minus`, None while one of them has none."""
    seen: dict[int, int] = {}
    waiting_for = set(range(partitions)) if held_back_by is None else held_back_by
    out: list[int | None] = []
    for partition, timestamp in events:
        seen[partition] = newest(timestamp, seen.get(partition, timestamp))
        marks = [seen[p] for p in waiting_for if p in seen]
        out.append(None if len(marks) < len(waiting_for) else min(marks) - minus)
    return out


@wrong_answer("watermarks", fails_with="watermarks of [(0, 10000), (0, 20000), (1, 15000)]")
def no_minus_one(events: list[tuple[int, int]], *, partitions: int, delay_ms: int,
                 idle: frozenset[int] = frozenset()) -> list[int | None]:
    """Subtracts the delay only: the watermark is the largest timestamp - delay - 1."""
    return _watermarks(events, partitions, minus=delay_ms,
                       held_back_by=set(range(partitions)) - idle)


@wrong_answer("watermarks", fails_with="(0, 20000)] (2 partitions, idle [1]")
def idle_partitions_wait(events: list[tuple[int, int]], *, partitions: int, delay_ms: int,
                         idle: frozenset[int] = frozenset()) -> list[int | None]:
    """Waits for every partition, idle ones too: an idle partition holds the watermark back."""
    return _watermarks(events, partitions, minus=delay_ms + 1)


@wrong_answer("watermarks", fails_with="(0, 20000)] (2 partitions, idle []")
def unseen_partitions_ignored(events: list[tuple[int, int]], *, partitions: int,
                              delay_ms: int, idle: frozenset[int] = frozenset()
                              ) -> list[int | None]:
    """Takes the minimum over the partitions seen so far: one with no event yet holds
    nothing back."""
    seen = {partition for partition, _ in events}
    return _watermarks(events, partitions, minus=delay_ms + 1, held_back_by=seen - idle)


@wrong_answer("watermarks", fails_with="watermarks of")
def latest_not_largest(events: list[tuple[int, int]], *, partitions: int, delay_ms: int,
                       idle: frozenset[int] = frozenset()) -> list[int | None]:
    """Takes each partition's latest timestamp, not its largest: an out-of-order event
    moves the watermark back."""
    return _watermarks(events, partitions, minus=delay_ms + 1,
                       held_back_by=set(range(partitions)) - idle, newest=lambda new, _old: new)


@wrong_answer("watermarks", fails_with="watermarks of [(0, 10000), (0, 20000), (1, 15000)]")
def largest_over_partitions(events: list[tuple[int, int]], *, partitions: int, delay_ms: int,
                            idle: frozenset[int] = frozenset()) -> list[int | None]:
    """Takes the largest timestamp over all partitions: the slowest partition's events all
    turn late."""
    out: list[int | None] = []
    for n in range(1, len(events) + 1):
        out.append(max(ts for _, ts in events[:n]) - delay_ms - 1)
    return out


@wrong_answer("classify", fails_with="meeting watermark 59999")
def fires_at_the_end(event_ms: int, watermark_ms: int | None, *, window_ms: int,
                     allowed_lateness_ms: int) -> str:
    """Takes the window as fired once the watermark reaches its end, not its last ms."""
    end = event_ms - event_ms % window_ms + window_ms
    if watermark_ms is None or watermark_ms < end:
        return "on time"
    return "late" if watermark_ms < end + allowed_lateness_ms else "dropped"


@wrong_answer("classify", fails_with="meeting watermark 69999")
def lateness_bound_included(event_ms: int, watermark_ms: int | None, *, window_ms: int,
                            allowed_lateness_ms: int) -> str:
    """Keeps the window open while the watermark is at most last ms + allowed lateness."""
    last_ms = event_ms - event_ms % window_ms + window_ms - 1
    if watermark_ms is None or watermark_ms < last_ms:
        return "on time"
    return "late" if watermark_ms <= last_ms + allowed_lateness_ms else "dropped"


@wrong_answer("classify", fails_with="meeting watermark None")
def no_watermark_is_late(event_ms: int, watermark_ms: int | None, *, window_ms: int,
                         allowed_lateness_ms: int) -> str:
    """Treats "no watermark yet" as a watermark past everything."""
    if watermark_ms is None:
        return "dropped"
    return solution.classify(event_ms, watermark_ms, window_ms=window_ms,
                             allowed_lateness_ms=allowed_lateness_ms)


@wrong_answer("classify", fails_with="expected 'late', got 'late, kept'")
def notebook_wording(event_ms: int, watermark_ms: int | None, *, window_ms: int,
                     allowed_lateness_ms: int) -> str:
    """Answers with lk.event_time.fate's words: "late, kept" where the exercise asks "late"."""
    verdict = solution.classify(event_ms, watermark_ms, window_ms=window_ms,
                                allowed_lateness_ms=allowed_lateness_ms)
    return "late, kept" if verdict == "late" else verdict
