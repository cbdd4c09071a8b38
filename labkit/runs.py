"""A run of an engine over one input topic: its options, its outputs and its reconciliation.

The plumbing every engine shares around the pure per-message core: where a run
writes (`Outputs`: feature log, dead-letter topic, the SQL engine's late topic,
Redis key prefix), how it is asked to run (`RunOptions`, one shape for every
engine) and what it reports (`RunReport`, counted on the brokers by `reconcile`).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from typing import TYPE_CHECKING

from . import serde, topics
from .processing import DeadLetter, Source

if TYPE_CHECKING:  # instruments loads numpy, which Flink's Python workers need not
    from .instruments import Latencies, Stopwatch

__all__ = ["Delivery", "Outputs", "RunOptions", "RunReport", "delivery", "read_dead_letters",
           "reconcile"]


@dataclass(frozen=True)
class Outputs:
    """Where a run over `input` writes: feature log, dead letters and Redis key prefix.

    `tag` keeps two runs over the same input apart (e.g. one per engine).
    With `late_topic`, the run also writes `late`: one record for each row an
    engine drops at or behind its watermark (the Flink SQL engine), so those
    are counted rather than lost without a trace. `mark` keeps one engine's
    outputs apart from every other engine's whatever the tag: the Flink SQL
    engine's `-sql` (`<input>.features-sql<tag>`), whose rows are JSON, not
    the contract's Avro. Each engine's are `labkit.engines.get(name).outputs`.
    """

    input: str
    tag: str = ""
    late_topic: bool = False
    mark: str = ""

    def _topic(self, kind: str) -> str:
        return f"{self.input}.{kind}{self.mark}{self.tag}"

    @property
    def features(self) -> str:
        return self._topic("features")

    @property
    def dlq(self) -> str:
        return self._topic("dlq")

    @property
    def late(self) -> str:
        return self._topic("late")

    @property
    def answers(self) -> tuple[str, ...]:
        """The topics whose every record answers one input message: features, dead
        letters and, if the run writes one, the late topic."""
        return (self.features, self.dlq, *((self.late,) if self.late_topic else ()))

    def group(self, engine: str) -> str:
        """The default consumer group of `engine` for this input and tag."""
        return f"{engine}-{self.input}{self.mark}{self.tag}"

    @property
    def redis_prefix(self) -> str:
        return f"features:{self.input}{self.mark}{self.tag}:"

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
            if topic not in existing:  # exist_ok: processes of one group start together
                topics.create_topic(topic, partitions=partitions, exist_ok=True,
                                    config=appended if topic == self.features else None)


# The command-line flag that sets each run option away from its default (for errors).
FLAGS = {"tag": "--tag", "group": "--group", "partitions": "--only",
         "from_beginning": "--from-committed", "until_end": "--follow",
         "rebuild": "--no-rebuild", "parallelism": "--parallelism", "cluster": "--flink-cluster",
         "guarantee": "--guarantee", "instance": "--instance", "crash_in_batch": "--crash-in-batch",
         "pause_after": "--pause-after", "members": "--members"}


@dataclass(frozen=True)
class RunOptions:
    """How to run an engine: one shape for all of them.

    Each engine takes some of these (`labkit.engines.ENGINES` says which); an
    option an engine does not take must stay at its default, or the run is
    refused with a LabError, never silently ignored.
    """

    tag: str = ""
    group: str | None = None  # processes in one group share the input's partitions
    partitions: list[int] | None = None  # a fixed share of the input instead (benchmarks)
    guarantee: str = "at-least-once"  # or at-most-once, exactly-once (engines.guarantees)
    instance: str = "0"  # a process's identity in its group (its transactional.id)
    crash_in_batch: int | None = None  # the failure lab: SIGKILL between write and commit
    pause_after: int | None = None  # the failure lab: SIGSTOP once this many are committed
    members: int | None = None  # wait for this many group members first (benchmarks)
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
    `outputs` is where the run wrote, so whoever reads its records next (a
    benchmark, a parity check) never works the topic names out again.
    """

    engine: str
    input_messages: int
    feature_records: int
    dead_letters: dict[str, int]
    dropped: int = 0  # at or behind the watermark, counted from the late topic
    outputs: Outputs = field(kw_only=True)  # where the run wrote: what was counted

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


@dataclass(frozen=True)
class Delivery:
    """How often a run answered each input message: once, more than once, or never (lost).

    An answer is a feature record (known by its `txn_id`) or a dead letter (known by
    the input's partition and offset).
    """

    inputs: int
    once: int  # inputs answered exactly once
    more: int  # inputs answered more than once
    answers: int  # answers in all, repeats included

    @property
    def lost(self) -> int:
        return self.inputs - self.once - self.more

    @property
    def repeated(self) -> int:
        """Answers beyond each input's first."""
        return self.answers - self.once - self.more

    def shares(self) -> dict[str, int]:
        """Inputs by how often they were answered (what `plots.where_inputs_went` draws)."""
        return {"once": self.once, "more than once": self.more, "never (lost)": self.lost}

    def __str__(self) -> str:
        return (f"{self.inputs:,} inputs: {self.once:,} answered once, {self.more:,} more than "
                f"once ({self.repeated:,} repeats), {self.lost:,} lost")


def delivery(outputs: Outputs, *, committed_only: bool = True) -> Delivery:
    """Count the run's answers per input, as a read_committed reader sees the outputs (or,
    without `committed_only`, as a reader that also sees aborted transactions)."""
    records = topics.read_all(outputs.features, committed_only=committed_only)
    answers = Counter(row["txn_id"] for row in
                      serde.decode_records(records, serde.ConfluentDecoder()))
    answers.update(tuple(value for name, value in record.headers if name in _SOURCE)
                   for record in topics.read_all(outputs.dlq, committed_only=committed_only))
    once = sum(1 for count in answers.values() if count == 1)
    return Delivery(topics.count(outputs.input), once, len(answers) - once,
                    sum(answers.values()))


# The dead-letter headers that say where a letter's message sat in the input.
_SOURCE = ("dlq.topic", "dlq.partition", "dlq.offset")


def reconcile(engine: str, outputs: Outputs, *, transactional: bool = False) -> RunReport:
    """Count input, feature records, dead letters (by reason) and, if the run writes a
    late topic, the rows dropped behind the watermark, on the brokers; the report
    names `outputs`, where they were counted.

    A `transactional` run's feature log also holds aborted records and the
    transactions' commit markers, which take offsets too: its records are
    counted by reading them as a read_committed consumer does, not by offsets.
    """
    reasons = Counter(letter.reason for letter in read_dead_letters(outputs))
    dropped = topics.count(outputs.late) if outputs.late_topic else 0
    features = (len(topics.read_all(outputs.features)) if transactional
                else topics.count(outputs.features))
    return RunReport(engine, topics.count(outputs.input), features, dict(reasons), dropped,
                     outputs=outputs)
