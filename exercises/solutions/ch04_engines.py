"""Reference solutions for chapter 04 (try the exercises in ../ch04_engines.py first)."""

from __future__ import annotations

import time
from bisect import bisect_right
from collections.abc import Iterator

from confluent_kafka import Consumer, Message, Producer, TopicPartition

import labkit as lk
from labkit.features import CardWindow
from labkit.runs import Outputs
from labkit.sinks import RedisFeatureSink

TEN_MINUTES_MS = 10 * 60 * 1000


def process_topic(topic: str, outputs: Outputs, *, consumer: Consumer, producer: Producer,
                  sink: RedisFeatureSink) -> int:
    """The simple engine's loop: commit a batch only after Kafka and Redis acknowledged it."""
    run = _Run(topic, outputs, consumer, producer)
    for batch in run.batches():
        records = run.produce(batch)  # check, update, produce every output
        sink.write_latest(records)  # Redis: each card's newest record
        if producer.flush(30) or run.failed:  # every delivery acknowledged, none failed?
            raise RuntimeError(f"not acknowledged ({run.failed[:1]}): not committing")
        consumer.commit(offsets=run.finished(batch), asynchronous=False)  # only now
    return run.processed


class _Run:
    """One pass over `topic`: each partition from its first offset to the end offset seen at
    the start, the card windows, and what producing each output needs."""

    def __init__(self, topic: str, outputs: Outputs, consumer: Consumer,
                 producer: Producer) -> None:
        self.topic, self.outputs, self.consumer, self.producer = topic, outputs, consumer, producer
        partitions = consumer.list_topics(topic, timeout=10).topics[topic].partitions
        bounds = {p: consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)
                  for p in partitions}
        consumer.assign([TopicPartition(topic, p, low) for p, (low, _) in bounds.items()])
        self.ends = {p: high for p, (_, high) in bounds.items()}
        self.done = {p: low for p, (low, _) in bounds.items()}  # the next offset to process
        self.windows: dict[bytes | None, CardWindow] = {}
        self.decode = lk.serde.ConfluentDecoder()
        self.encode = lk.serde.make_encoder("confluent", schema="features.v1",
                                            topic=outputs.features)
        self.failed: list = []  # delivery reports with an error
        self.processed = 0

    def batches(self) -> Iterator[list[Message]]:
        """Batches of messages until every partition reaches its end (bounded in time too)."""
        deadline = time.monotonic() + 120  # even if the broker goes away
        while any(self.done[p] < end for p, end in self.ends.items()):
            if time.monotonic() > deadline:
                raise TimeoutError(f"{self.topic}: stopped at {self.done}, before the end")
            yield [msg for msg in self.consumer.consume(500, timeout=1.0) if msg.error() is None]

    def produce(self, batch: list[Message]) -> list[dict]:
        """Check and window each message, produce its feature record or dead letter; return
        the feature records."""
        records = []
        for msg in batch:
            key, value = msg.key(), msg.value()
            source = lk.processing.Source(msg.topic(), msg.partition(), msg.offset())
            out = lk.processing.check(key, value, source, self.decode)
            if not isinstance(out, lk.processing.DeadLetter):
                self.windows[key], out = lk.processing.update(self.windows.get(key), key, value,
                                                              out, source)
            if isinstance(out, lk.processing.DeadLetter):
                self.producer.produce(self.outputs.dlq, key=out.key, value=out.value,
                                      headers=out.headers(), on_delivery=self._delivered)
            else:
                self.producer.produce(self.outputs.features, key=key, value=self.encode(out),
                                      on_delivery=self._delivered)
                records.append(out)
        return records

    def _delivered(self, err, _msg) -> None:
        if err is not None:
            self.failed.append(err)

    def finished(self, batch: list[Message]) -> list[TopicPartition]:
        """Count `batch` as processed; the offsets to commit for it (the next to read)."""
        self.done.update((msg.partition(), msg.offset() + 1) for msg in batch)
        self.processed += len(batch)
        return [TopicPartition(self.topic, p, offset) for p, offset in self.done.items()]


def txn_count_10m(window: CardWindow) -> int:
    """Events in (T - 10 min, T]: everything after the last timestamp <= T - 10 min."""
    return len(window.times) - bisect_right(window.times, window.clock_ms - TEN_MINUTES_MS)


def differing_records(left: list[dict], right: list[dict]) -> dict[str, list[str]]:
    """feature -> sorted txn_ids whose values differ; "missing": txn_ids in one log only."""
    ours = {record["txn_id"]: record for record in left}
    theirs = {record["txn_id"]: record for record in right}
    differing: dict[str, list[str]] = {}
    for txn_id in sorted(ours.keys() & theirs.keys()):
        a, b = ours[txn_id], theirs[txn_id]
        for name in sorted(a.keys() | b.keys()):
            if not lk.parity.same(a.get(name), b.get(name))[0]:
                differing.setdefault(name, []).append(txn_id)
    missing = sorted(ours.keys() ^ theirs.keys())
    if missing:
        differing["missing"] = missing
    return differing
