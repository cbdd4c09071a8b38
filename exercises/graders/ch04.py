"""Graders for chapter 04: each runs an exercise on inputs of its own and checks the result."""

from __future__ import annotations

import random
from collections import defaultdict
from collections.abc import Iterable
from functools import cache
from types import ModuleType
from typing import Any

import labkit as lk
from labkit.check import FailingProducer, Watched, Wrong, grader, produce_arguments

TEN_MINUTES_MS = 10 * 60 * 1000


# -- process_topic: the loop, watched through its clients --------------------------------
#
# The grader runs your loop three times over one input, each time with clients that pass
# every call on and note it: once as it is, once with a delivery the broker rejects (its
# report has an error, flush() returns 0), once with a delivery still waiting when flush()
# returns (it returns 1; the report, with an error, comes later). Each commit must cover
# only messages whose outputs were acknowledged without an error and whose features
# reached Redis; each batch must be committed before the next one is consumed.

LOST = 50  # the output whose delivery fails in the runs with a fault


class _Producer(FailingProducer):
    """Notes each output it is given (numbered) and each delivery report's outcome."""

    def produce(self, topic: str, *args: Any, **kwargs: Any) -> None:
        named = produce_arguments(args, kwargs)
        number = self._produced  # how many came before this one
        self._log.append(("produce", number, topic, named.get("value"),
                          dict(named.get("headers") or {})))
        report = named.pop("on_delivery", None) or named.pop("callback", None)

        def delivered(err: Any, msg: Any) -> None:
            self._log.append(("delivered", number, err is None))
            if report is not None:
                report(err, msg)
        return super().produce(topic, on_delivery=delivered, **named)

    def flush(self, *args: Any, **kwargs: Any) -> int:
        left = super().flush(*args, **kwargs)
        self._log.append(("flush", left))
        return left


class _Sink(Watched):
    def write_latest(self, records: Any) -> int:
        records = list(records)
        self._log.append(("redis", [record["txn_id"] for record in records]))
        return self._target.write_latest(records)


class _Consumer(Watched):
    def consume(self, *args: Any, **kwargs: Any) -> list:
        messages = self._target.consume(*args, **kwargs)
        self._handed_out(messages)
        return messages

    def poll(self, *args: Any, **kwargs: Any) -> Any:
        msg = self._target.poll(*args, **kwargs)
        self._handed_out([] if msg is None else [msg])
        return msg

    def _handed_out(self, messages: list) -> None:
        sources = {(msg.partition(), msg.offset()) for msg in messages if msg.error() is None}
        if sources:
            self._log.append(("consumed", sources))

    def commit(self, *args: Any, **kwargs: Any) -> Any:
        offsets = kwargs.get("offsets")
        if offsets is None and kwargs.get("message") is None and not args:
            offsets = self._target.position(self._target.assignment())  # what it commits
        if offsets is None:
            raise Wrong("commit the batch's offsets explicitly: consumer.commit(offsets=[...])")
        self._log.append(("commit", {tp.partition: tp.offset for tp in offsets},
                          kwargs.get("asynchronous", True) is False))
        return self._target.commit(*args, **kwargs)


@cache
def _loop_input() -> tuple[str, int]:
    """The input (600 messages with bad and late ones, 2 partitions), and labkit's simple
    engine's run over it (tag `.reference`): shared by every run of this grader."""
    topic = lk.topics.fresh_topic("ch04-loop", partitions=2)
    sent = lk.generate.produce(topic, 600, fmt="confluent", n_cards=20, bad_share=0.03,
                               late_share=0.05, jitter_ms=2 * lk.features.WINDOW_1H_MS)
    lk.engines.run("simple", topic, tag=".reference")
    return topic, sent


@cache
def _sources(topic: str) -> dict[str, tuple[int, int]]:
    """txn_id -> (partition, offset) of every decodable input."""
    decode = lk.serde.ConfluentDecoder()
    where = {}
    for record in lk.topics.read_all(topic):
        source = lk.processing.Source(record.topic, record.partition, record.offset)
        txn = lk.processing.check(record.key, record.value, source, decode)
        if isinstance(txn, dict):
            where[txn["txn_id"]] = (record.partition, record.offset)
    return where


