"""Graders for chapter 04: each runs an exercise on inputs of its own and checks the result."""

from __future__ import annotations

import random
from collections import defaultdict
from types import ModuleType

import labkit as lk
from labkit.check import Wrong, grader

TEN_MINUTES_MS = 10 * 60 * 1000


# -- process_topic: the loop, watched through its clients --------------------------------

class _Watched:
    """Passes every call on to the real client; the subclasses note what was called."""

    def __init__(self, target: object, log: list[tuple]) -> None:
        self._target, self._log = target, log

    def __getattr__(self, name: str) -> object:
        return getattr(self._target, name)


class _Producer(_Watched):
    def produce(self, topic, *args, **kwargs):
        value = kwargs.get("value", args[0] if args else None)
        headers = kwargs.get("headers", args[5] if len(args) > 5 else None)
        self._log.append(("produce", topic, value, dict(headers or {})))
        return self._target.produce(topic, *args, **kwargs)

    def flush(self, *args, **kwargs):
        left = self._target.flush(*args, **kwargs)
        self._log.append(("flush", left))
        return left


class _Sink(_Watched):
    def write_latest(self, records):
        records = list(records)
        self._log.append(("redis", [record["txn_id"] for record in records]))
        return self._target.write_latest(records)


class _Consumer(_Watched):
    def commit(self, *args, **kwargs):
        offsets = kwargs.get("offsets")
        if offsets is None and kwargs.get("message") is None and not args:
            offsets = self._target.position(self._target.assignment())  # what it commits
        if offsets is None:
            raise Wrong("commit the batch's offsets explicitly: consumer.commit(offsets=[...])")
        self._log.append(("commit", {tp.partition: tp.offset for tp in offsets}))
        return self._target.commit(*args, **kwargs)


def _sources(topic: str) -> tuple[dict[str, tuple[int, int]], dict[int, int]]:
    """txn_id -> (partition, offset) of every decodable input, and each partition's end."""
    decode = lk.serde.ConfluentDecoder()
    where, ends = {}, defaultdict(int)
    for record in lk.topics.read_all(topic):
        ends[record.partition] = record.offset + 1
        source = lk.processing.Source(record.topic, record.partition, record.offset)
        txn = lk.processing.check(record.key, record.value, source, decode)
        if isinstance(txn, dict):
            where[txn["txn_id"]] = (record.partition, record.offset)
    return where, dict(ends)


def _check_order(log: list[tuple], outputs: lk.runs.Outputs, topic: str) -> None:
    """Every commit covers only messages whose outputs were acknowledged (and in Redis)."""
    where, _ends = _sources(topic)
    decode = lk.serde.ConfluentDecoder()
    produced: set[tuple[int, int]] = set()  # sources with an output sent
    acked: set[tuple[int, int]] = set()  # ... and acknowledged by a flush that returned 0
    in_redis: set[str] = set()
    pending: set[tuple[int, int]] = set()
    feature_source: dict[tuple[int, int], str] = {}
    for entry in log:
        if entry[0] == "produce":
            _, to, value, headers = entry
            if to == outputs.features:
                txn_id = decode(value)["txn_id"]
                source = where.get(txn_id)
                if source is None:
                    raise Wrong(f"a feature record for {txn_id}, which is no valid input")
                feature_source[source] = txn_id
            elif to == outputs.dlq:
                source = (int(headers["dlq.partition"]), int(headers["dlq.offset"]))
            else:
                raise Wrong(f"produced to {to!r}: write to outputs.features or outputs.dlq")
            produced.add(source)
            pending.add(source)
        elif entry[0] == "flush" and entry[1] == 0:
            acked |= pending
            pending = set()
        elif entry[0] == "redis":
            in_redis.update(entry[1])
        elif entry[0] == "commit":
            for partition, offset in entry[1].items():
                for source in ((partition, o) for o in range(offset)):
                    if source not in produced:
                        raise Wrong(f"committed offset {offset} on partition {partition} "
                                    f"before the message at offset {source[1]} had an output")
                    if source not in acked:
                        raise Wrong(f"committed offset {offset} on partition {partition} "
                                    "before producer.flush() confirmed the output of the "
                                    f"message at offset {source[1]}")
                    txn_id = feature_source.get(source)
                    if txn_id is not None and txn_id not in in_redis:
                        raise Wrong(f"committed offset {offset} on partition {partition} "
                                    f"before the features of the message at offset {source[1]} "
                                    "reached Redis (sink.write_latest)")


@grader("process_topic", hint="notebook 04, section 5: consume, check, update, produce, "
        "sink.write_latest, then producer.flush() == 0, and only then consumer.commit(...)")
