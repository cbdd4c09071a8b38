"""The feature store's changelog: a compacted topic of each card's latest feature record.

`<feature log>.latest` (`latest_topic`) is keyed by card_id, and compacted: the
broker's log cleaner keeps at least the last record of every key, so reading it
from the beginning gives every card's latest features however long the feature
log grows. `restore` rebuilds Redis from it (or, slower, from the whole feature
log); a tombstone (`tombstone`: a null value) deletes a card.

The changelog is derived from the feature log by one follower (`publish_latest`),
not written by the engines beside it:

- the engines stay as they are: three engines, one feature contract, one output;
- the follower applies the Redis sink's rule, the newest feature_ts wins
  (`sinks.RedisFeatureSink.write_latest`), so a replayed, older record in the log
  never becomes a card's latest;
- it can be rebuilt from the log at any time: delete the topic, publish again.

Compaction happens on the cleaner's time, and never in a partition's open
(active) segment. A segment closes only when a record is appended `segment.ms`
after its first one, so a changelog published in one go sits in one open segment
and is not compacted at all until something else is written (measured on Kafka
4.1.1: 37 s untouched). `wait_compacted` appends that something, then waits: 4 to
15 s measured (segment.ms, then the cleaner's next look, every 15 s at the most).
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from confluent_kafka import KafkaException
from confluent_kafka.admin import ConfigResource, ResourceType

from . import clients, serde, topics
from .clients import REDIS_UNREACHABLE, kafka_unreachable, redis_unavailable, topic_metadata
from .errors import LabError
from .polling import until
from .runs import Outputs
from .sinks import RedisFeatureSink

__all__ = ["COMPACTED", "Compaction", "Restored", "create_latest_topic", "latest_topic",
           "latest_values", "not_older", "publish_latest", "redis_prefix_for", "restore",
           "segments", "tombstone", "wait_compacted"]

LATEST = ".latest"  # the changelog's name: its feature log's, and this

# Settings that let Kafka 4.1's log cleaner compact a lab-sized topic within seconds
# (the broker checks for work every log.cleaner.backoff.ms, 15 s).
COMPACTED: dict[str, str] = {
    "cleanup.policy": "compact",  # keep each key's last record, not the last N days
    # The cleaner never touches the open segment, which closes only when a record arrives
    # this long after its first (default 7 days). segment.bytes cannot help: Kafka 4
    # refuses less than 1 MiB, more than a lab run's changelog holds.
    "segment.ms": "2000",
    # Clean once 1% of the log may be superseded records (default 50%).
    "min.cleanable.dirty.ratio": "0.01",
    # A superseded record may go at once (the default, stated: the lesson depends on it).
    "min.compaction.lag.ms": "0",
    # A tombstone stays this long after its first cleaning, then a later one removes it
    # (default 1 day). It bounds how long a reader from offset 0 may take and still see
    # every deletion; a restore of a lab changelog takes well under a second.
    "delete.retention.ms": "1000",
}
# How far past segment.ms `wait_compacted` appends, so the broker's clock has surely
# passed it too.
ROLL_MARGIN_S = 0.5
RESTORE_BATCH = 1000  # cards per Redis call (and per step of the progress bar)

Item = TypeVar("Item")


def latest_topic(outputs: Outputs) -> str:
    """The changelog of a run's feature log: `<input>.features<tag>.latest`."""
    return outputs.features + LATEST


def redis_prefix_for(topic: str) -> str:
    """The Redis key prefix of the run that wrote `topic`, a feature log or its changelog.

    `<input>.features<tag>[.latest]` is the run `Outputs(input, tag)`: what follows the
    last `.features` is the tag (an engine's mark included, `-sql<tag>`), which the
    prefix spells the same way. Any other name is a LabError asking for the prefix.
    """
    log = topic.removesuffix(LATEST)
    run_input, found, tag = log.rpartition(".features")
    if not found or not run_input:
        raise LabError(f"{topic!r} is not named like a run's feature log or changelog "
                       "(<input>.features<tag>[.latest]), so its Redis prefix is unknown.",
                       "pass the prefix: --prefix features:<input><tag>:")
    return Outputs(run_input, tag).redis_prefix


