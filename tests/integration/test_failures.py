"""The simple engine under a crash, a Redis outage and a broker restart: nothing lost, same result.

Each scenario runs the engine in its own process (`faults.start_engine`), breaks
something once it has committed part of the topic, lets it finish, and compares
with an uninterrupted run over the same topic (conftest's `failure_topic`):
Redis must be identical, and the feature log may repeat records
(at-least-once) but must hold the same records.
"""

import subprocess
import time

import pytest

import labkit as lk
from labkit import engines, faults, parity
from labkit.polling import until
from labkit.runs import Outputs

pytestmark = pytest.mark.integration

QUARTER = 10_000  # of conftest's 40,000-event failure_topic


def _break_midway(topic: str, tag: str, *, rebuild: bool = True) -> subprocess.Popen:
    """Start the engine in its own process and return it once it has committed a quarter."""
    engine = faults.start_engine(topic, tag=tag, rebuild=rebuild)
    faults.wait_for_progress(topic, Outputs(topic, tag).group("simple"), QUARTER, engine=engine)
    return engine


def _commits_stopped(topic: str, group: str, engine: subprocess.Popen, *,
                     quiet_s: float = 1.0, timeout_s: float = 60.0) -> int:
    """Wait until `group` has committed nothing new for `quiet_s`; return its count then.

    The batch the engine was processing when a fault hit may still commit; the
    next one cannot. Raises if the engine exits meanwhile.
    """
    last = {"committed": -1, "since": time.monotonic()}

    def settled() -> tuple[int] | None:
        assert engine.poll() is None, f"the engine exited (code {engine.returncode}) instead " \
                                      f"of retrying: {engine.stdout.read()}"
        committed = lk.topics.committed(topic, group)
        if committed != last["committed"]:
            last.update(committed=committed, since=time.monotonic())
            return None
        return (committed,) if time.monotonic() - last["since"] >= quiet_s else None

    return until(settled, timeout_s=timeout_s, what=f"{group} stopped committing")[0]


def test_a_killed_engine_resumes_with_rebuilt_windows(failure_topic, same_outcome):
    engine = _break_midway(failure_topic, ".crash")
    assert faults.kill(engine) == -9
    committed = lk.topics.committed(failure_topic, Outputs(failure_topic, ".crash").group("simple"))
    assert QUARTER <= committed < lk.topics.count(failure_topic)  # really killed midway
    assert engines.run("simple", failure_topic, tag=".crash").balanced
    same_outcome(failure_topic, ".crash")


def test_without_the_rebuild_features_after_a_restart_are_wrong(failure_topic):
    engine = _break_midway(failure_topic, ".no-rebuild", rebuild=False)
    faults.kill(engine)
    engines.run("simple", failure_topic, tag=".no-rebuild", rebuild=False)
    result = parity.outcome(Outputs(failure_topic, ".no-rebuild"),
                            Outputs(failure_topic, ".whole"))
    # Empty windows after the restart: counts and sums start again from zero.
    assert result.unexpected > 100, str(result)


def test_a_redis_outage_stalls_the_engine_without_losing_or_committing(failure_topic,
                                                                       same_outcome):
    engine = _break_midway(failure_topic, ".redis-outage")
    group = Outputs(failure_topic, ".redis-outage").group("simple")
    with faults.outage("redis"):
        stalled_at = _commits_stopped(failure_topic, group, engine)  # the batch in flight hit it
        # Not synchronization: the outage itself, long enough for an engine that gave up
        # or committed without Redis to show it (it retries for up to 120 s).
        time.sleep(3.0)
        assert engine.poll() is None, "the engine gave up instead of retrying"
        assert lk.topics.committed(failure_topic, group) == stalled_at  # no commit without Redis
        assert stalled_at < lk.topics.count(failure_topic)
    assert engine.wait(timeout=180) == 0, engine.stdout.read()
    same_outcome(failure_topic, ".redis-outage")


def test_a_broker_restart_is_survived(failure_topic, same_outcome):
    engine = _break_midway(failure_topic, ".broker-restart")
    with faults.outage("kafka"):
        # Not synchronization: the broker stays down a while (it is, once `outage` has
        # stopped it), long enough for an engine that gives up to have exited.
        time.sleep(2.0)
        assert engine.poll() is None, "the engine gave up instead of reconnecting"
    assert engine.wait(timeout=240) == 0, engine.stdout.read()
    same_outcome(failure_topic, ".broker-restart")
