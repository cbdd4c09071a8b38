"""The simple engine's stages, one batch at a time: consume, decode, features.

Shared by the engine (`engines.simple`), its rebuild by replay (`engines.rebuild`)
and the benchmark floors (`engines.floors`), so all three consume and decode
exactly as the engine does:

    consume   `batches`: whatever is queued, up to a batch size (at least one message);
              `read_to`: the same, over an assigned consumer, up to given end offsets
    decode    `decode_batch`: `processing.check` each message (size, Avro, key, amount)
    features  `update_windows`: `processing.update` each card's window
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

from confluent_kafka import Consumer, Message

from ..clients import kafka_transient
from ..errors import LabError
from ..features import CardWindow
from ..processing import DeadLetter, Source, check, update

__all__ = ["Checked", "Windows", "batches", "decode_batch", "read_to", "update_windows",
           "usable"]

Windows = dict[bytes | None, CardWindow]  # one partition's card windows, by key
Checked = tuple[bytes | None, bytes | None, Source, dict | DeadLetter]  # key, value, source, ...


def usable(msg: Message) -> bool:
    """True for a record; False for a transient broker event; LabError for anything else."""
    error = msg.error()
    if error is None:
        return True
    if kafka_transient(error):
        return False
    raise LabError(f"Consuming {msg.topic()!r} failed: {error.str()}",
                   "check the stack with `labkit stack status`.")


def batches(consumer: Consumer, finished: Callable[[], bool], *, max_messages: int | None,
            batch_size: int, idle_timeout_s: float,
            idle: Callable[[], None] = lambda: None) -> Iterator[list[Message]]:
    """Batches of records until `finished()`, `max_messages` were read, or nothing arrives
    for `idle_timeout_s`; `idle()` after each wait that brought nothing.

    Wait for one message, then take whatever else is already fetched: under
    light load batches stay small (low latency), under heavy load they fill.
    """
    read = 0
    idle_since = time.monotonic()
    while not finished():
        if max_messages is not None and read >= max_messages:
            return
        batch = consumer.consume(1, timeout=0.5)
        if batch:
            batch += consumer.consume(batch_size - 1, timeout=0)
        batch = [msg for msg in batch if usable(msg)]
        if not batch:
            if time.monotonic() - idle_since > idle_timeout_s:
                return
            idle()
            continue
        idle_since = time.monotonic()
        read += len(batch)
        yield batch


def read_to(consumer: Consumer, bounds: dict[int, tuple[int, int]], *, batch_size: int,
            idle_timeout_s: float) -> Iterator[list[Message]]:
    """Batches of an assigned consumer until every partition reaches its end bound."""
    next_offset = {partition: start for partition, (start, _) in bounds.items()}

    def finished() -> bool:
        return all(next_offset[p] >= end for p, (_, end) in bounds.items())

    for batch in batches(consumer, finished, max_messages=None, batch_size=batch_size,
                         idle_timeout_s=idle_timeout_s):
        for msg in batch:
            next_offset[msg.partition()] = msg.offset() + 1
        yield batch


def decode_batch(batch: list[Message], decode: Callable[[bytes], dict]) -> list[Checked]:
    """Each message with its source and what the contract's checks made of it: the
    transaction, or the dead letter it becomes."""
    checked = []
    for msg in batch:
        key, value = msg.key(), msg.value()
        source = Source(msg.topic(), msg.partition(), msg.offset())
        checked.append((key, value, source, check(key, value, source, decode)))
    return checked


def update_windows(checked: list[Checked], windows: dict[int, Windows]
                   ) -> tuple[list[Any], list[DeadLetter]]:
    """Feature records (key, record) and dead letters of one batch, in message order.

    `windows` holds each partition's card windows: a card's messages are all in
    one partition, so a partition that moves to another process takes its
    cards' windows with it (the new owner rebuilds them).
    """
    features, letters = [], []
    for key, value, source, txn in checked:
        if isinstance(txn, DeadLetter):
            letters.append(txn)
            continue
        cards = windows[source.partition]
        cards[key], out = update(cards.get(key), key, value, txn, source)
        if isinstance(out, DeadLetter):
            letters.append(out)
        else:
            features.append((key, out))
    return features, letters
