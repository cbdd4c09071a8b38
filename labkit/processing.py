"""One message through the pipeline, the same for every engine.

Part of the pure core (with `errors` and `features`): no I/O, no third-party
imports. Where messages come from and where outputs go is `labkit.runs`.

`handle` decodes a Kafka message and checks it (`check`: size, Avro, key =
card_id, finite amount), updates the card's window (`update`) and returns
either a feature record or a `DeadLetter` (reason `oversized`,
`undecodable`, `invalid` or `late`). Engines differ only in how messages
reach it, where the per-card `CardWindow` lives between messages, and how
they write the outputs; none of them holds any business logic of its own.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import NamedTuple

from .errors import DecodeError
from .features import WINDOW_1H_MS, CardWindow

# A transaction encodes to about 200 bytes. Anything far larger is a producer bug or an
# attack; decoding it would only waste memory, so it is dead-lettered unread. (The
# broker's own limit, message.max.bytes, is 1 MiB: larger values never reach a topic.)
MAX_VALUE_BYTES = 64 * 1024
# Far above any payment. Beyond about 1e148 the window's exact integer sums no longer fit
# a float when the variance is computed, so such an amount would crash the engine.
MAX_AMOUNT = 1e12

__all__ = ["MAX_AMOUNT", "MAX_VALUE_BYTES", "REQUIRED_FIELDS", "DeadLetter", "Source", "check",
           "handle", "update"]

# What `CardWindow.update` reads, and the exact types it takes (bool is not an int here, and
# JSON may write an amount of 3.0 as 3). A schemaless producer (JSON, or a schema the lab
# does not know) can leave any of them out or mistype it.
REQUIRED_FIELDS: dict[str, tuple[type, ...]] = {
    "txn_id": (str,), "card_id": (str,), "amount": (float, int), "mcc": (str,),
    "geo_country": (str, type(None)), "timestamp": (int,), "is_fraud": (bool,)}


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


def _mistyped(txn: dict) -> str:
    """The first required field that is missing or of the wrong type ('' if none)."""
    for name, kinds in REQUIRED_FIELDS.items():
        if name not in txn or type(txn[name]) not in kinds:
            shown = (f"{type(txn[name]).__name__} {txn[name]!r}" if name in txn else "missing")
            wanted = " or ".join("null" if k is type(None) else k.__name__ for k in kinds)
            return f"field {name!r} is {shown}, not {wanted}"
    return ""


def _invalid(key: bytes | None, txn: dict) -> str:
    """Why a decodable transaction still cannot be processed ('' if it can)."""
    if not isinstance(txn, dict):
        return f"the message decodes to a {type(txn).__name__}, not a record"
    if problem := _mistyped(txn):
        return problem
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
