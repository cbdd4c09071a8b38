"""Graders for chapter 10: a topic sized in exact arithmetic, a hot key in a topic whose lag
is staged, and a feature store restored from a changelog with tombstones."""

from __future__ import annotations

import json
import math
import random
from collections import Counter
from dataclasses import dataclass
from fractions import Fraction
from functools import cache
from itertools import groupby
from types import ModuleType

import redis
from confluent_kafka import TopicPartition

import labkit as lk
from labkit.check import Wrong, grader

SEED = 1010

# -- partitions_for_growth: exact arithmetic, on float traps and seeded cases ---------------

# (what the case checks, peak_per_s, growth_per_year, years, per_consumer_per_s), in the order
# that lets each mistake fail first on the case that names it.
GROWTH_CASES = (
    ("no growth, 4.5 consumers' worth of traffic: the half consumer needs a partition too",
     4_500, 0.0, 3, 1_000),
    ("20 % growth for 1 year: sized for the peak in `years`, not today's", 1_000, 0.2, 1, 100),
    ("doubling every year for 3 years: growth compounds, x8, not 1 + 3 x 100 % = x4",
     1_000, 1.0, 3, 100),
    ("exactly 10 consumers' worth (in floats 1000 * 1.1 ** 2 / 121 is 10.000000000000002: "
     "round up only what exceeds float error)", 1_000, 0.1, 2, 121),
    ("exactly 10 consumers' worth (in floats 100 * 1.1 ** 3 / 13.31 is 10.000000000000004)",
     100, 0.1, 3, 13.31),
    ("10.0008 consumers' worth: more than float error, so 11", 1_000, 0.1, 2, 120.99),
    ("no traffic yet: a topic has at least 1 partition", 0, 0.3, 3, 1_000),
    ("the docstring's example", 10_000, 0.3, 3, 2_500),
)


def _needed(peak_per_s: float, growth_per_year: float, years: int,
            per_consumer_per_s: float) -> int:
    """The answer in exact rationals: each input as the decimal it was written as."""
    def exact(number: float) -> Fraction:
        return Fraction(str(number))
    consumers = (exact(peak_per_s) * (1 + exact(growth_per_year)) ** years
                 / exact(per_consumer_per_s))
    return max(1, math.ceil(consumers))


def _seeded_growth_cases(count: int = 300) -> list[tuple[str, float, float, int, float]]:
    rng = random.Random(SEED)
    return [("a seeded case", round(rng.uniform(1, 2_000_000), 2), rng.randrange(0, 101) / 100,
             rng.randrange(0, 11), rng.choice((250, 1_000, 2_500, 12_000, 40_000.5)))
            for _ in range(count)]


@grader("partitions_for_growth", hint="ceil(peak * (1 + growth) ** years / per_consumer), "
        "growth compounded; take a relative tolerance (1e-9) off before math.ceil, so float "
        "error never adds a partition; at least 1")
def grade_partitions_for_growth(exercise: ModuleType) -> None:
    for what, *case in (*GROWTH_CASES, *_seeded_growth_cases()):
        got = exercise.partitions_for_growth(*case)
        if isinstance(got, bool) or not isinstance(got, int):
            raise Wrong(f"partitions_for_growth{tuple(case)}: a partition count",
                        expected="an int", got=got)
        if got != _needed(*case):
            raise Wrong(f"partitions_for_growth{tuple(case)}, {what}", expected=_needed(*case),
                        got=got)


# -- hottest_key: a topic of three partitions, a group whose offsets are staged -------------

# partition -> (key: count among the messages the group has processed, key: count among those
# it has not). Each non-empty part also holds ONCE keys seen once each; each part is shuffled.
# Partition 0 holds the most messages and is processed; partition 1 lags most, card-hot
# leading its backlog and card-steady its processed part; card-common leads the whole topic;
# card-shared leads the backlogs taken together; card-slow leads partition 2's smaller one.
HOT = {0: ({b"card-big": 110, b"card-common": 90}, {}),
       1: ({b"card-steady": 70, b"card-common": 30}, {b"card-hot": 40, b"card-shared": 25}),
       2: ({b"card-common": 40}, {b"card-slow": 32, b"card-shared": 22})}
ONCE = 15


def _part(partition: int, name: str, counts: dict[bytes, int],
          rng: random.Random) -> list[bytes]:
    keys = [key for key, count in counts.items() for _ in range(count)]
    keys += [f"card-{partition}{name}{index:02d}".encode() for index in range(ONCE if keys else 0)]
    rng.shuffle(keys)
    return keys


@cache
def _hot_topic() -> tuple[str, dict[int, tuple[list[bytes], list[bytes]]]]:
    """The topic, and per partition its keys in offset order: (processed, unprocessed)."""
    rng = random.Random(SEED)
    parts = {partition: (_part(partition, "done", done, rng), _part(partition, "todo", todo, rng))
             for partition, (done, todo) in HOT.items()}
    topic = lk.topics.fresh_topic("ex10-hot", partitions=len(HOT))
    deliveries = lk.topics.Deliveries()
    for partition, (done, todo) in parts.items():
        for key in done + todo:
            deliveries.send(topic, key, b"{}", partition=partition)
    deliveries.confirm(what=f"messages to {topic!r}")
    return topic, parts


