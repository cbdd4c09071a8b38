"""The simple engine: a confluent-kafka consumer loop with the card windows in a dict.

Every batch goes through the same stages, in this order (given a `Stopwatch`,
each is timed: the benchmark's per-stage breakdown):

    consume   whatever is queued, up to `BATCH_SIZE` messages (at least one)
    decode    `processing.check` each message: size, Avro, key, amount
    features  `processing.update` each card's window
    produce   encode the feature records; send them and the dead letters
    redis     write each card's newest record, one pipeline (retried while Redis is down)
    acks      wait until the broker has acknowledged every record sent
    commit    commit the offsets

Where the commit goes relative to the write is the delivery guarantee
(`guarantees`): by default at-least-once (commit last, asynchronously), so a
crash or an outage before the commit re-reads the batch and output records may
repeat, none is lost; exactly-once puts each batch's outputs and offsets in one
Kafka transaction. Redis keeps each card's newest `feature_ts` however often a
record repeats.

A process is a member of its consumer group (`membership`): processes started
with the same group share the partitions and take over a crashed member's.
The windows live in the process's memory, per partition, so whenever the
process receives partitions (at start, or in a rebalance) it rebuilds their
windows before it processes them (`_rebuild`): it replays what the group has
already processed into the windows, emitting nothing, starting where the
broker's `offsets_for_times` puts `REBUILD_HORIZON_MS` of ingestion time
before the last processed message. Without that, the first features after a
restart come from empty windows (notebook 06 shows both).
"""

from __future__ import annotations

import gc
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import partial
from typing import Any

from confluent_kafka import Consumer, Message, TopicPartition
from rich.progress import Progress

from .. import clients, serde
from ..clients import kafka_transient
from ..errors import LabError
from ..features import WINDOW_1H_MS, CardWindow
from ..instruments import Stopwatch
from ..processing import DeadLetter, Source, check, update
from ..runs import Outputs, RunOptions, RunReport, reconcile
from ..sinks import RedisFeatureSink
from . import guarantees, membership
from .outages import OUTAGE_TIMEOUT_S, retrying

__all__ = ["PROCESSING_STAGES", "REBUILD_HORIZON_MS", "run"]

# The 1-hour window plus an hour of lateness: events older than that (in ingestion time)
# cannot be in a window any more if events are ingested within an hour of happening.
REBUILD_HORIZON_MS = 2 * WINDOW_1H_MS
# Messages per batch at most: large enough that per-batch costs (a Redis pipeline, a
# commit) vanish per message, small enough that a batch's wait stays short.
BATCH_SIZE = 10_000
# The stages between a message reaching the engine and its features reaching Redis: what
# its processing latency is made of (the latency benchmark's breakdown).
PROCESSING_STAGES = ("decode", "features", "produce", "redis")
Windows = dict[bytes | None, CardWindow]
Checked = tuple[bytes | None, bytes | None, Source, dict | DeadLetter]  # key, value, source, ...


def _usable(msg: Message) -> bool:
    """True for a record; False for a transient broker event; LabError for anything else."""
    error = msg.error()
    if error is None:
        return True
    if kafka_transient(error):
        return False
    raise LabError(f"Consuming {msg.topic()!r} failed: {error.str()}",
                   "check the stack with `labkit stack status`.")


