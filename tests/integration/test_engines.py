"""Both engines over the same seeded stream: identical features, identical Redis, nothing lost."""

import json

import pytest

import labkit as lk
from labkit import parity
from labkit.engines import flink, simple
from labkit.features import WINDOW_1H_MS
from labkit.processing import Outputs
from labkit.sinks import RedisFeatureSink

pytestmark = pytest.mark.integration

STREAM = {"n_cards": 250, "bad_share": 0.003, "late_share": 0.02, "jitter_ms": 2 * WINDOW_1H_MS}


@pytest.fixture(scope="module")
def stream() -> str:
    """20,000 events over 250 cards on 3 partitions: out-of-order, late and undecodable ones."""
    topic = lk.topics.fresh_topic("it-engines", partitions=3)
    assert lk.generate.produce(topic, 20_000, fmt="confluent", **STREAM) == 20_000
    return topic


def test_both_engines_reconcile_and_agree_event_by_event(stream):
    reports = [simple.run(stream, tag=".simple"), flink.run(stream, tag=".flink")]
    for report in reports:
        assert report.input_messages == 20_000
        assert report.balanced, str(report)
        assert report.dead_letters.get("late", 0) > 0
        assert report.dead_letters.get("undecodable", 0) > 0
    assert reports[0].feature_records == reports[1].feature_records
    assert reports[0].dead_letters == reports[1].dead_letters
    simple_out, flink_out = Outputs(stream, ".simple"), Outputs(stream, ".flink")
    logs = parity.feature_log(simple_out), parity.feature_log(flink_out)
    assert len(logs[0]) == reports[0].feature_records
    result = parity.compare(*logs)
    assert result.compared == reports[0].feature_records
    assert result.equal, str(result)
    redis = parity.redis_snapshot(simple_out), parity.redis_snapshot(flink_out)
    assert len(redis[0]) == 250
    # Type-strict: == alone would accept True for 1 and 1 for 1.0.
    assert json.dumps(redis[0], sort_keys=True) == json.dumps(redis[1], sort_keys=True)


def test_dead_letters_keep_the_original_bytes_and_say_why(stream):
    letters = lk.topics.read(Outputs(stream, ".simple").dlq, max_messages=10_000)
    originals = {(r.partition, r.offset): r for r in lk.topics.read(stream, max_messages=20_000)}
    for letter in letters:
        headers = dict(letter.headers)
        source = originals[(int(headers["dlq.partition"]), int(headers["dlq.offset"]))]
        assert headers["dlq.topic"].decode() == stream
        assert (letter.key, letter.value or b"") == (source.key, source.value or b"")
        assert headers["dlq.reason"] in {b"late", b"undecodable"}
        assert headers["dlq.error"]


def test_a_replay_never_moves_a_card_backwards(stream):
    outputs = Outputs(stream, ".simple")
    before = parity.redis_snapshot(outputs)
    # Older records written after newer ones (what a replay or a slow engine does):
    # the sink's feature_ts guard must keep every card at its newest record.
    RedisFeatureSink(key_prefix=outputs.redis_prefix).write_latest(
        parity.feature_log(outputs)[:2_000])
    assert parity.redis_snapshot(outputs) == before
    # A whole replay under a new consumer group ends where it started, too.
    simple.run(stream, tag=".simple", group=f"replay-{stream}")
    assert parity.redis_snapshot(outputs) == before


def test_the_flink_engine_runs_on_the_standalone_cluster():
    topic = lk.topics.fresh_topic("it-cluster", partitions=2)
    lk.generate.produce(topic, 3_000, fmt="confluent", **STREAM)
    on_cluster = flink.run(topic, tag=".cluster", cluster=True)
    assert on_cluster.balanced, str(on_cluster)
    simple.run(topic, tag=".simple")
    result = parity.compare(parity.feature_log(Outputs(topic, ".cluster")),
                            parity.feature_log(Outputs(topic, ".simple")))
    assert result.compared == on_cluster.feature_records
    assert result.equal, str(result)