def _behind(topic: str, parts: dict[int, tuple[list[bytes], list[bytes]]]) -> str:
    """A fresh group that has committed each partition's processed part (fresh each time:
    the code under test might commit with it)."""
    group = f"ex10-hot-{lk.topics.run_id()}"
    committer = lk.clients.consumer(group_id=group)
    try:
        committer.commit(offsets=[TopicPartition(topic, partition, len(done))
                                  for partition, (done, _todo) in parts.items()],
                         asynchronous=False)
    finally:
        committer.close()
    return group


def _leader(keys: list[bytes]) -> bytes:
    return Counter(keys).most_common(1)[0][0]


def _other_questions(parts: dict[int, tuple[list[bytes], list[bytes]]]) -> dict[str, bytes]:
    """What else one might have counted -> the key that leads it: a wrong key's explanation."""
    answers = {"over the whole topic": _leader([key for done, todo in parts.values()
                                               for key in done + todo])}
    for partition, (done, todo) in parts.items():
        answers[f"of all {len(done) + len(todo)} messages of partition {partition} "
                f"(lag {len(todo)})"] = _leader(done + todo)
        if todo:
            answers[f"among the {len(todo)} unprocessed messages of partition {partition}"] = \
                _leader(todo)
    answers["among the unprocessed messages of every partition together"] = _leader(
        [key for _done, todo in parts.values() for key in todo])
    return answers


@grader("hottest_key", hint="the partition with the most lag (end minus committed offset), "
        "read from its committed offset to its end: its most common key; the messages before "
        "the commit are processed, the other partitions keep up")
def grade_hottest_key(exercise: ModuleType) -> None:
    topic, parts = _hot_topic()
    group = _behind(topic, parts)
    lagging = max(parts, key=lambda partition: len(parts[partition][1]))
    lag_before = lk.groups.lag(group, topic)
    got = exercise.hottest_key(topic, group)
    if lk.groups.lag(group, topic) != lag_before:
        raise Wrong("your code moved the group's committed offsets: read with a consumer of "
                    "a group of your own, and commit nothing")
    expected = _leader(parts[lagging][1])
    if got != expected:
        why = next((f"; {got!r} is the most common key {question}"
                    for question, leader in _other_questions(parts).items() if leader == got), "")
        raise Wrong(f"the most common key among the {len(parts[lagging][1])} unprocessed "
                    f"messages of partition {lagging}, where the group lags most{why}",
                    expected=expected, got=got)


# -- restore_features: a compacted changelog of three partitions, a store with stale hashes --

VALUE, TOMBSTONE = "value", "tombstone"


@dataclass(frozen=True)
class _Card:
    """One card of the changelog: its records in order, and what Redis holds before."""

    name: str
    partition: int
    records: tuple[dict | None, ...]  # None: a tombstone
    before: dict[str, str] | None = None  # the stale hash in Redis before the restore

    @property
    def last(self) -> dict[str, str] | None:
        """The hash it must have after the restore (None: none)."""
        last = self.records[-1]
        return None if last is None else lk.sinks.encode_fields(last)

    def label(self) -> str:
        """e.g. "card-04 (a value, then a tombstone, then a value; in partition 1)"."""
        runs = [(kind, len(list(run))) for kind, run in groupby(
            TOMBSTONE if record is None else VALUE for record in self.records)]
        story = ", then ".join(f"a {kind}" if n == 1 else f"{n} {kind}s" for kind, n in runs)
        return f"{self.name} ({story}; in partition {self.partition})"

    def whose(self, stored: dict[str, str]) -> str:
        """Which of the card's hashes `stored` is, for the FAIL line ("" if none)."""
        hashes = [None if record is None else lk.sinks.encode_fields(record)
                  for record in self.records]
        values = [each for each in hashes if each is not None]
        tombstone = max((i for i, each in enumerate(hashes) if each is None), default=0)
        if stored == self.before:
            return " (it holds the stale hash it had before the restore)"
        if tombstone and stored == hashes[tombstone - 1]:
            return " (it holds its value from before the tombstone)"
        if len(values) > 1 and stored == values[0]:
            return " (it holds its first value)"
        if stored in values[:-1]:
            return " (it holds an older value: the last record per key wins)"
        return ""


def _features(rng: random.Random) -> dict:
    return {"txn_count_1h": rng.randrange(1, 40), "amount_sum_1h": round(rng.uniform(1, 900), 2),
            "country": rng.choice(("GB", "DE", "FR", "US")), "flagged": rng.random() < 0.2,
            "last_merchant": rng.choice((None, "m-0042", "m-1337"))}


