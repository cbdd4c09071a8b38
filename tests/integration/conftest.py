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

    No engine's speed decides where a fault lands: the simple engine's failure tests
    stop it at a pause point first (`faults.paused`); the Flink job's read a copy whose
    second half arrives only after the fault (`faults.staged_copy`).
    """
    name = lk.topics.fresh_topic("it-failures", partitions=2)
    lk.generate.produce(name, FAILURE_EVENTS, fmt="confluent", **FAILURE_SHAPE)
    assert engines.run("simple", name, tag=".whole").balanced
    return name


def _check_same_outcome(topic: str, tag: str, *, reference: str | None = None) -> None:
    """The run `tag` over `topic` ended where the uninterrupted run over `reference` (by
    default the same topic) did, and lost nothing on the way."""
    run = Outputs(topic, tag)
    result = parity.outcome(run, Outputs(reference or topic, ".whole"))
    assert result.same, str(result)
    # Replays repeat records and dead letters; counted once each, they cover the input.
    letters = {letter.source for letter in lk.runs.read_dead_letters(run)}
    assert result.distinct + len(letters) == FAILURE_EVENTS


@pytest.fixture(scope="session")
def same_outcome() -> Callable[..., None]:
    """`same_outcome(topic, tag[, reference=topic])` asserts the run `tag` matches the
    uninterrupted one."""
    return _check_same_outcome
