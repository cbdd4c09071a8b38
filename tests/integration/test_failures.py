"""The simple engine under a crash, a Redis outage and a broker restart: nothing lost, same result.

Each scenario runs the engine in its own process (`faults.start_engine`), which
stops itself once it has committed a quarter of the topic (its pause point), so
the fault lands mid-run however fast the machine is; then it breaks something,
lets the engine finish, and compares with an uninterrupted run over the same
topic (conftest's `failure_topic`): Redis must be identical, and the feature log
may repeat records (at-least-once) but must hold the same records.
"""

import subprocess
import time

import pytest

import labkit as lk
from labkit import engines, faults, parity
from labkit.runs import Outputs

pytestmark = pytest.mark.integration

QUARTER = 10_000  # of conftest's 40,000-event failure_topic


def _paused_midway(topic: str, tag: str, *, rebuild: bool = True) -> subprocess.Popen:
    """Start the engine in its own process; return it stopped by its own pause point, with a
    quarter or more committed and the rest still to do, however fast the machine is."""
    engine = faults.start_engine(topic, tag=tag, rebuild=rebuild, pause_after=QUARTER)
    faults.paused(engine)
    return engine


def _committed(topic: str, tag: str) -> int:
    return lk.topics.committed(topic, Outputs(topic, tag).group("simple"))


def test_a_killed_engine_resumes_with_rebuilt_windows(failure_topic, same_outcome):
    engine = _paused_midway(failure_topic, ".crash")
    assert QUARTER <= _committed(failure_topic, ".crash") < lk.topics.count(failure_topic)
    assert faults.kill(engine) == -9
    # Killed right after a commit, nothing in flight: every record once, so it balances.
    assert engines.run("simple", failure_topic, tag=".crash").balanced
    same_outcome(failure_topic, ".crash")


def test_without_the_rebuild_features_after_a_restart_are_wrong(failure_topic):
    engine = _paused_midway(failure_topic, ".no-rebuild", rebuild=False)
    assert faults.kill(engine) == -9
    engines.run("simple", failure_topic, tag=".no-rebuild", rebuild=False)
    result = parity.outcome(Outputs(failure_topic, ".no-rebuild"),
                            Outputs(failure_topic, ".whole"))
    # Empty windows after the restart: counts and sums start again from zero.
    assert result.unexpected > 100, str(result)


def test_a_redis_outage_stalls_the_engine_without_losing_or_committing(failure_topic,
                                                                       same_outcome):
    engine = _paused_midway(failure_topic, ".redis-outage")
    paused_at = _committed(failure_topic, ".redis-outage")
    with faults.outage("redis"):
        faults.resume(engine)  # its next batch meets the outage
        # Not synchronization: the outage itself, long enough for an engine that gave up,
        # or committed without Redis, to show it (it retries for up to 120 s).
        time.sleep(3.0)
        assert engine.poll() is None, "the engine gave up instead of retrying"
        assert _committed(failure_topic, ".redis-outage") == paused_at  # no commit without Redis
    assert engine.wait(timeout=180) == 0, engine.stdout.read()
    same_outcome(failure_topic, ".redis-outage")


def test_a_broker_restart_is_survived(failure_topic, same_outcome):
    engine = _paused_midway(failure_topic, ".broker-restart")
    with faults.outage("kafka"):
        faults.resume(engine)
        # Not synchronization: the broker stays down a while (it is, once `outage` has
        # stopped it), long enough for an engine that gives up to have exited.
        time.sleep(2.0)
        assert engine.poll() is None, "the engine gave up instead of reconnecting"
    assert engine.wait(timeout=240) == 0, engine.stdout.read()
    same_outcome(failure_topic, ".broker-restart")
