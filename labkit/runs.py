"""A run of an engine over one input topic: its options, its outputs and its reconciliation.

The plumbing every engine shares around the pure per-message core: where a run
writes (`Outputs`: feature log, dead-letter topic, the SQL engine's late topic,
Redis key prefix), how it is asked to run (`RunOptions`, one shape for every
engine; `RUN_FLAGS`, the one table of their command-line flags, which `to_argv`
writes and `labkit process` reads) and what it reports (`RunReport`, counted on
the brokers by `reconcile`).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from typing import TYPE_CHECKING, Any

from . import serde, topics
from .errors import LabError
from .processing import DeadLetter, Source

if TYPE_CHECKING:  # instruments loads numpy, which Flink's Python workers need not
    from .instruments import Latencies, Stopwatch

__all__ = ["PYTHON_ONLY", "RUN_FLAGS", "Delivery", "Flag", "Outputs", "RunOptions", "RunReport",
           "delivery", "read_dead_letters", "reconcile", "to_argv"]


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
        """Option `name` as a user knows it: `until_end` (--until-end/--follow)."""
        flag = RUN_FLAGS.get(name)
        return f"`{name}`" + (f" ({flag.names})" if flag else "")


def _same(value: Any) -> Any:
    return value


def _partition_text(partitions: list[int]) -> str:
    return ",".join(map(str, partitions))


def _partition_list(text: str | None) -> list[int] | None:
    """`--only 0,2` as partitions, or a LabError saying how to write it."""
    try:
        return None if text is None else [int(part) for part in text.split(",")]
    except ValueError:
        raise LabError(f"--only {text!r} is not a list of partition numbers.",
                       "write it like --only 0,2.") from None


@dataclass(frozen=True)
class Flag:
    """One run option on the command line: its flag, its help, and how its value is
    written as argv (`argv`) and read back from what the command line parsed (`read`).

    A switch (a bool option) has a pair, `--until-end/--follow`: the first sets the
    option True, the second False, so the option and its flags say the same thing; a
    switch that is off by default may have its on flag alone (`--flink-cluster`).
    `kind` is what the command line parses (the text of `--only 0,2` is a str);
    `minimum` bounds an int.
    """

    option: str  # the RunOptions field
    names: str  # "--tag", or a switch's "--on/--off"
    help: str
    short: str = ""  # "-p"
    kind: type = str
    minimum: int | None = None
    write: Callable[[Any], str] = str  # the option's value -> its text in argv
    read: Callable[[Any], Any] = _same  # what the command line parsed -> the option's value

    def argv(self, value: Any) -> list[str]:
        """`value` on the command line: a switch's on or off flag; nothing for None (unset)."""
        if self.kind is bool:
            on, _, off = self.names.partition("/")
            return [on] if value else [off] if off else []
        return [] if value is None else [self.names, self.write(value)]


# Every run option the command line sets (`labkit process`), in --help's order.
RUN_FLAGS: dict[str, Flag] = {flag.option: flag for flag in (
    Flag("from_beginning", "--from-beginning/--from-committed",
         "Where to start without committed offsets.", kind=bool),
    Flag("until_end", "--until-end/--follow",
         "Stop at the end offsets seen at start, or follow the input until stopped.",
         kind=bool),
    Flag("group", "--group", "Consumer group (default per topic)."),
    Flag("partitions", "--only", "Only these partitions, e.g. 0,2 (no group).",
         write=_partition_text, read=_partition_list),
    Flag("tag", "--tag", "Suffix for output topics and Redis keys."),
    Flag("parallelism", "--parallelism", "Parallel subtasks.", short="-p", kind=int,
         minimum=1),
    Flag("cluster", "--flink-cluster", "Run on the standalone Flink cluster.", kind=bool),
    Flag("rebuild", "--rebuild/--no-rebuild", "Rebuild card windows from Kafka on start.",
         kind=bool),
    Flag("guarantee", "--guarantee", "at-least-once | exactly-once | at-most-once."),
    Flag("instance", "--instance",
         "This process's identity in its group: its transactional.id (exactly-once)."),
    Flag("crash_in_batch", "--crash-in-batch", "Failure lab: SIGKILL this process in batch "
         "N, between its write and its commit.", kind=int, minimum=1),
    Flag("pause_after", "--pause-after", "Failure lab: stop this process (SIGSTOP) once it "
         "has processed and committed N messages.", kind=int, minimum=1),
    Flag("members", "--members", "Hold back until the group has this many members, each "
         "with its share.", kind=int, minimum=1),
)}
# The run options only Python sets: objects and callbacks the benchmarks hand a run, the
# progress bar (`process` shows it wherever the engine has one) and the message count a
# followed benchmark run stops at.
PYTHON_ONLY = frozenset({"progress", "stopwatch", "latencies", "started", "flink_settings",
                         "max_messages"})


def to_argv(options: RunOptions) -> list[str]:
    """The `labkit process` flags that give `options` (each option away from its default);
    a LabError for one only Python can set."""
    argv = []
    for name in options.changed():
        if name not in RUN_FLAGS:
            raise LabError(f"Option {RunOptions.describe(name)} has no command-line flag.",
                           "set it in Python: `labkit.engines.run(...)`.")
        argv += RUN_FLAGS[name].argv(getattr(options, name))
    return argv


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