def _batches(consumer: Consumer, finished: Callable[[], bool], *, max_messages: int | None,
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
        batch = [msg for msg in batch if _usable(msg)]
        if not batch:
            if time.monotonic() - idle_since > idle_timeout_s:
                return
            idle()
            continue
        idle_since = time.monotonic()
        read += len(batch)
        yield batch


def _read_to(consumer: Consumer, bounds: dict[int, tuple[int, int]], *, batch_size: int,
             idle_timeout_s: float) -> Iterator[list[Message]]:
    """Batches of an assigned consumer until every partition reaches its end bound."""
    next_offset = {partition: start for partition, (start, _) in bounds.items()}

    def finished() -> bool:
        return all(next_offset[p] >= end for p, (_, end) in bounds.items())

    for batch in _batches(consumer, finished, max_messages=None, batch_size=batch_size,
                          idle_timeout_s=idle_timeout_s):
        for msg in batch:
            next_offset[msg.partition()] = msg.offset() + 1
        yield batch


def _decode(batch: list[Message], decode: Callable[[bytes], dict]) -> list[Checked]:
    checked = []
    for msg in batch:
        key, value = msg.key(), msg.value()
        source = Source(msg.topic(), msg.partition(), msg.offset())
        checked.append((key, value, source, check(key, value, source, decode)))
    return checked


def _update(checked: list[Checked], windows: dict[int, Windows]
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


def _rebuild(topic: str, starts: dict[int, int],
             decode: Callable[[bytes], dict]) -> dict[int, Windows]:
    """Each partition's card windows as they were at its start (the committed offset),
    replayed from Kafka: what the process that processed them last had in memory."""
    windows: dict[int, Windows] = {partition: {} for partition in starts}
    replayer = clients.consumer()
    try:
        replay = {}
        for partition, committed in starts.items():
            low, _high = replayer.get_watermark_offsets(TopicPartition(topic, partition),
                                                        timeout=10)
            if committed > low:
                replay[partition] = (_replay_start(replayer, topic, partition, committed, low),
                                     committed)
        if replay:
            replayer.assign([TopicPartition(topic, p, start) for p, (start, _) in replay.items()])
            for batch in _read_to(replayer, replay, batch_size=5000, idle_timeout_s=30.0):
                # A batch can run past the committed offset: those are not processed yet.
                done = [msg for msg in batch if msg.offset() < replay[msg.partition()][1]]
                _update(_decode(done, decode), windows)
    finally:
        replayer.close()
    return windows


def _replay_start(consumer: Consumer, topic: str, partition: int, committed: int,
                  low: int) -> int:
    """The first offset whose ingestion time is within the horizon of the last processed one."""
    last = TopicPartition(topic, partition, committed - 1)
    consumer.assign([last])
    found = consumer.consume(1, timeout=10)
    if not found or found[0].error() is not None:
        return low
    horizon_start = found[0].timestamp()[1] - REBUILD_HORIZON_MS
    located = consumer.offsets_for_times([TopicPartition(topic, partition, horizon_start)],
                                         timeout=10)[0]
    return max(low, located.offset) if located.offset >= 0 else low


def _offsets(topic: str, done: dict[int, int]) -> list[TopicPartition]:
    """What to commit: partition -> next offset to process, as explicit offsets.

    Never "the consumer's position": librdkafka gathers the position of an
    asynchronous commit later, on its own thread, when the next batch may
    already have been consumed but not processed.
    """
    return [TopicPartition(topic, partition, offset) for partition, offset in done.items()]


@contextmanager
def _fewer_collections() -> Iterator[None]:
    """Run the cyclic garbage collector less often, and over less, while messages flow.

    Each message allocates a few dozen short-lived objects; with the default
    generation-0 threshold (700) the collector would scan the young objects
    every 30 or so messages — measured here, about 20% of the engine's time.
    None of these objects form cycles, so reference counting frees them anyway.
    And everything that exists before the loop (the interpreter's modules, a
    notebook's pandas and plots: easily a million objects) lives through the
    run, so it is frozen out of the collector's reach: a full collection that
    scanned it would stop the engine for tens of milliseconds, a latency tail.
    """
    before = gc.get_threshold()
    gc.freeze()
    gc.set_threshold(100_000, *before[1:])
    try:
        yield
    finally:
        gc.set_threshold(*before)
        gc.unfreeze()


@contextmanager
def _sigterm_stops() -> Iterator[Callable[[], bool]]:
    """SIGTERM ends the run after the batch in flight: committed, and the group left cleanly
    (its partitions move at once; a SIGKILLed process holds them for `SESSION_TIMEOUT_MS`).

    Python handles signals in the main thread only; elsewhere SIGTERM keeps its default.
    """
    if threading.current_thread() is not threading.main_thread():
        yield lambda: False
        return
    asked = threading.Event()
    before = signal.signal(signal.SIGTERM, lambda _signum, _frame: asked.set())
    try:
        yield asked.is_set
    finally:
        signal.signal(signal.SIGTERM, before)


class _Process:
    """One engine process's state between batches: its outputs, its delivery guarantee,
    and the card windows and next offsets of the partitions it owns now."""

    def __init__(self, topic: str, options: RunOptions, consumer: Consumer, group: str) -> None:
        self.topic, self.options = topic, options
        self.outputs = Outputs(topic, options.tag)
        self.encode = serde.make_encoder("confluent", schema="features.v1",
                                         topic=self.outputs.features)
        self.decode = serde.ConfluentDecoder()
        self.sink = RedisFeatureSink(key_prefix=self.outputs.redis_prefix)
        self.guarantee = guarantees.make(options.guarantee, consumer,
                                         crash=guarantees.CrashPoint(options.crash_in_batch),
                                         transactional_id=f"{group}-{options.instance}")
        self.stopwatch = options.stopwatch or Stopwatch()
        self.windows: dict[int, Windows] = {}
        self.done: dict[int, int] = {}  # partition -> next offset to process
        self.held: dict[int, tuple[Windows, int]] = {}  # lost partitions: windows, offset

    def assigned(self, starts: dict[int, int]) -> dict[int, int]:
        """New partitions, at the group's committed offsets: their windows, rebuilt before
        any message is processed. Returns where to start reading each.

        A partition this process lost (its session lapsed, say in a broker restart) and
        gets back is resumed where the process was, with the windows it kept, if the
        group's offset is not ahead of that: the process had written everything up to
        there, while commits sent during the outage may never have arrived.
        """
        resumed = {p: start for p, start in starts.items()
                   if p in self.held and start <= self.held[p][1]}
        for partition in resumed:
            self.windows[partition], starts[partition] = self.held[partition]
        self.held.clear()
        fresh = {p: start for p, start in starts.items() if p not in resumed}
        self.windows.update(_rebuild(self.topic, fresh, self.decode) if self.options.rebuild
                            else {partition: {} for partition in fresh})
        self.done.update(starts)
        return starts

    def revoked(self, partitions: list[int], lost: bool) -> None:
        """Partitions leaving: commit what was processed and forget their windows; lost
        ones (another member may own them already) are kept aside, uncommitted."""
        if lost:
            self.held.update((p, (self.windows[p], self.done[p]))
                             for p in partitions if p in self.done)
        else:
            self.commit_now({p: self.done[p] for p in partitions if p in self.done})
        for partition in partitions:
            self.windows.pop(partition, None)
            self.done.pop(partition, None)

    def commit_now(self, done: dict[int, int]) -> None:
        retrying(partial(self.guarantee.commit_now, _offsets(self.topic, done)),
                 "committing offsets")

    def pause(self, processed: int) -> None:
        """The failure lab's pause point: commit, say so, and stop (SIGSTOP) until continued.

        A fault injected now lands at a known place, with the run neither over nor
        between a batch's write and its commit (`lk.faults.paused`).
        """
        self.commit_now(self.done)
        print(f"pause point: {processed:,} messages processed and committed; stopped",
              file=sys.stderr, flush=True)
        os.kill(os.getpid(), signal.SIGSTOP)

    def process(self, batch: list[Message]) -> None:
        """One batch through every stage, its write and its commit ordered by the guarantee."""
        stopwatch, guarantee, outputs = self.stopwatch, self.guarantee, self.outputs
        received_s = time.time()
        after = {**self.done, **{msg.partition(): msg.offset() + 1 for msg in batch}}
        offsets = _offsets(self.topic, after)
        guarantee.begin(offsets, len(batch))
        try:
            # Retried as a whole: only a registry outage (an unknown writer schema id while
            # the registry is away) can fail it, and decoding changes nothing.
            checked = retrying(partial(_decode, batch, self.decode), "decoding a batch")
            stopwatch.lap("decode")
            features, letters = _update(checked, self.windows)
            stopwatch.lap("features")
            for key, record in features:
                guarantee.send(outputs.features, key, self.encode(record))
            for letter in letters:
                guarantee.send(outputs.dlq, letter.key, letter.value, letter.headers())
            stopwatch.lap("produce")
            retrying(partial(self.sink.write_latest, [record for _, record in features]),
                     "writing features to Redis")
            in_redis_s = time.time()
            stopwatch.lap("redis")
            guarantee.confirm()
            stopwatch.lap("acks")
            guarantee.commit(offsets, len(batch))
            stopwatch.lap("commit")
        except BaseException:
            guarantee.abort()
            raise
        self.done.update(after)
        if self.options.latencies is not None:
            self.options.latencies.record(
                received_s, [msg.timestamp()[1] for msg in batch], acked_s=in_redis_s,
                stages_s={stage: stopwatch.recent[stage] for stage in PROCESSING_STAGES})


def run(topic: str, options: RunOptions) -> RunReport:
    """Process `topic` as a member of its consumer group (or just `options.partitions` of
    it) and return the reconciliation.

    With `options.until_end`, stop once the group has processed the end offsets
    seen at start; else after `options.max_messages`, `OUTAGE_TIMEOUT_S` without
    messages, or SIGTERM. `options.guarantee` orders each batch's write and
    commit (`guarantees`); processes started with the same group share the
    partitions (`membership`), and need an `instance` each for exactly-once.
    """
    if options.members is not None and options.partitions is not None:
        raise LabError("Waiting for group members (--members) needs group membership, and "
                       "--only assigns fixed partitions.", "drop one of the two.")
    Outputs(topic, options.tag).create_topics()
    group = options.group or Outputs(topic, options.tag).group("simple")
    consumer = clients.consumer(group_id=group, **{"client.id": f"simple-{options.instance}"},
                                **membership.consumer_settings(
                                    from_beginning=options.from_beginning))
    members = (membership.Fixed(consumer, topic, options.partitions,
                                from_beginning=options.from_beginning)
               if options.partitions is not None else
               membership.Group(consumer, topic, group, from_beginning=options.from_beginning,
                                members=options.members))
    try:
        engine = _Process(topic, options, consumer, group)
        members.start(engine.assigned, engine.revoked)
        with (_fewer_collections(), _sigterm_stops() as stopping,
              Progress(disable=not options.progress) as bar):
            task = bar.add_task(f"simple engine on {topic}",
                                total=options.max_messages or members.backlog())
            engine.stopwatch.start()
            processed, pause_at = 0, options.pause_after
            for batch in _batches(consumer, lambda: stopping() or (
                    options.until_end and members.finished(engine.done)),
                    max_messages=options.max_messages, batch_size=BATCH_SIZE,
                    idle_timeout_s=OUTAGE_TIMEOUT_S, idle=engine.guarantee.commit_pending):
                engine.stopwatch.lap("consume")
                # A rebalance inside `consume` may have taken some of these partitions away.
                batch = [msg for msg in batch if msg.partition() in members.owned]
                if batch:
                    engine.process(batch)
                    bar.advance(task, len(batch))
                    processed += len(batch)
                if pause_at is not None and processed >= pause_at:
                    engine.pause(processed)
                    pause_at = None
        if not members.all_committed:  # the last position, durable when the run returns
            engine.commit_now(engine.done)
    finally:
        members.close()  # a group member leaves the group: its partitions move at once
    return reconcile("simple", engine.outputs, transactional=engine.guarantee.transactional)
