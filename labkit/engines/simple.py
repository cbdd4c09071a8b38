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
windows before it processes them (`rebuild`): it replays what the group has
already processed into the windows, emitting nothing. Without that, the first
features after a restart come from empty windows (notebook 06 shows both).

Read `_loop` and `_Process.process` first: the loop of notebook 04, by hand.
The rest is hardening, each in a sibling module: the stages themselves
(`stages`), the rebuild (`rebuild`), group membership (`membership`), the
delivery guarantees (`guarantees`), riding out outages (`outages`), and the
process's garbage collector and SIGTERM (`runtime`).
"""

from __future__ import annotations

import os
import signal
import sys
import time
from collections.abc import Callable
from functools import partial

from confluent_kafka import Consumer, Message, TopicPartition
from rich.progress import Progress

from .. import clients, serde
from ..errors import LabError
from ..instruments import Stopwatch
from ..runs import Outputs, RunOptions, RunReport, reconcile
from ..sinks import RedisFeatureSink
from . import guarantees, membership
from .outages import OUTAGE_TIMEOUT_S, retrying
from .rebuild import rebuild
from .runtime import fewer_collections, sigterm_stops
from .stages import Windows, batches, decode_batch, update_windows

__all__ = ["BATCH_SIZE", "PROCESSING_STAGES", "run"]

# Messages per batch at most: large enough that per-batch costs (a Redis pipeline, a
# commit) vanish per message, small enough that a batch's wait stays short.
BATCH_SIZE = 10_000
# The stages between a message reaching the engine and its features reaching Redis: what
# its processing latency is made of (the latency benchmark's breakdown).
PROCESSING_STAGES = ("decode", "features", "produce", "redis")


def _offsets(topic: str, done: dict[int, int]) -> list[TopicPartition]:
    """What to commit: partition -> next offset to process, as explicit offsets.

    Never "the consumer's position": librdkafka gathers the position of an
    asynchronous commit later, on its own thread, when the next batch may
    already have been consumed but not processed.
    """
    return [TopicPartition(topic, partition, offset) for partition, offset in done.items()]


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
        self.windows.update(rebuild(self.topic, fresh, self.decode) if self.options.rebuild
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
            checked = retrying(partial(decode_batch, batch, self.decode), "decoding a batch")
            stopwatch.lap("decode")
            features, letters = update_windows(checked, self.windows)
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
    members = _membership(consumer, topic, group, options)
    try:
        engine = _Process(topic, options, consumer, group)
        members.start(engine.assigned, engine.revoked)
        with fewer_collections(), sigterm_stops() as stopping:
            _loop(consumer, engine, members, stopping)
        if not members.all_committed:  # the last position, durable when the run returns
            engine.commit_now(engine.done)
    finally:
        members.close()  # a group member leaves the group: its partitions move at once
    return reconcile("simple", engine.outputs, transactional=engine.guarantee.transactional)


def _membership(consumer: Consumer, topic: str, group: str,
                options: RunOptions) -> membership.Fixed | membership.Group:
    """The partitions this process reads: fixed ones (`options.partitions`), or a share of
    the group's, as the group assigns them."""
    if options.partitions is None:
        return membership.Group(consumer, topic, group, from_beginning=options.from_beginning,
                                members=options.members)
    return membership.Fixed(consumer, topic, options.partitions,
                            from_beginning=options.from_beginning)


def _loop(consumer: Consumer, engine: _Process, members: membership.Fixed | membership.Group,
          stopping: Callable[[], bool]) -> None:
    """The engine itself: consume a batch, process it (decode, features, produce, Redis,
    acks, commit: `_Process.process`), again, until the run's end; the same loop as
    notebook 04's by hand, with a progress bar and the failure lab's pause point."""
    options = engine.options

    def finished() -> bool:
        return stopping() or (options.until_end and members.finished(engine.done))

    processed, pause_at = 0, options.pause_after
    with Progress(disable=not options.progress) as bar:
        task = bar.add_task(f"simple engine on {engine.topic}",
                            total=options.max_messages or members.backlog())
        engine.stopwatch.start()
        for batch in batches(consumer, finished, max_messages=options.max_messages,
                             batch_size=BATCH_SIZE, idle_timeout_s=OUTAGE_TIMEOUT_S,
                             idle=engine.guarantee.commit_pending):
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
