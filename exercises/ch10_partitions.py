"""Chapter 10 exercises: partitions and keys — sizing a topic, a hot key, a changelog restored.

Grade them with `make check CH=10` (or `.venv/bin/labkit check 10`). The first needs no
stack; the graders of the other two write topics of their own on the live Kafka (and
keys of their own in Redis, under a prefix they delete afterwards) and call your
function on them.
"""

from __future__ import annotations

import redis


def partitions_for_growth(peak_per_s: float, growth_per_year: float, years: int,
                          per_consumer_per_s: float) -> int:
    """How many partitions to create a topic with today, so that one consumer per
    partition still keeps up with the peak rate `years` from now.

    The peak grows by `growth_per_year` (0.3 is 30 %) a year, compounded: in `years` it
    is peak_per_s * (1 + growth_per_year) ** years messages per second. One consumer
    handles `per_consumer_per_s`, and a partition is read by one consumer of a group at
    most, so the topic needs that many partitions, rounded up (4.5 consumers' worth of
    traffic needs 5), and at least 1 (a topic with no traffic yet still has a
    partition).

    Why size for the future today: adding partitions later changes which partition a
    key hashes to (partition = hash(key) % partitions), so a card's new events go to
    another partition than its old ones, another consumer sees them, and its per-card
    state (windows, counts) splits in two. Topics are created with room to grow.

    Example: partitions_for_growth(10_000, 0.3, 3, 2_500) == 9 (21,970/s in 3 years:
    8.788 consumers' worth).

    Round up only what exceeds a whole number by more than float error: 1.1 has no
    exact binary float, so 1000 * 1.1 ** 2 is 1210.0000000000002, and divided by 121/s
    per consumer that is 10.000000000000002, whose ceil is 11 where the answer is 10.

    Hint: `math.ceil` after taking off a relative tolerance (say 1e-9 of the value), then
    `max(1, ...)`.
    """
    raise NotImplementedError("ceil(peak * (1 + growth) ** years / per_consumer), at least 1")


def hottest_key(topic: str, group: str) -> bytes:
    """The hot key that holds `group` back on `topic`: the most common key among the
    unprocessed messages of the partition where the group lags most.

    One key with far more traffic than the others lands on one partition (its hash
    decides which), so one consumer gets it all and falls behind while the others keep
    up. Find that partition from the group's lag alone (end offset minus committed
    offset, per partition; `lk.groups.lag(group, topic)` gives both, see `labkit lag`),
    then read that partition from the group's committed offset to its end offset and
    count the keys. Messages before the committed offset are processed: they say where
    the traffic was, not what the group is stuck on. The group lags on at least one
    partition, and the grader's topic has one most common key there (no tie).

    Do not commit with `group`, and read with a consumer of your own group: a consumer
    that reads with the group's id would move its offsets.

    Hint: `max(lk.groups.lag(group, topic), key=...)` by `.lag`; a consumer from
    `lk.clients.consumer()`, `assign([TopicPartition(topic, partition, committed)])`,
    poll until the message at end offset - 1; `collections.Counter(keys).most_common(1)`.
    """
    raise NotImplementedError("the partition with the most lag; its keys after the commit")


def restore_features(topic: str, client: redis.Redis, prefix: str) -> int:
    """Rebuild a Redis feature store from its compacted changelog `topic`; return how many
    cards it holds afterwards.

    The changelog's keys are card ids (UTF-8 bytes, b"card-0001") and its values JSON
    objects of a card's features ({"txn_count_1h": 3, "country": "GB", ...}); a null
    value (a tombstone) says the card was deleted. Read every partition from the start
    to the end: per card, its last record wins. A card whose last record is a value gets
    the hash `<prefix><card id>` with one field per feature, each stored as its JSON
    text (what `lk.sinks.encode_field` writes: `3`, `"GB"`, `true`, `null`), replacing
    whatever the hash held before (no field of an older hash survives). A card whose
    last record is a tombstone has no hash afterwards: delete it if Redis has one. A
    card deleted and then written again is there, with the value written last.

    The store may hold stale hashes from before (a deletion that never reached Redis):
    the changelog, not Redis, says what exists. Touch only keys under `prefix`.

    Hint: `lk.topics.read_all(topic)` reads every partition to its end, in offset order
    per partition (a key's records are all in one partition); keep the last value per
    key, then DEL each card and HSET the living ones (`json.loads` the value,
    `lk.sinks.encode_fields` its features).
    """
    raise NotImplementedError("last record per key; DEL the tombstoned, replace the rest")