def create_latest_topic(outputs: Outputs) -> str:
    """Create the run's changelog (`COMPACTED`) if it does not exist; return its name.

    It has the feature log's partition count, as the feature log has the input's.
    """
    partitions = int(topics.describe(outputs.features)["partitions"])
    return topics.create_topic(latest_topic(outputs), partitions=partitions,
                               config=COMPACTED, exist_ok=True)


def not_older(log: Iterable[tuple[Item, dict]]) -> Iterator[Item]:
    """The items whose feature record is not older (by feature_ts) than its card's newest
    before it, in order: what the Redis sink would write, record by record.

    An equal feature_ts passes, as it replaces in Redis (`write_latest`).
    """
    newest: dict[str, int] = {}
    for item, record in log:
        card, clock = record["card_id"], record["feature_ts"]
        if clock >= newest.get(card, clock):
            newest[card] = clock
            yield item


def publish_latest(outputs: Outputs) -> int:
    """Publish the run's feature log, as it is now, to its changelog; return how many
    records were published.

    Every record that is not older than its card's newest so far is published, not
    just each card's last one: the cleaner then has superseded records to compact.
    Values are copied byte for byte, so both topics decode alike; the key is the
    card_id, and the producer places it by the key, so a tombstone of the card
    (`tombstone`) lands in the same partition. It is one bounded pass: publishing
    again repeats every record, which changes no card's latest.
    """
    changelog = create_latest_topic(outputs)
    log = topics.read_all(outputs.features)
    decoded = serde.decode_records(log, serde.ConfluentDecoder())
    keyed = (((row["card_id"].encode(), record.value), row)
             for record, row in zip(log, decoded, strict=True))
    return topics.produce(changelog, not_older(keyed))


def tombstone(topic: str, card_id: str) -> None:
    """Delete a card from a changelog: a null value for its key, which a restore reads as
    "delete" and the cleaner removes, with the card's older records, in time."""
    topics.produce(topic, [(card_id.encode(), None)])


def latest_values(records: Iterable[topics.Record]) -> dict[bytes | None, topics.Record]:
    """Each key's last record (a tombstone if its value is None), in the order of `records`.

    The order within a key is its partition's, and a key lives in one partition.
    """
    return {record.key: record for record in records}


@dataclass(frozen=True)
class Restored:
    """What a restore read and wrote."""

    records: int  # read from the topic, tombstones included
    written: int  # cards sent to Redis (where Redis holds a newer record, it stays)
    deleted: int  # tombstoned cards, their Redis keys deleted
    seconds: float

    def __str__(self) -> str:
        return (f"{self.records:,} records read: {self.written:,} cards written, "
                f"{self.deleted:,} deleted in {self.seconds:.2f} s")


def restore(topic: str, sink: RedisFeatureSink, *, progress: bool = False) -> Restored:
    """Rebuild Redis from a changelog, or from a whole feature log (the slow way: it
    reads and keeps every record the changelog has compacted away).

    The topic is read from its beginning to its end (committed records); each card's
    last record is written with `sink.write_latest` (a newer record already in Redis
    stays), and a tombstoned card's key deleted. An undecodable record stops the
    restore with a DecodeError naming its topic, partition and offset: skipping it
    would leave a card silently missing or stale.
    """
    started = time.monotonic()
    records = topics.read_all(topic)
    latest = latest_values(records)
    gone = [sink.key(key.decode()) for key, record in latest.items()
            if key is not None and record.value is None]
    alive = [record for record in latest.values() if record.value is not None]
    batches: Iterable[list[topics.Record]] = [alive[at:at + RESTORE_BATCH]
                                              for at in range(0, len(alive), RESTORE_BATCH)]
    if progress:
        from rich.progress import track

        batches = track(batches, description=f"restoring {sink.key_prefix}* from {topic}")
    decode = serde.ConfluentDecoder()
    written = 0
    try:
        if gone:
            sink.client.delete(*gone)
        for batch in batches:
            written += sink.write_latest(serde.decode_records(batch, decode))
    except REDIS_UNREACHABLE as exc:
        raise redis_unavailable(exc, f"restoring {sink.key_prefix}* from {topic!r}") from None
    return Restored(len(records), written, len(gone), time.monotonic() - started)


