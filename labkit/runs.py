"""A run of an engine over one input topic: its options, its outputs and its reconciliation.

The plumbing every engine shares around the pure per-message core: where a run
writes (`Outputs`: feature log, dead-letter topic, the SQL engine's late topic,
Redis key prefix), how it is asked to run (`RunOptions`, one shape for every
engine) and what it reports (`RunReport`, counted on the brokers by `reconcile`).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, fields
from typing import TYPE_CHECKING

from . import topics
from .processing import DeadLetter, Source

if TYPE_CHECKING:  # instruments loads numpy, which Flink's Python workers need not
    from .instruments import Latencies, Stopwatch

__all__ = ["Outputs", "RunOptions", "RunReport", "read_dead_letters", "reconcile"]


@dataclass(frozen=True)
class Outputs:
    """Where a run over `input` writes: feature log, dead letters and Redis key prefix.

    `tag` keeps two runs over the same input apart (e.g. one per engine).
    With `late_topic`, the run also writes `late`: one record for each row an
    engine drops at or behind its watermark (the Flink SQL engine), so those
    are counted rather than lost without a trace.
    """

    input: str
    tag: str = ""
    late_topic: bool = False

    @property
    def features(self) -> str:
        return f"{self.input}.features{self.tag}"

    @property
    def dlq(self) -> str:
        return f"{self.input}.dlq{self.tag}"

    @property
    def late(self) -> str:
        return f"{self.input}.late{self.tag}"

    @property
    def answers(self) -> tuple[str, ...]:
        """The topics whose every record answers one input message: features, dead
        letters and, if the run writes one, the late topic."""
        return (self.features, self.dlq, *((self.late,) if self.late_topic else ()))

    def group(self, engine: str) -> str:
        """The default consumer group of `engine` for this input and tag."""
        return f"{engine}-{self.input}{self.tag}"

    @property
    def redis_prefix(self) -> str:
        return f"features:{self.input}{self.tag}:"

    def create_topics(self) -> None:
        """Output topics with the input's partition count, so keys keep their partition.

        The broker stamps each feature record with the time it was appended
        (LogAppendTime), whatever the engine sets: the moment a feature became
        available, which end-to-end latency is measured to.
        """
        partitions = int(topics.describe(self.input)["partitions"])
        existing = topics.list_topics()
        appended = {"message.timestamp.type": "LogAppendTime"}
        for topic in self.answers:
            if topic not in existing:
                topics.create_topic(topic, partitions=partitions,
                                    config=appended if topic == self.features else None)


# The command-line flag that sets each run option away from its default (for errors).
FLAGS = {"tag": "--tag", "group": "--group", "partitions": "--only",
         "from_beginning": "--from-committed", "until_end": "--follow",
         "rebuild": "--no-rebuild", "parallelism": "--parallelism", "cluster": "--flink-cluster"}


@dataclass(frozen=True)
class RunOptions:
    """How to run an engine: one shape for all of them.

    Each engine takes some of these (`labkit.engines.ENGINES` says which); an
    option an engine does not take must stay at its default, or the run is
    refused with a LabError, never silently ignored.
    """

    tag: str = ""
    group: str | None = None
    partitions: list[int] | None = None  # a share of the input (scale-out)
    from_beginning: bool = True  # where to start without committed offsets
    until_end: bool = True  # stop at the end offsets seen at start
    max_messages: int | None = None  # followed Flink runs: outputs (`Outputs.answers`)
    rebuild: bool = True  # rebuild card windows from Kafka on start
    parallelism: int = 1
    cluster: bool = False  # the standalone Flink cluster, not a mini-cluster per job
    progress: bool = False  # a progress bar
    stopwatch: Stopwatch | None = None  # seconds per stage, for benchmarks
    latencies: Latencies | None = None  # per-message latency, for benchmarks
    started: Callable[[], None] | None = None  # a followed job runs: benchmarks start the load
    flink_settings: dict[str, str] | None = None  # on the job's configuration, for benchmarks

    def changed(self) -> list[str]:
        """The options given a value other than their default."""
        return [option.name for option in fields(self)
                if getattr(self, option.name) != option.default]

    @staticmethod
    def describe(name: str) -> str:
        """Option `name` as a user knows it: `cluster` (--flink-cluster)."""
        flag = FLAGS.get(name)
        return f"`{name}`" + (f" ({flag})" if flag else "")


@dataclass(frozen=True)
class RunReport:
    """Reconciliation of a bounded run, counted from the topics themselves.

    Balanced when every input message is a feature record, a dead letter or
    `dropped`: at or behind the watermark, where the Flink SQL engine's OVER
    windows cannot take it, and counted from the late topic (`Outputs.late`,
    one record each). Anything else is `unaccounted`: lost without a trace.
    """

    engine: str
    input_messages: int
    feature_records: int
    dead_letters: dict[str, int]
    dropped: int = 0  # at or behind the watermark, counted from the late topic

    @property
    def unaccounted(self) -> int:
        """Input messages with no output (negative: outputs written more than once)."""
        return (self.input_messages - self.feature_records - sum(self.dead_letters.values())
                - self.dropped)

    @property
    def balanced(self) -> bool:
        return self.unaccounted == 0

    def __str__(self) -> str:
        reasons = ", ".join(f"{reason} {count:,}" for reason, count in
                            sorted(self.dead_letters.items()))
        if self.balanced:
            verdict = "balanced"
        elif self.unaccounted > 0:
            verdict = f"NOT BALANCED: {self.unaccounted:,} input messages have no output"
        else:
            verdict = f"NOT BALANCED: {-self.unaccounted:,} outputs more than inputs"
        dropped = f" + dropped behind the watermark {self.dropped:,}" if self.dropped else ""
        return (f"{self.engine}: input {self.input_messages:,} = feature records "
                f"{self.feature_records:,} + dead letters {sum(self.dead_letters.values()):,}"
                f" ({reasons or 'none'}){dropped} -> {verdict}")


def read_dead_letters(outputs: Outputs, *, timeout_s: float = 60.0) -> list[DeadLetter]:
    """The run's dead-letter topic, back as DeadLetters, in the order of their sources."""
    letters = []
    for record in topics.read_all(outputs.dlq, timeout_s=timeout_s):
        headers = {name: value.decode() for name, value in record.headers}
        source = Source(headers["dlq.topic"], int(headers["dlq.partition"]),
                        int(headers["dlq.offset"]))
        letters.append(DeadLetter(record.key, record.value, headers["dlq.reason"],
                                  headers["dlq.error"], source))
    return sorted(letters, key=lambda letter: (letter.source.partition, letter.source.offset))


def reconcile(engine: str, outputs: Outputs) -> RunReport:
    """Count input, feature records, dead letters (by reason) and, if the run writes a
    late topic, the rows dropped behind the watermark, on the brokers."""
    reasons = Counter(letter.reason for letter in read_dead_letters(outputs))
    dropped = topics.count(outputs.late) if outputs.late_topic else 0
    return RunReport(engine, topics.count(outputs.input), topics.count(outputs.features),
                     dict(reasons), dropped)
