"""Graders for chapter 08: the rules on cases made here, and `classify` against a live Flink job."""

from __future__ import annotations

import random
from collections import Counter
from types import ModuleType

import labkit as lk
from labkit.check import Wrong, grader
from labkit.errors import LabError

SEED = 808  # not the notebook's seed: the exercises see other transactions
MINUTE = 60_000


# -- tumbling_window: hand cases, then the properties on random ones ---------------------

@grader("tumbling_window", hint="start = timestamp - (timestamp - offset) % window; "
        "end = start + window (Python's % is never negative here)")
def grade_tumbling_window(exercise: ModuleType) -> None:
    hand = {(125_000, MINUTE, 0): (120_000, 180_000), (125_000, MINUTE, 10_000): (70_000, 130_000),
            (59_999, MINUTE, 0): (0, MINUTE), (60_000, MINUTE, 0): (MINUTE, 2 * MINUTE),
            (-1, MINUTE, 0): (-MINUTE, 0), (5, 10, -3): (-3, 7)}
    for (timestamp, window, offset), expected in hand.items():
        got = exercise.tumbling_window(timestamp, window_ms=window, offset_ms=offset)
        if tuple(got) != expected:
            raise Wrong(f"the window of {timestamp} (window {window}, offset {offset})",
                        expected=expected, got=got)
    rng = random.Random(SEED)
    for _ in range(2_000):
        window = rng.choice((1_000, MINUTE, 86_400_000))
        offset = rng.randrange(-window + 1, window)
        timestamp = rng.randrange(-10**13, 10**13)
        start, end = exercise.tumbling_window(timestamp, window_ms=window, offset_ms=offset)
        if not (end - start == window and start <= timestamp < end
                and (start - offset) % window == 0):
            raise Wrong(f"the window of {timestamp} (window {window}, offset {offset}): a "
                        "window as long as window_ms, holding the timestamp, on the grid",
                        got=(start, end))


# -- watermarks: hand cases, then random streams against a recount of every prefix -------

def _recounted(events: list[tuple[int, int]], partitions: int, delay_ms: int,
               idle: frozenset[int]) -> list[int | None]:
    """The watermark after each event, each from scratch over the events so far."""
    out: list[int | None] = []
    for n in range(1, len(events) + 1):
        seen = events[:n]
        marks = [max((ts for p, ts in seen if p == partition), default=None)
                 for partition in range(partitions) if partition not in idle]
        out.append(None if None in marks else min(marks) - delay_ms - 1)
    return out


def _stream(rng: random.Random, partitions: int, idle: frozenset[int]) -> list[tuple[int, int]]:
    busy = [p for p in range(partitions) if p not in idle]
    clock = lk.generate.START_MS
    events = []
    for _ in range(rng.randrange(1, 40)):
        clock += rng.randrange(1, 3_000)
        events.append((rng.choice(busy), clock - rng.randrange(0, 10_000)))  # out of order
    return events


@grader("watermarks", hint="per partition: its largest timestamp - delay - 1 (None before its "
        "first event); the window's watermark is the minimum over the partitions not idle")
def grade_watermarks(exercise: ModuleType) -> None:
    events = [(0, 10_000), (0, 20_000), (1, 15_000)]
    cases = [(events, 2, frozenset()), (events[:2], 2, frozenset()),
             (events[:2], 2, frozenset({1})), ([(2, 7_000), (0, 9_000)], 3, frozenset({1}))]
    rng = random.Random(SEED)
    for _ in range(300):
        partitions = rng.randrange(1, 5)
        idle = frozenset(p for p in range(1, partitions) if rng.random() < 0.3)
        cases.append((_stream(rng, partitions, idle), partitions, idle))
    for stream, partitions, idle in cases:
        expected = _recounted(stream, partitions, 1_000, idle)
        got = exercise.watermarks(list(stream), partitions=partitions, delay_ms=1_000, idle=idle)
        if list(got) != expected:
            raise Wrong(f"watermarks of {stream[:4]}{' …' if len(stream) > 4 else ''} "
                        f"({partitions} partitions, idle {sorted(idle)}, delay 1,000 ms)",
                        expected=expected, got=got)


# -- classify: the bounds, then every event of a live job against what Flink did --------

def _live_run() -> lk.event_time.EventTimeRun:
    """A followed job with late events: some in the newest fired window (kept), one in the
    oldest (dropped). They are sent only once the first windows fired, so the watermark
    they meet is known."""
    topic = lk.topics.fresh_topic("ch08-late")
    delay = 10_000
    first = list(lk.generate.transactions(150, seed=SEED, n_cards=10, jitter_ms=delay,
                                          late_share=0.1))
    lk.event_time.produce(topic, first)
    stamps = [txn["timestamp"] for txn in first]
    settled = lk.event_time.watermark_after(stamps, delay_ms=delay)
    fired = lk.event_time.expected_windows(stamps, window_ms=MINUTE, watermark_ms=settled)
    late = [max(fired) + 1_000, max(fired) + 2_000, min(fired) + 1_000]
    again = lk.generate.transactions(len(late), seed=SEED + 1, n_cards=10)
    options = lk.event_time.Options(window_ms=MINUTE, delay_ms=delay, allowed_lateness_ms=MINUTE)
    with lk.event_time.following(topic, options, tag=".grader") as job:
        if not job.wait(windows=len(fired), timeout_s=60):
            raise LabError("The grader's Flink job fired no window within 60 s.",
                           "check the stack (`labkit stack status`) and the log above.")
        lk.event_time.produce(topic, [{**txn, "timestamp": ts} for txn, ts in zip(again, late,
                                                                                  strict=True)])
        job.wait(seen=len(first) + len(late), windows=len(fired) + 2, late=1, timeout_s=60)
    return job.result()


@grader("classify", hint="the window's last ms is start + window - 1: below it 'on time'; "
        "from it to (not including) last ms + allowed lateness 'late'; after that 'dropped'")
def grade_classify(exercise: ModuleType) -> None:
    for watermark, expected in [(None, "on time"), (59_998, "on time"), (59_999, "late"),
                                (69_998, "late"), (69_999, "dropped")]:
        got = exercise.classify(30_000, watermark, window_ms=MINUTE, allowed_lateness_ms=10_000)
        if got != expected:
            raise Wrong(f"an event at 30,000 meeting watermark {watermark} (windows of 60 s, "
                        "10 s allowed lateness)", expected=expected, got=got)
    run = _live_run()
    options = run.options
    yours = {seen.txn_id: exercise.classify(seen.event_ms, seen.watermark_ms,
                                            window_ms=options.window_ms,
                                            allowed_lateness_ms=options.allowed_lateness_ms)
             for seen in run.trace}
    dropped = sorted(txn for txn, verdict in yours.items() if verdict == "dropped")
    if dropped != sorted(late.txn_id for late in run.late):
        raise Wrong("the events Flink sent to the late side output",
                    expected=sorted(late.txn_id for late in run.late), got=dropped)
    refired = Counter(fired.start_ms for fired in run.windows)
    kept = Counter(lk.event_time.window_start(seen.event_ms, options.window_ms)
                   for seen in run.trace if yours[seen.txn_id] == "late")
    expected_kept = {start: n - 1 for start, n in refired.items() if n > 1}
    if dict(kept) != expected_kept:
        raise Wrong("late events kept, per window start (each made Flink fire its window again)",
                    expected=expected_kept, got=dict(kept))
