"""The simple engine: a confluent-kafka consumer loop with the card windows in a dict.

Every batch goes through the same stages, in this order (given a `Stopwatch`,
each is timed: the benchmark's per-stage breakdown):

    consume   whatever is queued, up to `BATCH_SIZE` messages (at least one)
    decode    `processing.check` each message: size, Avro, key, amount
    features  `processing.update` each card's window
    produce   encode the feature records; send them and the dead letters
    redis     write each card's newest record, one pipeline (retried while Redis is down)
    acks      wait until the broker has acknowledged every record sent
    commit    commit the offsets (asynchronously; the last one synchronously)

Committing last makes the engine at-least-once: a crash or an outage before
the commit re-reads the batch, so output records may repeat but none is lost,
and Redis keeps each card's newest `feature_ts` however often one repeats.

The windows live in this process's memory, so on start the engine rebuilds
them before it processes anything (`rebuild`): it replays what its group has
already processed into the windows, emitting nothing, starting where the
broker's `offsets_for_times` puts `REBUILD_HORIZON_MS` of ingestion time
before the last processed message. Without that, the first features after a
restart come from empty windows (notebook 06 shows both).
"""

from __future__ import annotations

import gc
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import partial
from typing import Any, TypeVar

import redis as redis_py
from confluent_kafka import Consumer, KafkaError, KafkaException, Message, TopicPartition
from rich.progress import Progress

from .. import clients, serde
from ..errors import LabError, ServiceUnavailable
from ..features import WINDOW_1H_MS, CardWindow
from ..instruments import Stopwatch
from ..processing import DeadLetter, Source, check, update
from ..runs import Outputs, RunOptions, RunReport, reconcile
from ..sinks import RedisFeatureSink
from ..topics import Deliveries

__all__ = ["REBUILD_HORIZON_MS", "decode_only", "run"]

# The 1-hour window plus an hour of lateness: events older than that (in ingestion time)
# cannot be in a window any more if events are ingested within an hour of happening.
REBUILD_HORIZON_MS = 2 * WINDOW_1H_MS
# How long an outage (Kafka coordinator or broker, Redis, registry) may last before the run
# gives up.
OUTAGE_TIMEOUT_S = 120.0
# Messages per batch at most: large enough that per-batch costs (a Redis pipeline, a
# commit) vanish per message, small enough that a batch's wait stays short.
BATCH_SIZE = 10_000
# Consumer events that only report a broker being away; librdkafka reconnects by itself.
TRANSIENT = {KafkaError.NOT_COORDINATOR, KafkaError.COORDINATOR_LOAD_IN_PROGRESS,
             KafkaError.COORDINATOR_NOT_AVAILABLE, KafkaError._TRANSPORT,
             KafkaError._ALL_BROKERS_DOWN}

T = TypeVar("T")
Windows = dict[bytes | None, CardWindow]
Checked = tuple[bytes | None, bytes | None, Source, dict | DeadLetter]  # key, value, source, ...


def _transient(exc: Exception) -> bool:
    if isinstance(exc, KafkaException):
        return exc.args[0].retriable() or exc.args[0].code() in TRANSIENT
    if isinstance(exc, redis_py.AuthenticationError):  # a ConnectionError, but not transient
        return False
    return isinstance(exc, redis_py.ConnectionError | redis_py.TimeoutError | ServiceUnavailable)


def _retrying(call: Callable[[], T], what: str) -> T:
    """`call()`, retried with backoff (0.1 s doubling to 2 s) while the failure is transient.

    A freshly started broker answers NOT_COORDINATOR for a few seconds; a
    restarting broker, Redis or schema registry refuses connections for a few
    more. Past `OUTAGE_TIMEOUT_S` the run stops with a LabError, before committing.
    """
    deadline = time.monotonic() + OUTAGE_TIMEOUT_S
    delay = 0.1
    while True:
        try:
            return call()
        except (KafkaException, redis_py.RedisError, ServiceUnavailable) as exc:
            if not _transient(exc) or time.monotonic() + delay > deadline:
                raise LabError(f"{what} failed: {exc}",
                               "check the stack with `labkit stack status`; offsets were not "
                               "committed, so a restart re-reads the batch.") from None
            time.sleep(delay)
            delay = min(delay * 2, 2.0)


