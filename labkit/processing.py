"""One message through the pipeline, the same for every engine.

`handle` decodes a Kafka message and checks it (`check`: size, Avro, key =
card_id, finite amount), updates the card's window (`update`) and returns
either a feature record or a `DeadLetter` (reason `oversized`,
`undecodable`, `invalid` or `late`). Engines differ only in how messages
reach it, where the per-card `CardWindow` lives between messages, and how
they write the outputs; none of them holds any business logic of its own.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import NamedTuple

from . import topics
from .features import WINDOW_1H_MS, CardWindow
from .serde import DecodeError

# A transaction encodes to about 200 bytes. Anything far larger is a producer bug or an
# attack; decoding it would only waste memory, so it is dead-lettered unread. (The
# broker's own limit, message.max.bytes, is 1 MiB: larger values never reach a topic.)
MAX_VALUE_BYTES = 64 * 1024
# Far above any payment. Beyond about 1e148 the window's exact integer sums no longer fit
# a float when the variance is computed, so such an amount would crash the engine.
MAX_AMOUNT = 1e12

__all__ = ["MAX_AMOUNT", "MAX_VALUE_BYTES", "DeadLetter", "Outputs", "RunReport", "Source",
           "check", "handle", "read_dead_letters", "reconcile", "update"]


class Source(NamedTuple):
    """Where a message came from (a tuple: engines make one per message, so it must be cheap)."""

    topic: str
    partition: int
    offset: int


@dataclass(frozen=True)
class DeadLetter:
    """A message that produced no feature record, kept whole with the reason."""

    key: bytes | None
    value: bytes | None
    reason: str  # "oversized", "undecodable", "invalid" or "late"
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
    if not math.isfinite(txn["amount"]) or abs(txn["amount"]) > MAX_AMOUNT:
        return f"amount {txn['amount']!r} is not a finite number within ±{MAX_AMOUNT:,.0f}"
    return ""


def check(key: bytes | None, value: bytes | None, source: Source,
          decode: Callable[[bytes], dict]) -> dict | DeadLetter:
    """Decode one message and validate it: the transaction, or why it cannot be used."""
    if value is not None and len(value) > MAX_VALUE_BYTES:
        return DeadLetter(key, value, "oversized", f"value of {len(value):,} bytes is above "
                          f"the lab's limit of {MAX_VALUE_BYTES:,}", source)
    try:
        txn = decode(value or b"")
    except DecodeError as exc:
        located = exc.at(source.topic, source.partition, source.offset)
        return DeadLetter(key, value, "undecodable", located.cause, source)
    problem = _invalid(key, txn)
    if problem:
        return DeadLetter(key, value, "invalid", problem, source)
    return txn


def update(window: CardWindow | None, key: bytes | None, value: bytes | None, txn: dict,
           source: Source) -> tuple[CardWindow, dict | DeadLetter]:
    """Add a checked transaction to its card's window: (the window, features or `late`)."""
    window = window or CardWindow(txn["card_id"])
    features = window.update(txn)
    if features is None:
        error = (f"event time {txn['timestamp']} is at or before T - 1 h = "
                 f"{window.clock_ms - WINDOW_1H_MS} for {txn['card_id']}: outside every window")
        return window, DeadLetter(key, value, "late", error, source)
    return window, features


def handle(window: CardWindow | None, key: bytes | None, value: bytes | None, source: Source,
           decode: Callable[[bytes], dict]) -> tuple[CardWindow | None, dict | DeadLetter]:
    """`check`, then `update`: one message in, (the card's window, features or dead letter) out."""
    checked = check(key, value, source, decode)
    if isinstance(checked, DeadLetter):
        return window, checked
    return update(window, key, value, checked, source)


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
        """Output topics with the input's partition count, so keys keep their partition.

        The broker stamps each feature record with the time it was appended
        (LogAppendTime), whatever the engine sets: the moment a feature became
        available, which end-to-end latency is measured to.
        """
        partitions = int(topics.describe(self.input)["partitions"])
        existing = topics.list_topics()
        if self.features not in existing:
            topics.create_topic(self.features, partitions=partitions,
                                config={"message.timestamp.type": "LogAppendTime"})
        if self.dlq not in existing:
            topics.create_topic(self.dlq, partitions=partitions)


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
