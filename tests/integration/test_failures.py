"""The simple engine under a crash, a Redis outage and a broker restart: nothing lost, same result.

Each scenario runs the engine in its own process (`faults.start_engine`), breaks
something once it has committed part of the topic, lets it finish, and compares
with an uninterrupted run over the same topic: Redis must be identical, and the
feature log may repeat records (at-least-once) but must hold the same records.
"""

import time

import pytest

import labkit as lk
from labkit import faults, parity
from labkit.engines import simple
from labkit.features import WINDOW_1H_MS
from labkit.processing import Outputs

pytestmark = pytest.mark.integration

EVENTS = 40_000
SHAPE = {"n_cards": 250, "late_share": 0.02, "jitter_ms": 2 * WINDOW_1H_MS, "bad_share": 0.002}


@pytest.fixture(scope="module")
def topic() -> str:
    """40,000 events on 2 partitions, and one uninterrupted run over them (tag `.whole`)."""
    name = lk.topics.fresh_topic("it-failures", partitions=2)
    lk.generate.produce(name, EVENTS, fmt="confluent", **SHAPE)
    assert simple.run(name, tag=".whole").balanced
    return name


def _same_outcome(topic: str, tag: str) -> None:
    """The run `tag` ended where the uninterrupted run did, and lost nothing on the way."""
    run = Outputs(topic, tag)
    result = parity.outcome(run, Outputs(topic, ".whole"))
    assert result.same, str(result)
    # Replays repeat records and dead letters; counted once each, they cover the input.
    letters = {letter.source for letter in lk.processing.read_dead_letters(run)}
    assert result.distinct + len(letters) == EVENTS


def _break_midway(topic: str, tag: str, *, rebuild: bool = True):
    """Start the engine in its own process and return it once it has committed a quarter."""
    engine = faults.start_engine(topic, tag=tag, rebuild=rebuild)
    faults.wait_for_progress(topic, Outputs(topic, tag).group("simple"), EVENTS // 4,
                             engine=engine)
    return engine


def test_a_killed_engine_resumes_with_rebuilt_windows(topic):
    engine = _break_midway(topic, ".crash")
    assert faults.kill(engine) == -9
    committed = lk.topics.committed(topic, Outputs(topic, ".crash").group("simple"))
    assert EVENTS // 4 <= committed < EVENTS  # really killed in the middle
    assert simple.run(topic, tag=".crash").balanced
    _same_outcome(topic, ".crash")


def test_without_the_rebuild_features_after_a_restart_are_wrong(topic):
    engine = _break_midway(topic, ".no-rebuild", rebuild=False)
    faults.kill(engine)
    simple.run(topic, tag=".no-rebuild", rebuild=False)
    result = parity.outcome(Outputs(topic, ".no-rebuild"), Outputs(topic, ".whole"))
    # Empty windows after the restart: counts and sums start again from zero.
    assert result.unexpected > 100, str(result)


def test_a_redis_outage_stalls_the_engine_without_losing_or_committing(topic):
    engine = _break_midway(topic, ".redis-outage")
    group = Outputs(topic, ".redis-outage").group("simple")
    faults.stop_service("redis")
    try:
        time.sleep(1.0)  # let the batch in flight hit the closed port
        stalled_at = lk.topics.committed(topic, group)
        time.sleep(3.0)
        assert engine.poll() is None, "the engine gave up instead of retrying"
        assert lk.topics.committed(topic, group) == stalled_at  # no commit without Redis
        assert stalled_at < EVENTS
    finally:
        faults.start_service()
    assert engine.wait(timeout=180) == 0, engine.stdout.read()
    _same_outcome(topic, ".redis-outage")


def test_a_broker_restart_is_survived(topic):
    engine = _break_midway(topic, ".broker-restart")
    faults.stop_service("kafka")
    try:
        time.sleep(2.0)
        assert engine.poll() is None, "the engine gave up instead of reconnecting"
    finally:
        faults.start_service()
    assert engine.wait(timeout=240) == 0, engine.stdout.read()
    _same_outcome(topic, ".broker-restart")