def _assign(consumer: Consumer, topic: str, partitions: list[int] | None, *,
            from_beginning: bool) -> dict[int, tuple[int, int]]:
    """Assign the partitions at the group's committed offsets (else their start or end).

    Returns partition -> (start offset, end offset now): the bounds of a bounded run.
    """
    meta = consumer.list_topics(topic, timeout=10).topics[topic]
    if meta.error is not None:
        raise LabError(f"Cannot read topic {topic!r}: {meta.error.str()}",
                       "check the name with `lk.topics.list_topics()`.")
    chosen = sorted(meta.partitions) if partitions is None else sorted(partitions)
    if unknown := set(chosen) - set(meta.partitions):
        raise LabError(f"Topic {topic!r} has no partition {sorted(unknown)}.",
                       f"pick from 0..{len(meta.partitions) - 1}.")
    bounds = {}
    wanted = [TopicPartition(topic, p) for p in chosen]
    for tp in _retrying(lambda: consumer.committed(wanted, timeout=10),
                        f"reading the group's committed offsets on {topic!r}"):
        low, high = consumer.get_watermark_offsets(tp, timeout=10)
        fallback = low if from_beginning else high
        bounds[tp.partition] = (tp.offset if tp.offset >= 0 else fallback, high)
    consumer.assign([TopicPartition(topic, p, start) for p, (start, _) in bounds.items()])
    return bounds


def _usable(msg: Message) -> bool:
    """True for a record; False for a transient broker event; LabError for anything else."""
    error = msg.error()
    if error is None:
        return True
    if error.retriable() or error.code() in TRANSIENT:
        return False
    raise LabError(f"Consuming {msg.topic()!r} failed: {error.str()}",
                   "check the stack with `labkit stack status`.")


def _batches(consumer: Consumer, bounds: dict[int, tuple[int, int]], *, until_end: bool,
             max_messages: int | None, batch_size: int,
             idle_timeout_s: float) -> Iterator[list[Message]]:
    """Batches of records until every partition reaches its end bound (with `until_end`),
    `max_messages` were read, or nothing arrives for `idle_timeout_s`.

    Wait for one message, then take whatever else is already fetched: under
    light load batches stay small (low latency), under heavy load they fill.
    """
    next_offset = {partition: start for partition, (start, _) in bounds.items()}
    read = 0
    idle_since = time.monotonic()
    while not (until_end and all(next_offset[p] >= end for p, (_, end) in bounds.items())):
        if max_messages is not None and read >= max_messages:
            return
        batch = consumer.consume(1, timeout=0.5)
        if batch:
            batch += consumer.consume(batch_size - 1, timeout=0)
        batch = [msg for msg in batch if _usable(msg)]
        if not batch:
            if time.monotonic() - idle_since > idle_timeout_s:
                return
            continue
        idle_since = time.monotonic()
        for msg in batch:
            next_offset[msg.partition()] = msg.offset() + 1
        read += len(batch)
        yield batch


def _decode(batch: list[Message], decode: Callable[[bytes], dict]) -> list[Checked]:
    checked = []
    for msg in batch:
        key, value = msg.key(), msg.value()
        source = Source(msg.topic(), msg.partition(), msg.offset())
        checked.append((key, value, source, check(key, value, source, decode)))
    return checked


def _update(checked: list[Checked], windows: Windows) -> tuple[list[Any], list[DeadLetter]]:
    """Feature records (key, record) and dead letters of one batch, in message order."""
    features, letters = [], []
    for key, value, source, txn in checked:
        if isinstance(txn, DeadLetter):
            letters.append(txn)
            continue
        windows[key], out = update(windows.get(key), key, value, txn, source)
        if isinstance(out, DeadLetter):
            letters.append(out)
        else:
            features.append((key, out))
    return features, letters


def _rebuild(topic: str, bounds: dict[int, tuple[int, int]],
             decode: Callable[[bytes], dict]) -> Windows:
    """The card windows as they were at the committed offsets, replayed from Kafka."""
    windows: Windows = {}
    replayer = clients.consumer()
    try:
        replay = {}
        for partition, (committed, _) in bounds.items():
            low, _high = replayer.get_watermark_offsets(TopicPartition(topic, partition),
                                                        timeout=10)
            if committed > low:
                replay[partition] = (_replay_start(replayer, topic, partition, committed, low),
                                     committed)
        if replay:
            replayer.assign([TopicPartition(topic, p, start) for p, (start, _) in replay.items()])
            for batch in _batches(replayer, replay, until_end=True, max_messages=None,
                                  batch_size=5000, idle_timeout_s=30.0):
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
    """Run the cyclic garbage collector less often while messages flow.

    Each message allocates a few dozen short-lived objects; with the default
    generation-0 threshold (700) the collector would scan the young objects
    every 30 or so messages — measured here, about 20% of the engine's time.
    None of these objects form cycles, so reference counting frees them anyway.
    """
    before = gc.get_threshold()
    gc.set_threshold(100_000, *before[1:])
    try:
        yield
    finally:
        gc.set_threshold(*before)


