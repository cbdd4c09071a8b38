"""Chapter 08 exercises: Flink's clock by hand — windows, watermarks, and what is late.

Grade them with `make check CH=08` (or `.venv/bin/labkit check 08`). Notebook 08 shows
everything you need: tumbling windows in section 1, watermarks per partition and idleness
in section 2, allowed lateness in section 3. Write them from the rules, without labkit's
helpers: the last grader checks your answer against what a live Flink job did.
"""

from __future__ import annotations


def tumbling_window(timestamp_ms: int, *, window_ms: int, offset_ms: int = 0) -> tuple[int, int]:
    """The tumbling window [start, end) that holds `timestamp_ms`.

    Windows are `window_ms` long and start at `offset_ms` + k * `window_ms` for every
    integer k, as `TumblingEventTimeWindows.of(size, offset)` lays them out
    (|offset_ms| < window_ms). An offset shifts the grid: daily windows that start at
    midnight in UTC+8 have offset -8 h. Timestamps before 1970 (negative) count too.

    Example: tumbling_window(125_000, window_ms=60_000) == (120_000, 180_000);
    tumbling_window(125_000, window_ms=60_000, offset_ms=10_000) == (70_000, 130_000).

    Hint: in Python, `%` with a positive divisor never returns a negative number.
    """
    raise NotImplementedError("start = timestamp - (timestamp - offset) mod window")


def watermarks(events: list[tuple[int, int]], *, partitions: int, delay_ms: int,
               idle: frozenset[int] = frozenset()) -> list[int | None]:
    """The watermark a window downstream of `partitions` Kafka partitions holds after each
    event, with one bounded-out-of-orderness generator per partition.

    `events` are (partition, timestamp_ms) in the order they arrive. A partition's
    watermark is the largest timestamp it has had minus `delay_ms` minus 1, or None
    before its first event. The window's watermark is the smallest over the partitions
    that are not idle, and None while any of those has none yet. The partitions in
    `idle` have had no traffic for longer than the idle timeout (`with_idleness`): no
    event comes from them, and they hold nothing back. Assume each generator emits at
    once after every event (Flink emits every 200 ms: the same values, fewer of them).

    Example: watermarks([(0, 10_000), (0, 20_000), (1, 15_000)], partitions=2,
    delay_ms=1_000) == [None, None, 13_999]; watermarks([(0, 10_000), (0, 20_000)],
    partitions=2, delay_ms=1_000) == [None, None] (partition 1 holds it back), but with
    idle=frozenset({1}) it is [8_999, 18_999].

    Hint: keep the largest timestamp per partition; take the minimum over the others.
    """
    raise NotImplementedError("per partition: max - delay - 1; then the min over the active ones")


def classify(event_ms: int, watermark_ms: int | None, *, window_ms: int,
             allowed_lateness_ms: int) -> str:
    """What a tumbling event-time window (windows start at 0) does with an event that
    arrives when the watermark is `watermark_ms` (None: no watermark yet).

    "on time": its window has not fired yet (the watermark is below the window's last
    millisecond, end - 1), or there is no watermark yet. "late": the window has fired,
    but the watermark is less than `allowed_lateness_ms` past that last millisecond, so
    the event is added and the window fires again (notebook 08's `lk.event_time.fate`
    calls it "late, kept"; return exactly "late" here). "dropped": the window has closed
    for good; the event goes to the late side output.

    Example (windows of 60 s, 10 s allowed lateness, an event at 30,000):
    watermark 59,998 -> "on time"; 59,999 -> "late"; 69,999 -> "dropped".

    Hint: Flink drops an event once window end - 1 + allowed lateness <= watermark.
    """
    raise NotImplementedError("compare the watermark with the window's last ms (+ lateness)")