def grade_process_topic(exercise: ModuleType) -> None:
    topic = lk.topics.fresh_topic("ch04-loop", partitions=2)
    sent = lk.generate.produce(topic, 600, fmt="confluent", n_cards=20, bad_share=0.03,
                               late_share=0.05, jitter_ms=2 * lk.features.WINDOW_1H_MS)
    yours = lk.runs.Outputs(topic, ".yours")
    yours.create_topics()
    log: list[tuple] = []
    group = yours.group("exercise")
    consumer = lk.clients.consumer(group_id=group)
    try:
        count = exercise.process_topic(
            topic, yours, consumer=_Consumer(consumer, log),
            producer=_Producer(lk.clients.producer(), log),
            sink=_Sink(lk.sinks.RedisFeatureSink(key_prefix=yours.redis_prefix), log))
    finally:
        consumer.close()
    if count != sent:
        raise Wrong("messages processed", expected=sent, got=count)
    if not any(entry[0] == "commit" for entry in log):
        raise Wrong("no offsets were committed: commit after each acknowledged batch")
    _check_order(log, yours, topic)
    if lk.topics.committed(topic, group) != sent:
        raise Wrong("messages committed by your group", expected=sent,
                    got=lk.topics.committed(topic, group))
    lk.engines.run("simple", topic, tag=".reference")
    reference = lk.runs.Outputs(topic, ".reference")
    parity = lk.parity.compare(lk.parity.feature_log(yours), lk.parity.feature_log(reference))
    if not parity.equal:
        raise Wrong(f"your feature log differs from labkit's simple engine: {parity}")
    letters = [(d.reason, d.source) for d in lk.runs.read_dead_letters(yours)]
    expected = [(d.reason, d.source) for d in lk.runs.read_dead_letters(reference)]
    if letters != expected:
        raise Wrong("dead letters (reason, source)", expected=expected[:3], got=letters[:3])
    if lk.parity.redis_snapshot(yours) != lk.parity.redis_snapshot(reference):
        raise Wrong("your Redis records differ from labkit's simple engine's")


# -- txn_count_10m: against a count from scratch ----------------------------------------

def _boundary_card() -> list[dict]:
    """Events exactly 10 minutes apart, and one a millisecond inside: the bound matters."""
    base = next(lk.generate.transactions(1, seed=4))
    start = lk.generate.START_MS
    offsets = (0, TEN_MINUTES_MS, TEN_MINUTES_MS + 1, 2 * TEN_MINUTES_MS, 2 * TEN_MINUTES_MS + 1,
               2 * TEN_MINUTES_MS - 5)  # the last one arrives out of order
    return [{**base, "card_id": "card-edge", "txn_id": f"edge-{i}", "timestamp": start + o}
            for i, o in enumerate(offsets)]


@grader("txn_count_10m", hint="T is window.clock_ms; count window.times in (T - 10 min, T] "
        "with bisect_right (the bound T - 10 min itself is excluded)")
def grade_txn_count_10m(exercise: ModuleType) -> None:
    stream = [*_boundary_card(), *lk.generate.transactions(
        2_000, n_cards=25, late_share=0.1, jitter_ms=20 * 60 * 1000)]
    windows: dict[str, lk.features.CardWindow] = {}
    accepted: dict[str, list[int]] = defaultdict(list)
    for txn in stream:
        card = txn["card_id"]
        window = windows.setdefault(card, lk.features.CardWindow(card))
        if window.update(txn) is None:
            continue  # late: not in the window
        accepted[card].append(txn["timestamp"])
        clock = max(accepted[card])
        expected = sum(clock - TEN_MINUTES_MS < ts <= clock for ts in accepted[card])
        got = exercise.txn_count_10m(window)
        if got != expected:
            raise Wrong(f"txn_count_10m of {card} after {txn['txn_id']} (T = {clock})",
                        expected=expected, got=got)


# -- differing_records: a real run's log against a changed copy --------------------------

def _changed_copy(log: list[dict]) -> tuple[list[dict], dict[str, list[str]]]:
    """A reordered copy of `log` with known changes, and the answer they call for."""
    rng = random.Random(404)
    copy = [dict(record) for record in log]
    expected: dict[str, set[str]] = defaultdict(set)
    for record in rng.sample(copy, 40):  # far beyond rounding: differ
        record["amount_std_1h"] = record["amount_std_1h"] * (1 + 1e-6) + 1e-6
        expected["amount_std_1h"].add(record["txn_id"])
    for record in rng.sample(copy, 40):  # rounding noise only: equal
        record["amount_sum_1h"] = record["amount_sum_1h"] * (1 + 1e-13)
    for record in rng.sample(copy, 15):
        record["is_high_velocity"] = not record["is_high_velocity"]
        expected["is_high_velocity"].add(record["txn_id"])
    for record in rng.sample(copy, 10):
        record["last_geo_country"] = "ZZ"
        expected["last_geo_country"].add(record["txn_id"])
    dropped = rng.sample(range(len(copy)), 3)
    expected["missing"] = {copy[i]["txn_id"] for i in dropped}
    copy = [record for i, record in enumerate(copy) if i not in dropped]
    rng.shuffle(copy)
    return copy, {name: sorted(ids) for name, ids in expected.items()}


@grader("differing_records", hint="match records by txn_id, not by position; compare floats "
        "with lk.parity.same (rounding is not a difference); list only what differs")
def grade_differing_records(exercise: ModuleType) -> None:
    topic = lk.topics.fresh_topic("ch04-diff", partitions=2)
    lk.generate.produce(topic, 500, fmt="confluent", n_cards=20, late_share=0.05)
    lk.engines.run("simple", topic, tag=".run")
    log = lk.parity.feature_log(lk.runs.Outputs(topic, ".run"))
    same = exercise.differing_records(log, [dict(record) for record in reversed(log)])
    if same != {}:
        raise Wrong("a log against itself in another order", expected={}, got=same)
    changed, expected = _changed_copy(log)
    got = exercise.differing_records(log, changed)
    if got != expected:
        names = sorted(set(got) | set(expected))
        raise Wrong("records that differ, per feature (counts shown)",
                    expected={n: len(expected.get(n, [])) for n in names},
                    got={n: len(got.get(n, [])) for n in names}
                    if isinstance(got, dict) else got)
