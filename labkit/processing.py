"""One message through the pipeline, the same for every engine.

`handle` decodes a Kafka message, checks it (key = card_id, finite amount),
updates the card's window and returns either a feature record or a
`DeadLetter` (reason `undecodable`, `invalid` or `late`). Engines differ only in how messages reach
it, where the per-card `CardWindow` lives between messages, and how they write
the outputs; none of them holds any business logic of its own.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass

from . import topics
from .features import WINDOW_1H_MS, CardWindow
from .serde import DecodeError

__all__ = ["DeadLetter", "Outputs", "RunReport", "Source", "handle", "read_dead_letters",
           "reconcile"]


@dataclass(frozen=True)
class Source:
    """Where a message came from."""

    topic: str
    partition: int
    offset: int


@dataclass(frozen=True)
class DeadLetter:
    """A message that produced no feature record, kept whole with the reason."""

    key: bytes | None
    value: bytes | None
    reason: str  # "undecodable", "invalid" or "late"
    error: str
    source: Source

    def headers(self) -> dict[str, bytes]:
        return {"dlq.reason": self.reason.encode(), "dlq.error": self.error.encode(),
                "dlq.topic": self.source.topic.encode(),
                "dlq.partition": str(self.source.partition).encode(),
                "dlq.offset": str(self.source.offset).encode()}


def _invalid(key: bytes | None, txn: dict) -> str:
    """Why a decodable transaction still cannot be processed ('' if it can)."""
    if key != txn["card_id"].encode():
        # State is per Kafka key; a key that is not the card would mix cards' windows.
        return f"Kafka key {key!r} is not the event's card_id {txn['card_id']!r}"
    if not math.isfinite(txn["amount"]):
        return f"amount {txn['amount']!r} is not a finite number"
    return ""


def handle(window: CardWindow | None, key: bytes | None, value: bytes | None, source: Source,
           decode: Callable[[bytes], dict]) -> tuple[CardWindow | None, dict | DeadLetter]:
    """Decode one message and update its card: (the card's window, features or dead letter)."""
    try:
        txn = decode(value or b"")
    except DecodeError as exc:
        located = exc.at(source.topic, source.partition, source.offset)
        return window, DeadLetter(key, value, "undecodable", located.cause, source)
    problem = _invalid(key, txn)
    if problem:
        return window, DeadLetter(key, value, "invalid", problem, source)
    window = window or CardWindow(txn["card_id"])
    features = window.update(txn)
    if features is None:
        error = (f"event time {txn['timestamp']} is at or before T - 1 h = "
                 f"{window.clock_ms - WINDOW_1H_MS} for {txn['card_id']}: outside every window")
        return window, DeadLetter(key, value, "late", error, source)
    return window, features


@dataclass(frozen=True)
class Outputs:
    """Where a run over `input` writes: feature log, dead letters and Redis key prefix.

    `tag` keeps two runs over the same input apart (e.g. one per engine).
    """

    input: str
    tag: str = ""

    @property
    def features(self) -> str:
        return f"{self.input}.features{self.tag}"

    @property
    def dlq(self) -> str:
        return f"{self.input}.dlq{self.tag}"

    def group(self, engine: str) -> str:
        """The default consumer group of `engine` for this input and tag."""
        return f"{engine}-{self.input}{self.tag}"

    @property
    def redis_prefix(self) -> str:
        return f"features:{self.input}{self.tag}:"

    def create_topics(self) -> None:
        """Output topics with the input's partition count, so keys keep their partition."""
        partitions = int(topics.describe(self.input)["partitions"])
        for name in (self.features, self.dlq):
            if name not in topics.list_topics():
                topics.create_topic(name, partitions=partitions)


@dataclass(frozen=True)
class RunReport:
    """Reconciliation of a bounded run, counted from the topics themselves."""

    engine: str
    input_messages: int
    feature_records: int
    dead_letters: dict[str, int]

    @property
    def balanced(self) -> bool:
        return self.input_messages == self.feature_records + sum(self.dead_letters.values())

    def __str__(self) -> str:
        reasons = ", ".join(f"{reason} {count:,}" for reason, count in
                            sorted(self.dead_letters.items()))
        verdict = "balanced" if self.balanced else "NOT BALANCED: messages lost or duplicated"
        return (f"{self.engine}: input {self.input_messages:,} = feature records "
                f"{self.feature_records:,} + dead letters {sum(self.dead_letters.values()):,}"
                f" ({reasons or 'none'}) -> {verdict}")


def read_dead_letters(outputs: Outputs, *, timeout_s: float = 60.0) -> list[DeadLetter]:
    """The run's dead-letter topic, back as DeadLetters, in the order of their sources."""
    letters = []
    for record in topics.read(outputs.dlq, max_messages=10**9, timeout_s=timeout_s):
        headers = {name: value.decode() for name, value in record.headers}
        source = Source(headers["dlq.topic"], int(headers["dlq.partition"]),
                        int(headers["dlq.offset"]))
        letters.append(DeadLetter(record.key, record.value, headers["dlq.reason"],
                                  headers["dlq.error"], source))
    return sorted(letters, key=lambda letter: (letter.source.partition, letter.source.offset))


def reconcile(engine: str, outputs: Outputs) -> RunReport:
    """Count input, feature records and dead letters (by reason) on the brokers."""
    reasons = Counter(letter.reason for letter in read_dead_letters(outputs))
    return RunReport(engine, topics.count(outputs.input), topics.count(outputs.features),
                     dict(reasons))
