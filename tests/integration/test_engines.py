"""Every engine of the contract over the same seeded stream: identical features, identical
Redis, nothing lost (the Flink engines on the standalone cluster: test_wheel_taskmanager.py)."""

import json
from typing import NamedTuple

import pytest

import labkit as lk
from labkit import engines, parity
from labkit.features import WINDOW_1H_MS
from labkit.runs import Outputs, RunReport
from labkit.sinks import RedisFeatureSink

pytestmark = pytest.mark.integration

STREAM = {"n_cards": 250, "bad_share": 0.003, "late_share": 0.02, "jitter_ms": 2 * WINDOW_1H_MS}


class EngineRun(NamedTuple):
    """One engine's run over `stream`, and what it had written when it ended."""

    report: RunReport
    outputs: Outputs
    features: list[dict]  # its feature log, read right after the run
    redis: dict[str, dict]  # its Redis cards, read right after the run
    dead_letters: list[lk.processing.DeadLetter]  # in the order of their sources


def _finished(report: RunReport) -> EngineRun:
    # Read at once: test_a_replay_never_moves_a_card_backwards later writes to the
    # simple run's outputs again, and the other tests must not care whether it ran first.
    outputs = report.outputs
    return EngineRun(report, outputs, parity.feature_log(outputs), parity.redis_snapshot(outputs),
                     lk.runs.read_dead_letters(outputs))


@pytest.fixture(scope="module")
def stream() -> str:
    """20,000 events over 250 cards on 3 partitions: out-of-order, late and undecodable ones."""
    topic = lk.topics.fresh_topic("it-engines", partitions=3)
    assert lk.generate.produce(topic, 20_000, fmt="confluent", **STREAM) == 20_000
    return topic


@pytest.fixture(scope="module")
def simple_run(stream) -> EngineRun:
    """The simple engine over `stream` (tag `.simple`), once for every test of the module."""
    return _finished(engines.run("simple", stream, tag=".simple"))


@pytest.fixture(scope="module", params=["flink", "flink-jvm"])
def flink_run(request, stream) -> EngineRun:
    """A Flink engine over `stream` (tagged by its name), once for every test of the module:
    the DataStream job, and the same job with the Avro decoded in the JVM."""
    return _finished(engines.run(request.param, stream, tag=f".{request.param}"))


def test_the_engines_reconcile_and_agree_event_by_event(simple_run, flink_run):
    reports = [simple_run.report, flink_run.report]
    for report in reports:
        assert report.input_messages == 20_000
        assert report.balanced, str(report)
        assert report.dead_letters.get("late", 0) > 0
        assert report.dead_letters.get("undecodable", 0) > 0
    assert reports[0].feature_records == reports[1].feature_records
    assert reports[0].dead_letters == reports[1].dead_letters
    # Letter by letter: the same original bytes, reason, error and source (the flink-jvm
    # engine's undecodable messages take the contract's own path after the JVM's decoder).
    assert simple_run.dead_letters == flink_run.dead_letters
    logs = simple_run.features, flink_run.features
    assert len(logs[0]) == reports[0].feature_records
    result = parity.compare(*logs)
    assert result.compared == reports[0].feature_records
    assert result.equal, str(result)
    redis = simple_run.redis, flink_run.redis
    assert len(redis[0]) == 250
    # Type-strict: == alone would accept True for 1 and 1 for 1.0.
    assert json.dumps(redis[0], sort_keys=True) == json.dumps(redis[1], sort_keys=True)


def test_dead_letters_keep_the_original_bytes_and_say_why(stream, simple_run):
    # A replay (test_a_replay_never_moves_a_card_backwards) may have repeated some letters:
    # each copy must still match its source.
    letters = lk.topics.read_all(simple_run.outputs.dlq)
    assert len(letters) >= sum(simple_run.report.dead_letters.values()) > 0
    originals = {(r.partition, r.offset): r for r in lk.topics.read_all(stream)}
    for letter in letters:
        headers = dict(letter.headers)
        source = originals[(int(headers["dlq.partition"]), int(headers["dlq.offset"]))]
        assert headers["dlq.topic"].decode() == stream
        assert (letter.key, letter.value or b"") == (source.key, source.value or b"")
        assert headers["dlq.reason"] in {b"late", b"undecodable"}
        assert headers["dlq.error"]


def test_a_replay_never_moves_a_card_backwards(stream, simple_run):
    outputs = simple_run.outputs
    before = parity.redis_snapshot(outputs)
    assert before == simple_run.redis
    # Older records written after newer ones (what a replay or a slow engine does):
    # the sink's feature_ts guard must keep every card at its newest record.
    RedisFeatureSink(key_prefix=outputs.redis_prefix).write_latest(simple_run.features[:2_000])
    assert parity.redis_snapshot(outputs) == before
    # A whole replay under a new consumer group ends where it started, too.
    engines.run("simple", stream, tag=".simple", group=f"replay-{stream}")
    assert parity.redis_snapshot(outputs) == before
