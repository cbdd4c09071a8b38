"""Reference solutions for chapter 04 (try the exercises in ../ch04_engines.py first)."""

from __future__ import annotations

import time
from bisect import bisect_right

from confluent_kafka import Consumer, Producer, TopicPartition

import labkit as lk
from labkit.features import CardWindow
from labkit.runs import Outputs
from labkit.sinks import RedisFeatureSink

TEN_MINUTES_MS = 10 * 60 * 1000


def process_topic(topic: str, outputs: Outputs, *, consumer: Consumer, producer: Producer,
                  sink: RedisFeatureSink) -> int:
    """The simple engine's loop: commit a batch only after Kafka and Redis acknowledged it."""
    decode = lk.serde.ConfluentDecoder()
    encode = lk.serde.make_encoder("confluent", schema="features.v1", topic=outputs.features)
    partitions = consumer.list_topics(topic, timeout=10).topics[topic].partitions
    bounds = {p: consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)
              for p in partitions}
    consumer.assign([TopicPartition(topic, p, low) for p, (low, _) in bounds.items()])
    done = {p: low for p, (low, _) in bounds.items()}
    windows: dict[bytes | None, CardWindow] = {}
    failed: list = []
    processed = 0
    deadline = time.monotonic() + 120  # bounded, even if the broker goes away
    while any(done[p] < high for p, (_, high) in bounds.items()):
        if time.monotonic() > deadline:
            raise TimeoutError(f"{topic}: stopped at {done}, before the end offsets")
        batch = [msg for msg in consumer.consume(500, timeout=1.0) if msg.error() is None]
        records = []
        for msg in batch:
            key, value = msg.key(), msg.value()
            source = lk.processing.Source(msg.topic(), msg.partition(), msg.offset())
            out = lk.processing.check(key, value, source, decode)
            if not isinstance(out, lk.processing.DeadLetter):
                windows[key], out = lk.processing.update(windows.get(key), key, value, out,
                                                         source)
            if isinstance(out, lk.processing.DeadLetter):
                producer.produce(outputs.dlq, key=out.key, value=out.value,
                                 headers=out.headers(), on_delivery=_collect(failed))
            else:
                producer.produce(outputs.features, key=key, value=encode(out),
                                 on_delivery=_collect(failed))
                records.append(out)
        sink.write_latest(records)
        if producer.flush(30) or failed:
            raise RuntimeError(f"not acknowledged: {failed[:1]}")
        done.update((msg.partition(), msg.offset() + 1) for msg in batch)
        processed += len(batch)
        consumer.commit(offsets=[TopicPartition(topic, p, o) for p, o in done.items()],
                        asynchronous=False)
    return processed


def _collect(failed: list):
    def delivered(err, _msg) -> None:
        if err is not None:
            failed.append(err)
    return delivered


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