def _run_loop(exercise: ModuleType, topic: str, *, lost: int | None = None,
              stuck: bool = False) -> tuple[lk.runs.Outputs, list[tuple], object]:
    """Your process_topic over `topic`, into outputs of its own, watched: (outputs, log,
    what it returned). With `lost`, that output's delivery fails, and the run may raise."""
    yours = lk.runs.Outputs(topic, f".yours-{lk.topics.run_id()}")
    yours.create_topics()
    log: list[tuple] = []
    consumer = lk.clients.consumer(group_id=yours.group("exercise"))
    try:
        returned = exercise.process_topic(
            topic, yours, consumer=_Consumer(consumer, log),
            producer=_Producer(lk.clients.producer(), log, lost=lost, stuck=stuck),
            sink=_Sink(lk.sinks.RedisFeatureSink(key_prefix=yours.redis_prefix), log))
    except (Wrong, NotImplementedError):
        raise
    except Exception as exc:
        if lost is None:
            raise  # with no fault, a raise is a crash: FAIL with where
        returned = exc  # with a fault, stopping is right: what matters is what was committed
    finally:
        consumer.close()
    return yours, log, returned


class _Progress:
    """What a run's log says happened, up to the entry being read."""

    def __init__(self, outputs: lk.runs.Outputs, topic: str) -> None:
        self.outputs, self.where = outputs, _sources(topic)
        self.decode = lk.serde.ConfluentDecoder()
        self.source_of: dict[int, tuple[int, int]] = {}  # output number -> its input
        self.feature_of: dict[tuple[int, int], str] = {}  # input -> its feature's txn_id
        self.acked: set[tuple[int, int]] = set()  # inputs with an output delivered, no error
        self.in_redis: set[str] = set()
        self.handed_out: set[tuple[int, int]] = set()
        self.committed: dict[int, int] = {}

    def produced(self, number: int, to: str, value: bytes, headers: dict) -> None:
        if to == self.outputs.features:
            txn_id = self.decode(value)["txn_id"]
            if txn_id not in self.where:
                raise Wrong(f"a feature record for {txn_id}, which is no valid input")
            self.source_of[number] = self.where[txn_id]
            self.feature_of[self.where[txn_id]] = txn_id
        elif to == self.outputs.dlq:
            self.source_of[number] = (int(headers["dlq.partition"]), int(headers["dlq.offset"]))
        else:
            raise Wrong(f"produced to {to!r}: write to outputs.features or outputs.dlq")

    def consumed(self, sources: set[tuple[int, int]]) -> None:
        """A new batch: every message handed out before must be committed by now."""
        waiting = sorted(source for source in self.handed_out
                         if self.committed.get(source[0], 0) <= source[1])
        if waiting:
            partition, offset = waiting[0]
            raise Wrong(f"consumed a new batch before committing the previous one: no commit "
                        f"covers the message at offset {offset} on partition {partition} (a "
                        "committed offset is the next one to read: the last processed + 1); "
                        "finish each batch (produce, Redis, flush() == 0, commit) before "
                        "consuming the next")
        self.handed_out |= sources

    def commit(self, offsets: dict[int, int]) -> None:
        """Every message below the committed offsets has its output acknowledged, in Redis."""
        for partition, offset in offsets.items():
            for source in ((partition, o) for o in range(self.committed.get(partition, 0),
                                                          offset)):
                self._covered(source, offset)
            self.committed[partition] = max(offset, self.committed.get(partition, 0))

    def _covered(self, source: tuple[int, int], offset: int) -> None:
        partition, at = source
        commit = f"committed offset {offset} on partition {partition}"
        if source not in self.source_of.values():
            raise Wrong(f"{commit} before the message at offset {at} had an output")
        if source not in self.acked:
            raise Wrong(f"{commit} though the output of the message at offset {at} was not "
                        "acknowledged: commit only once producer.flush() returned 0 and no "
                        "delivery report had an error")
        txn_id = self.feature_of.get(source)
        if txn_id is not None and txn_id not in self.in_redis:
            raise Wrong(f"{commit} before the features of the message at offset {at} "
                        "reached Redis (sink.write_latest)")


def _check_order(log: list[tuple], outputs: lk.runs.Outputs, topic: str) -> None:
    """Commits only what was acknowledged and in Redis, synchronously, batch by batch."""
    if any(entry[0] == "commit" and not entry[2] for entry in log):
        raise Wrong("consumer.commit(...) is asynchronous unless you pass asynchronous=False: "
                    "the batch may not be committed yet when you consume the next one")
    progress = _Progress(outputs, topic)
    for kind, *entry in log:
        if kind == "produce":
            progress.produced(*entry)
        elif kind == "delivered" and entry[1] and entry[0] in progress.source_of:
            progress.acked.add(progress.source_of[entry[0]])
        elif kind == "redis":
            progress.in_redis.update(entry[0])
        elif kind == "consumed":
            progress.consumed(entry[0])
        elif kind == "commit":
            progress.commit(entry[0])