@dataclass(frozen=True)
class Compaction:
    """A changelog before and after the cleaner compacted it (`wait_compacted`)."""

    before: int  # records read before
    after: int  # records read after, the one appended to close the open segment included
    keys: int
    seconds: float  # the whole wait: segment.ms, the cleaner's backoff, its work

    def __str__(self) -> str:
        return (f"{self.before:,} records -> {self.after:,} for {self.keys:,} keys, "
                f"compacted in {self.seconds:.1f} s")


def _compacted(topic: str, closed: dict[int, int]) -> list[topics.Record] | None:
    """The topic's records if, in each partition, the records below `closed[partition]`
    (the segments closed for the cleaner) have one per key; else None."""
    records = topics.read_all(topic)
    seen: set[tuple[int, bytes | None]] = set()
    for record in records:
        if record.offset < closed.get(record.partition, 0):
            if (record.partition, record.key) in seen:
                return None
            seen.add((record.partition, record.key))
    return records


def wait_compacted(topic: str, *, timeout_s: float = 90.0) -> Compaction:
    """Close each partition's open segment and wait until the cleaner has compacted the
    rest: every key once, apart from the record appended to close it.

    What closes a segment is a record arriving `segment.ms` after its first: this
    waits that long since the newest record, then appends to each partition a copy
    of its last record, a no-op for any reader (that key's latest value already).
    Compacted is what a reader sees: below those copies, no key twice in a
    partition. A LabError after `timeout_s`.
    """
    started = time.monotonic()
    records = topics.read_all(topic)
    if not records:
        raise LabError(f"{topic!r} is empty: there is nothing to compact.",
                       "publish to it first: `changelog.publish_latest(outputs)`.")
    last = {record.partition: record for record in records}
    newest_s = max((record.timestamp_ms for record in records), default=0) / 1000
    time.sleep(max(0.0, newest_s + int(COMPACTED["segment.ms"]) / 1000 + ROLL_MARGIN_S
                   - time.time()))
    closed = topics.end_offsets(topic)
    deliveries = topics.Deliveries()
    for record in last.values():  # stamped now, not with the copied record's time
        deliveries.send(topic, record.key, record.value, partition=record.partition)
    deliveries.confirm(what=f"records closing the open segments of {topic!r}")
    after = until(lambda: _compacted(topic, closed), timeout_s=timeout_s, interval_s=1.0,
                  what=f"the log cleaner compacted {topic!r}",
                  fix="create the topic with `changelog.COMPACTED` (check it with `labkit "
                      "kafka configs --describe --entity-type topics --entity-name TOPIC`); "
                      "the broker's cleaner logs to .lab/logs/.")
    return Compaction(len(records), len(after), len({(r.partition, r.key) for r in after}),
                      time.monotonic() - started)


def segments(topic: str, partition: int = 0, *, timeout_s: float = 10.0
             ) -> list[tuple[str, int]]:
    """(file name, bytes) of each log segment of one partition, oldest first, as the
    partition's leader keeps them on disk: the name is the segment's first offset.

    The folder is found from the broker's own `log.dirs`, so this works wherever the
    broker runs on this machine; a broker elsewhere (in a container) is a LabError.
    """
    admin = clients.admin()
    try:
        leader = topic_metadata(admin, topic, timeout_s=timeout_s).partitions[partition].leader
        broker = ConfigResource(ResourceType.BROKER, str(leader))
        configs = admin.describe_configs([broker])[broker].result(timeout=timeout_s)
    except KafkaException as exc:
        raise kafka_unreachable(exc) from None
    folders = [Path(folder) / f"{topic}-{partition}"
               for folder in configs["log.dirs"].value.split(",")]
    folder = next((folder for folder in folders if folder.is_dir()), None)
    if folder is None:
        raise LabError(f"Broker {leader} keeps {topic}-{partition} in {folders[0].parent}, "
                       "which is not on this machine (a broker in a container?).",
                       "list them where the broker runs, e.g. `docker compose exec kafka ls`.")
    return [(file.name, file.stat().st_size) for file in sorted(folder.glob("*.log"))]
