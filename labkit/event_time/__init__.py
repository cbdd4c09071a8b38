"""Flink's own clock: watermarks, late data, and a job that "runs but emits nothing" (notebook 08).

The lab's engines keep a clock per card and use no watermarks (notebook 04).
This module runs a small DataStream job that uses Flink's event time instead
(`labkit.event_time.job`): the record's `timestamp` field is its event time, a
bounded-out-of-orderness watermark is generated per partition, and a tumbling
event-time window counts the events. The job writes JSON lines into an output
topic; `EventTimeRun` holds them read back: the window firings, the events that
came too late, and a trace of every event (its event time, when it was seen,
the watermark it met).

- `run`: bounded, reads to the end offsets seen at start. At the end of its
  input Flink sends a last watermark (Long.MAX_VALUE) that fires every window,
  so a bounded run never shows a stalled watermark.
- `following`: follows the topic; `Job.wait` waits (bounded) for outputs, and
  the job is cancelled when the `with` block ends. This is how a stall shows:
  nothing, for as long as one waits.
- Pure helpers, to check the job against counts made without Flink:
  `window_start`, `expected_windows`, `watermark_after`, `fate`.

PyFlink is imported only inside `run` and `following`.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import partial
from typing import Any

from .. import serde, topics
from ..errors import LabError
from ..polling import poll
from ..settings import get_settings
from ..stack import flink_settings
from ..stack.flink_jobs import ENDED, pyflink_job

__all__ = ["DROPPED", "LATE_KEPT", "MAX_WATERMARK", "MIN_WATERMARK", "ON_TIME", "EventTimeRun",
           "Fired", "Job", "Late", "Options", "Seen", "expected_windows", "fate", "following",
           "no_watermark", "output_topic", "produce", "read", "run", "watermark_after",
           "window_start"]

MIN_WATERMARK = -(2**63)  # Long.MIN_VALUE: Flink's watermark before the first one arrives
MAX_WATERMARK = 2**63 - 1  # Long.MAX_VALUE: the watermark a source sends at the end of its input
# Flink's default `pipeline.auto-watermark-interval`: how often a generator emits.
WATERMARK_INTERVAL_MS = 200
ON_TIME, LATE_KEPT, DROPPED = "on time", "late, kept", "dropped"


@dataclass(frozen=True)
class Options:
    """The job's clock: `window_ms` tumbling windows; watermarks `delay_ms` behind the
    largest event time seen per partition, emitted every `watermark_interval_ms`; a
    partition with no events for `idle_ms` stops holding the watermark back (None:
    never); windows accept events up to `allowed_lateness_ms` behind the watermark."""

    window_ms: int
    delay_ms: int
    idle_ms: int | None = None
    allowed_lateness_ms: int = 0
    watermark_interval_ms: int = WATERMARK_INTERVAL_MS


@dataclass(frozen=True)
class Seen:
    """One event as the window operator got it: seen at processing time `seen_ms`, when
    the watermark was `watermark_ms` (None: no watermark yet)."""

    txn_id: str
    event_ms: int
    seen_ms: int
    watermark_ms: int | None


@dataclass(frozen=True)
class Fired:
    """One firing of the window [start_ms, end_ms): its count, the watermark that fired it
    and the processing time it fired at."""

    start_ms: int
    end_ms: int
    count: int
    watermark_ms: int | None
    fired_ms: int


@dataclass(frozen=True)
class Late:
    """An event that came after its window had closed for good: sent to the side output."""

    txn_id: str
    event_ms: int


@dataclass(frozen=True)
class EventTimeRun:
    """What one run of the job wrote: its trace, its window firings and its late events."""

    options: Options
    trace: list[Seen]
    windows: list[Fired]
    late: list[Late]

    def counts(self) -> dict[int, int]:
        """Window start -> its count at its last firing (a late event re-fires a window)."""
        return {fired.start_ms: fired.count for fired in self.windows}  # in firing order

    def fates(self) -> Counter[str]:
        """How many traced events were on time, late but kept, or dropped (by `fate`)."""
        return Counter(fate(seen.event_ms, seen.watermark_ms, window_ms=self.options.window_ms,
                            allowed_lateness_ms=self.options.allowed_lateness_ms)
                       for seen in self.trace)


# -- pure: what the job must do, computed without Flink -----------------------------------

def no_watermark(watermark_ms: int) -> int | None:
    """Flink's "no watermark yet" (Long.MIN_VALUE) as None; any other value as it is."""
    return None if watermark_ms == MIN_WATERMARK else watermark_ms


def window_start(timestamp_ms: int, window_ms: int) -> int:
    """The start of the tumbling window holding `timestamp_ms` (windows start at 0, epoch).

    Python's % rounds towards minus infinity, so timestamps before 1970 land right too.
    """
    return timestamp_ms - timestamp_ms % window_ms


def expected_windows(timestamps_ms: Iterable[int], *, window_ms: int,
                     watermark_ms: int | None = None) -> dict[int, int]:
    """Window start -> how many of `timestamps_ms` it holds, for the windows a watermark of
    `watermark_ms` has fired (None: all of them, as the end of bounded input does).

    A window [s, s + window_ms) fires once the watermark reaches its last
    millisecond, s + window_ms - 1. Counted here with no Flink at all.
    """
    counts = Counter(window_start(ts, window_ms) for ts in timestamps_ms)
    return {start: counts[start] for start in sorted(counts)
            if watermark_ms is None or start + window_ms - 1 <= watermark_ms}