def _check_outputs(yours: lk.runs.Outputs, topic: str, sent: int) -> None:
    """Your run's committed offsets, feature log, dead letters and Redis match labkit's."""
    if lk.topics.committed(topic, yours.group("exercise")) != sent:
        raise Wrong("messages committed by your group", expected=sent,
                    got=lk.topics.committed(topic, yours.group("exercise")))
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


@grader("process_topic", hint="notebook 04, section 5: per batch consume, check, update, "
        "produce, sink.write_latest, then producer.flush() == 0 with no failed delivery "
        "report (else raise), and only then consumer.commit(offsets=..., asynchronous=False)")
def grade_process_topic(exercise: ModuleType) -> None:
    topic, sent = _loop_input()
    yours, log, count = _run_loop(exercise, topic)
    if count != sent:
        raise Wrong("messages processed", expected=sent, got=count)
    if not any(entry[0] == "commit" for entry in log):
        raise Wrong("no offsets were committed: commit after each acknowledged batch")
    _check_order(log, yours, topic)
    for stuck, fault in ((False, "a delivery report with an error (flush() returned 0)"),
                         (True, "flush() returned 1: a delivery still waiting, then its "
                                "report with an error")):
        faulty, log, _ = _run_loop(exercise, topic, lost=LOST, stuck=stuck)
        try:
            _check_order(log, faulty, topic)
        except Wrong as wrong:
            raise Wrong(f"when output {LOST} was not delivered ({fault}): {wrong}") from None
    _check_outputs(yours, topic, sent)


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
    firsts = [record for record in copy if record["seconds_since_prev"] is None]
    later = [record for record in copy if record["seconds_since_prev"] is not None]
    for record in firsts[:3]:
        del record["seconds_since_prev"]  # absent is None: equal
    for record in rng.sample(later, 3):
        del record["seconds_since_prev"]  # absent is None, not the number: differ
        expected["seconds_since_prev"].add(record["txn_id"])
    dropped = {copy[i]["txn_id"] for i in rng.sample(range(len(copy)), 3)}
    for ids in expected.values():
        ids -= dropped  # a record in one log only is missing, whatever else was changed
    expected["missing"] = dropped
    copy = [record for record in copy if record["txn_id"] not in dropped]
    extra = {**log[0], "txn_id": "only-in-the-right-log"}  # missing from the left log
    expected["missing"].add(extra["txn_id"])
    copy.append(extra)
    rng.shuffle(copy)
    return copy, {name: sorted(ids) for name, ids in expected.items()}


@cache
def _run_log() -> list[dict]:
    """A real run's feature log (500 events, 2 partitions), made once per grading session."""
    topic = lk.topics.fresh_topic("ch04-diff", partitions=2)
    lk.generate.produce(topic, 500, fmt="confluent", n_cards=20, late_share=0.05)
    lk.engines.run("simple", topic, tag=".run")
    return lk.parity.feature_log(lk.runs.Outputs(topic, ".run"))


@grader("differing_records", hint="match records by txn_id, not by position; compare floats "
        "with lk.parity.same (rounding is not a difference), an absent feature as None; "
        "\"missing\" holds the txn_ids of either log that the other lacks")
def grade_differing_records(exercise: ModuleType) -> None:
    log = _run_log()
    same = exercise.differing_records(_copied(log), _copied(reversed(log)))
    if same != {}:
        raise Wrong("a log against itself in another order", expected={}, got=same)
    changed, expected = _changed_copy(log)
    got = exercise.differing_records(_copied(log), changed)
    if not isinstance(got, dict):
        raise Wrong("the answer must be a dict", expected="dict", got=type(got).__name__)
    if got != expected:
        names = sorted(set(got) | set(expected))
        first = next(n for n in names if got.get(n) != expected.get(n))
        raise Wrong(f"records that differ, per feature (counts shown; {first!r} is the first "
                    "that differs)", expected={n: len(expected.get(n, [])) for n in names},
                    got={n: len(got.get(n, [])) for n in names})


def _copied(log: Iterable[dict]) -> list[dict]:
    """A copy to hand out: the cached log stays as the run wrote it."""
    return [dict(record) for record in log]