def run(topic: str, options: RunOptions) -> RunReport:
    """Process `topic` (or just `options.partitions` of it) and return the reconciliation.

    With `options.until_end`, stop at the end offsets seen at start; else after
    `options.max_messages`, or `OUTAGE_TIMEOUT_S` without messages. Several
    processes can share a topic in one group by taking disjoint `partitions`.
    """
    outputs = Outputs(topic, options.tag)
    outputs.create_topics()
    encode = serde.make_encoder("confluent", schema="features.v1", topic=outputs.features)
    decode = serde.ConfluentDecoder()
    sink = RedisFeatureSink(key_prefix=outputs.redis_prefix)
    consumer = clients.consumer(group_id=options.group or outputs.group("simple"))
    deliveries = Deliveries()
    stopwatch, latencies = options.stopwatch or Stopwatch(), options.latencies
    done: dict[int, int] = {}
    try:
        bounds = _assign(consumer, topic, options.partitions,
                         from_beginning=options.from_beginning)
        windows = _rebuild(topic, bounds, decode) if options.rebuild else {}
        total = options.max_messages or sum(end - start for start, end in bounds.values())
        with _fewer_collections(), Progress(disable=not options.progress) as bar:
            task = bar.add_task(f"simple engine on {topic}", total=total)
            stopwatch.start()
            for batch in _batches(consumer, bounds, until_end=options.until_end,
                                  max_messages=options.max_messages, batch_size=BATCH_SIZE,
                                  idle_timeout_s=OUTAGE_TIMEOUT_S):
                stopwatch.lap("consume")
                received_s = time.time()
                # Retried as a whole: only a registry outage (an unknown writer schema id
                # while the registry is away) can fail it, and decoding changes nothing.
                checked = _retrying(partial(_decode, batch, decode), "decoding a batch")
                stopwatch.lap("decode")
                features, letters = _update(checked, windows)
                stopwatch.lap("features")
                for key, record in features:
                    deliveries.send(outputs.features, key, encode(record))
                for letter in letters:
                    deliveries.send(outputs.dlq, letter.key, letter.value, letter.headers())
                stopwatch.lap("produce")
                _retrying(partial(sink.write_latest, [record for _, record in features]),
                          "writing features to Redis")
                if latencies is not None:
                    latencies.record(received_s, [msg.timestamp()[1] for msg in batch])
                stopwatch.lap("redis")
                # Raises before the commit below: an unacknowledged batch is re-read.
                deliveries.confirm(timeout_s=OUTAGE_TIMEOUT_S,
                                   what="feature records and dead letters")
                stopwatch.lap("acks")
                # Asynchronous: the next batch need not wait for the broker's answer. A commit
                # that fails or is lost to a crash only means more is read again.
                done.update((msg.partition(), msg.offset() + 1) for msg in batch)
                consumer.commit(offsets=_offsets(topic, done), asynchronous=True)
                stopwatch.lap("commit")
                bar.advance(task, len(batch))
        if done:  # the last position, synchronously: durable when the run returns
            _retrying(partial(consumer.commit, offsets=_offsets(topic, done),
                              asynchronous=False), "committing offsets")
    finally:
        consumer.close()
    return reconcile("simple", outputs)


def decode_only(topic: str, *, partitions: list[int] | None = None,
                stopwatch: Stopwatch | None = None) -> int:
    """The ceiling a Python engine is measured against: this engine's own consume loop and
    decode stage, with nothing after them (no features, no outputs, no commits).

    Reads `topic` from the beginning to its end offsets; returns how many messages it read.
    """
    decode = serde.ConfluentDecoder()
    consumer = clients.consumer()  # a fresh group: read everything, commit nothing
    stopwatch = stopwatch or Stopwatch()
    read = 0
    try:
        bounds = _assign(consumer, topic, partitions, from_beginning=True)
        with _fewer_collections():
            stopwatch.start()
            for batch in _batches(consumer, bounds, until_end=True, max_messages=None,
                                  batch_size=BATCH_SIZE, idle_timeout_s=30.0):
                stopwatch.lap("consume")
                _decode(batch, decode)
                stopwatch.lap("decode")
                read += len(batch)
    finally:
        consumer.close()
    return read
