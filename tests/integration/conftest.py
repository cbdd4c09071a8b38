"""Shared by the failure tests of both engines: one stream, and a run that nothing interrupted."""

from collections.abc import Callable

import pytest

import labkit as lk
from labkit import engines, parity
from labkit.features import WINDOW_1H_MS
from labkit.runs import Outputs

FAILURE_EVENTS = 40_000
FAILURE_SHAPE = {"n_cards": 250, "late_share": 0.02, "jitter_ms": 2 * WINDOW_1H_MS,
                 "bad_share": 0.002}


@pytest.fixture(scope="session")
def failure_topic() -> str:
    """40,000 events on 2 partitions, and one uninterrupted run over them (tag `.whole`).

    The Flink job runs over it for several 5 s checkpoints, so a fault lands in the
    middle of its run; the simple engine is faster than any such margin, so its
    failure tests stop it at a pause point first (`faults.paused`).
    """
    name = lk.topics.fresh_topic("it-failures", partitions=2)
    lk.generate.produce(name, FAILURE_EVENTS, fmt="confluent", **FAILURE_SHAPE)
    assert engines.run("simple", name, tag=".whole").balanced
    return name


def _check_same_outcome(topic: str, tag: str) -> None:
    """The run `tag` ended where the uninterrupted run did, and lost nothing on the way."""
    run = Outputs(topic, tag)
    result = parity.outcome(run, Outputs(topic, ".whole"))
    assert result.same, str(result)
    # Replays repeat records and dead letters; counted once each, they cover the input.
    letters = {letter.source for letter in lk.runs.read_dead_letters(run)}
    assert result.distinct + len(letters) == FAILURE_EVENTS


@pytest.fixture(scope="session")
def same_outcome() -> Callable[[str, str], None]:
    """`same_outcome(topic, tag)` asserts the run `tag` matches the uninterrupted one."""
    return _check_same_outcome
