"""The simple engine: a confluent-kafka consumer loop with state in a dict.

Per batch: consume, `processing.handle` each message, produce feature records
and dead letters, write the newest features per card to Redis (pipelined),
wait for every acknowledgement, and only then commit the consumer offsets — so
a crash mid-batch re-reads the batch instead of losing it (at-least-once).
The card windows live in this process's memory, though: after a restart they
start empty and the replayed batch appears twice in the output topics.
"""

from __future__ import annotations

import time

from confluent_kafka import KafkaError, KafkaException, TopicPartition
from rich.progress import Progress

from .. import clients, serde
from ..errors import LabError
from ..features import CardWindow
from ..processing import DeadLetter, Outputs, RunReport, Source, handle, reconcile
from ..sinks import RedisFeatureSink
from ..topics import Deliveries

__all__ = ["run"]

TRANSIENT = {KafkaError.NOT_COORDINATOR, KafkaError.COORDINATOR_LOAD_IN_PROGRESS,
             KafkaError.COORDINATOR_NOT_AVAILABLE}


def _retrying(call, what: str, *, timeout_s: float = 30.0):
    """`call()`, retried while Kafka reports a retriable error (a group coordinator still
    loading on a freshly started broker answers NOT_COORDINATOR for a few seconds)."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            return call()
        except KafkaException as exc:
            error = exc.args[0]
            transient = error.retriable() or error.code() in TRANSIENT
            if not transient or time.monotonic() > deadline:
                raise LabError(f"{what} failed: {error.str()}",
                               "check the stack with `labkit stack status`.") from None
            time.sleep(0.5)


def _assign(consumer, topic: str, *, from_beginning: bool) -> dict[int, tuple[int, int]]:
    """Assign every partition at the group's committed offset (else its start or end).

    Returns partition -> (start offset, end offset now): the bounds of a bounded run.
    """
    meta = consumer.list_topics(topic, timeout=10).topics[topic]
    if meta.error is not None:
        raise LabError(f"Cannot read topic {topic!r}: {meta.error.str()}",
                       "check the name with `lk.topics.list_topics()`.")
    bounds = {}
    wanted = [TopicPartition(topic, p) for p in sorted(meta.partitions)]
    for tp in _retrying(lambda: consumer.committed(wanted, timeout=10),
                        f"reading the group's committed offsets on {topic!r}"):
        low, high = consumer.get_watermark_offsets(tp, timeout=10)
        fallback = low if from_beginning else high
        bounds[tp.partition] = (tp.offset if tp.offset >= 0 else fallback, high)
    consumer.assign([TopicPartition(topic, p, start) for p, (start, _) in bounds.items()])
    return bounds


def run(topic: str, *, group: str | None = None, tag: str = "", from_beginning: bool = True,
        until_end: bool = True, batch_size: int = 500, idle_timeout_s: float = 30.0,
        progress: bool = False) -> RunReport:
    """Process `topic` and return the reconciliation; with `until_end`, stop at the end
    offsets seen at start (otherwise after `idle_timeout_s` without messages)."""
    outputs = Outputs(topic, tag)
    outputs.create_topics()
    encode = serde.make_encoder("confluent", schema="features.v1", topic=outputs.features)
    decode = serde.ConfluentDecoder()
    sink = RedisFeatureSink(key_prefix=outputs.redis_prefix)
    consumer = clients.consumer(group_id=group or outputs.group("simple"))
    deliveries = Deliveries()
    windows: dict[bytes | None, CardWindow] = {}

    try:
        bounds = _assign(consumer, topic, from_beginning=from_beginning)
        next_offset = {partition: start for partition, (start, _) in bounds.items()}
        total = sum(end - start for start, end in bounds.values())
        with Progress(disable=not progress) as bar:
            task = bar.add_task(f"simple engine on {topic}", total=total)
            idle_since = time.monotonic()
            while not (until_end and all(next_offset[p] >= end
                                         for p, (_, end) in bounds.items())):
                batch = consumer.consume(batch_size, timeout=1.0)
                if not batch:
                    if time.monotonic() - idle_since > idle_timeout_s:
                        break
                    continue
                idle_since = time.monotonic()
                features = []
                for msg in batch:
                    if msg.error() is not None:
                        raise LabError(f"Consuming {topic!r} failed: {msg.error().str()}",
                                       "check the stack with `labkit stack status`.")
                    key = msg.key()
                    source = Source(msg.topic(), msg.partition(), msg.offset())
                    next_offset[msg.partition()] = msg.offset() + 1
                    window, out = handle(windows.get(key), key, msg.value(), source, decode)
                    if window is not None:
                        windows[key] = window
                    if isinstance(out, DeadLetter):
                        deliveries.send(outputs.dlq, out.key, out.value, out.headers())
                    else:
                        features.append(out)
                        deliveries.send(outputs.features, key, encode(out))
                sink.write_latest(features)
                # Raises before the commit below: an unacknowledged batch is re-read.
                deliveries.confirm(what="feature records and dead letters")
                _retrying(lambda: consumer.commit(asynchronous=False), "committing offsets")
                bar.advance(task, len(batch))
    finally:
        consumer.close()
    return reconcile("simple", outputs)