# card -> its records in changelog order ("v" a value, "x" a tombstone). Partition = card
# number % 3: every partition holds cards.
STORIES = {"card-00": "vvv", "card-01": "vv", "card-02": "v", "card-03": "vvx", "card-04": "vxv",
           "card-05": "vvvv", "card-06": "vx", "card-07": "vvx", "card-08": "vv", "card-09": "v",
           "card-10": "vxvv", "card-11": "vvv"}


def _stale(name: str, records: tuple[dict | None, ...],
           rng: random.Random) -> dict[str, str] | None:
    """The hash Redis holds for card `name` before the restore, if any."""
    if name == "card-06":  # deleted in the changelog; the deletion never reached Redis
        return lk.sinks.encode_fields(_features(rng))
    if name == "card-08":  # an older hash, with a field no value of the changelog has
        return {**lk.sinks.encode_fields(records[0]), "merchant_risk": "0.7"}
    return None


def _cards() -> list[_Card]:
    rng = random.Random(SEED)
    cards = []
    for number, (name, story) in enumerate(STORIES.items()):
        records = tuple(None if kind == "x" else _features(rng) for kind in story)
        cards.append(_Card(name, number % 3, records, _stale(name, records, rng)))
    return cards


@cache
def _changelog() -> tuple[str, tuple[_Card, ...]]:
    """A compacted topic of three partitions holding every card's records, interleaved."""
    cards = _cards()
    topic = lk.topics.fresh_topic("ex10-changelog", partitions=3,
                                  config={"cleanup.policy": "compact"})
    deliveries = lk.topics.Deliveries()
    for step in range(max(len(card.records) for card in cards)):
        for card in cards:
            if step < len(card.records):
                record = card.records[step]
                deliveries.send(topic, card.name.encode(),
                                None if record is None else json.dumps(record).encode(),
                                partition=card.partition)
    deliveries.confirm(what=f"changelog records to {topic!r}")
    return topic, tuple(cards)


def _stored(client: redis.Redis, prefix: str) -> dict[str, dict[str, str] | bytes]:
    """card -> its hash under `prefix` as text (a key of another type: its type's name)."""
    stored: dict[str, dict[str, str] | bytes] = {}
    for key in client.scan_iter(match=f"{prefix}*"):
        name = key.decode().removeprefix(prefix)
        kind = client.type(key)
        stored[name] = kind if kind != b"hash" else {
            field.decode(): value.decode() for field, value in client.hgetall(key).items()}
    return stored


def _compare(cards: tuple[_Card, ...], stored: dict[str, dict[str, str] | bytes],
             prefix: str) -> None:
    strays = sorted(set(stored) - {card.name for card in cards})
    if strays:
        raise Wrong(f"keys under {prefix!r} that are no card of the changelog (a card's key "
                    f"is the prefix, then its id decoded)", expected=[], got=strays[:3])
    for card in cards:  # which cards exist, before what they hold
        if card.last is None and card.name in stored:
            raise Wrong(f"{card.label()} still has a hash, but its last record is a tombstone"
                        f"{card.whose(stored[card.name])}")
        if card.last is not None and card.name not in stored:
            again = ", written after its tombstone" if None in card.records else ""
            raise Wrong(f"{card.label()} has no hash, but its last record is a value{again}")
    for card in cards:
        got = stored.get(card.name)
        if isinstance(got, bytes):
            raise Wrong(f"{prefix}{card.name} is a Redis {got.decode()}, not a hash")
        if card.last is not None and got != card.last:
            differ = sorted(name for name in card.last.keys() | got.keys()
                            if card.last.get(name) != got.get(name))
            stale = " (left over from the hash it had before the restore: a value replaces " \
                "the whole hash)" if set(differ) <= set(card.before or {}) - set(card.last) \
                else card.whose(got)
            raise Wrong(f"{card.label()}'s hash, the fields that differ{stale}",
                        expected={name: card.last.get(name, "<no field>") for name in differ},
                        got={name: got.get(name, "<no field>") for name in differ})


@grader("restore_features", hint="read every partition from the start (lk.topics.read_all); "
        "per card its last record wins; a tombstone DELs the card's hash, a value replaces "
        "it (DEL, then HSET of each feature's JSON text)")
def grade_restore_features(exercise: ModuleType) -> None:
    topic, cards = _changelog()
    prefix = f"ex10:{lk.topics.run_id()}:"
    client = lk.clients.redis_client()
    try:
        for card in cards:
            if card.before is not None:
                client.hset(f"{prefix}{card.name}", mapping=card.before)
        got = exercise.restore_features(topic, client, prefix)
        _compare(cards, _stored(client, prefix), prefix)
        living = sum(card.last is not None for card in cards)
        if got != living:
            raise Wrong("the number of cards restored (whose last record is a value)",
                        expected=living, got=got)
    finally:
        keys = list(client.scan_iter(match=f"{prefix}*"))
        if keys:
            client.delete(*keys)