def watermark_after(timestamps_ms: Iterable[int], *, delay_ms: int) -> int:
    """The watermark a bounded-out-of-orderness generator emits once it has seen
    `timestamps_ms`: the largest minus the delay minus 1 ms (Flink's
    BoundedOutOfOrdernessWatermarks: a watermark t says no event at or before t follows)."""
    return max(timestamps_ms) - delay_ms - 1


def fate(event_ms: int, watermark_ms: int | None, *, window_ms: int,
         allowed_lateness_ms: int = 0) -> str:
    """What a tumbling event-time window does with an event that meets `watermark_ms`.

    ON_TIME: its window has not fired yet. LATE_KEPT: it has (the watermark reached
    its last millisecond), but the watermark is less than `allowed_lateness_ms`
    past it, so the event is added and the window fires again. DROPPED: the window
    has closed for good; the event goes to the late side output, if there is one.
    """
    if watermark_ms is None:
        return ON_TIME
    last_ms = window_start(event_ms, window_ms) + window_ms - 1
    if watermark_ms < last_ms:
        return ON_TIME
    return LATE_KEPT if watermark_ms < last_ms + allowed_lateness_ms else DROPPED


# -- running the job -----------------------------------------------------------------------

def output_topic(topic: str, tag: str = "") -> str:
    """Where a run over `topic` writes its JSON lines: `<topic>.event-time<tag>`."""
    return f"{topic}.event-time{tag}"


def read(output: str, options: Options) -> EventTimeRun:
    """A run's outputs, read back from its output topic."""
    lines = [json.loads(record.value) for record in topics.read_all(output)]
    by_kind: dict[str, list[dict]] = {"seen": [], "window": [], "late": []}
    for line in lines:
        by_kind[line.pop("kind")].append(line)
    return EventTimeRun(options, [Seen(**line) for line in by_kind["seen"]],
                        [Fired(**line) for line in by_kind["window"]],
                        [Late(**line) for line in by_kind["late"]])


def produce(topic: str, transactions: Iterable[dict]) -> int:
    """Produce `transactions` with the timestamps they carry (late ones, say) to `topic`, as
    `generate.produce` does: Confluent-framed, keyed by card_id. Return how many."""
    encode = serde.make_encoder("confluent", topic=topic)
    return topics.produce(topic, ((txn["card_id"].encode(), encode(txn)) for txn in transactions))


def _environment(options: Options) -> Any:
    """A mini-cluster environment with the lab's job settings and the watermark interval."""
    from pyflink.datastream import StreamExecutionEnvironment

    job = flink_settings.event_time_job(get_settings(),
                                        watermark_interval_ms=options.watermark_interval_ms)
    return StreamExecutionEnvironment.get_execution_environment(flink_settings.configuration(job))


def _prepared(topic: str, options: Options, tag: str, *, bounded: bool) -> tuple[Any, str]:
    """The environment with the job added, and the (new) output topic."""
    from . import job

    output = topics.create_topic(output_topic(topic, tag))
    env = _environment(options)
    job.build(env, topic, output, options, partitions=int(topics.describe(topic)["partitions"]),
              bounded=bounded)
    return env, output


def run(topic: str, options: Options, *, tag: str = "") -> EventTimeRun:
    """Run the job over `topic` from its start to the end offsets seen at start."""
    with pyflink_job():
        env, output = _prepared(topic, options, tag, bounded=True)
        env.execute(f"event time: {topic}")
    return read(output, options)


class Job:
    """A job following its topic: wait for its outputs, read them."""

    def __init__(self, client: Any, output: str, options: Options) -> None:
        self.client, self.output, self.options = client, output, options

    def state(self) -> str:
        """RUNNING, CANCELED, FAILED, ... as Flink reports it."""
        return self.client.get_job_status().result().name

    def _holds(self, wanted: dict[str, int]) -> bool:
        kinds = Counter(json.loads(record.value)["kind"] for record in topics.read_all(self.output))
        return all(kinds[kind] >= count for kind, count in wanted.items())

    def wait(self, *, seen: int = 0, windows: int = 0, late: int = 0,
             timeout_s: float = 30.0) -> bool:
        """Wait until the outputs hold at least `seen` traced events, `windows` firings and
        `late` events; return False if `timeout_s` passes first (a stalled watermark)."""
        wanted = {"seen": seen, "window": windows, "late": late}
        return poll(partial(self._arrived, wanted), timeout_s=timeout_s, interval_s=0.25)

    def _arrived(self, wanted: dict[str, int]) -> bool:
        """Do the outputs hold what is `wanted`? A LabError if the job ended without them."""
        if self._holds(wanted):
            return True
        if (state := self.state()) in ENDED:
            raise LabError(f"The event-time job over {self.output!r} ended ({state}) while "
                           "waiting for its outputs.",
                           "see the mini-cluster's log above for its exception.")
        return False

    def result(self) -> EventTimeRun:
        """Everything the job has written so far."""
        return read(self.output, self.options)


@contextmanager
def following(topic: str, options: Options, *, tag: str = "") -> Iterator[Job]:
    """Start the job following `topic` (no end) and yield it once it runs; cancel it when
    the block ends. Only a followed job can show a watermark that never advances."""
    from ..engines import flink_follow

    with pyflink_job():
        env, output = _prepared(topic, options, tag, bounded=False)
        client = env.execute_async(f"event time, followed: {topic}")
        job = Job(client, output, options)
        try:
            flink_follow.wait_running(client, f"the event-time job over {topic!r}")
            yield job
        finally:
            if job.state() not in ENDED:
                client.cancel().result()
