"""The lab's one polling loop (`poll`, `until`) and its one retry policy (`retry`), on a
fake clock: the waits a policy takes, which failures it asks again, what it raises when
it stops. Nothing sleeps."""

from __future__ import annotations

from functools import partial

import pytest

from labkit.engines.outages import OUTAGE_TIMEOUT_S
from labkit.errors import LabError, ServiceUnavailable
from labkit.polling import poll, retry, until


class Clock:
    """A clock that moves only when slept on; it remembers every wait."""

    def __init__(self) -> None:
        self.now = 0.0
        self.waits: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.waits.append(seconds)
        self.now += seconds


class Away(Exception):
    """A service that is away (transient)."""


def refusing(times: int, answer: str = "ok"):
    """A call that raises Away `times` times, then answers."""
    left = [times]

    def call() -> str:
        if left[0]:
            left[0] -= 1
            raise Away(f"refused, {left[0]} to go")
        return answer
    return call


def away(exc: Exception) -> bool:
    return isinstance(exc, Away)


def test_the_backoff_doubles_up_to_its_cap():
    clock = Clock()
    assert retry(refusing(7), transient=away, timeout_s=60, wait_s=0.1, max_wait_s=1.0,
                 clock=clock, sleep=clock.sleep) == "ok"
    assert clock.waits == pytest.approx([0.1, 0.2, 0.4, 0.8, 1.0, 1.0, 1.0])


def test_without_a_cap_the_wait_is_fixed():
    clock = Clock()
    retry(refusing(3), transient=away, timeout_s=60, wait_s=0.2, clock=clock, sleep=clock.sleep)
    assert clock.waits == [0.2, 0.2, 0.2]


def test_a_failure_that_is_not_transient_is_not_asked_again():
    clock = Clock()
    with pytest.raises(ValueError, match="bad"):
        retry(lambda: int("bad"), transient=away, timeout_s=60, clock=clock, sleep=clock.sleep)
    assert clock.waits == []
    with pytest.raises(LabError, match="asking failed"):
        retry(lambda: int("bad"), transient=away, timeout_s=60, clock=clock, sleep=clock.sleep,
              give_up=lambda exc: LabError(f"asking failed: {exc}"))


def test_errors_it_does_not_look_at_pass_through_untouched():
    clock = Clock()
    with pytest.raises(ValueError):
        retry(lambda: int("bad"), transient=away, timeout_s=60, errors=(Away,),
              give_up=lambda exc: LabError("never"), clock=clock, sleep=clock.sleep)


def test_past_the_timeout_it_gives_up_without_waiting_beyond_it():
    clock = Clock()
    with pytest.raises(LabError, match="the registry failed: refused") as caught:
        retry(refusing(100), transient=away, timeout_s=3.0, wait_s=0.1, max_wait_s=2.0,
              give_up=lambda exc: LabError(f"the registry failed: {exc}"),
              clock=clock, sleep=clock.sleep)
    assert caught.value.__cause__ is None
    assert clock.waits == pytest.approx([0.1, 0.2, 0.4, 0.8])  # 1.5 s; 2 s more is past 3
    with pytest.raises(Away):  # no give_up: the last error itself, for the caller to explain
        retry(refusing(100), transient=away, timeout_s=1.0, clock=clock, sleep=clock.sleep)


def test_the_engines_ride_out_an_outage_and_stop_after_theirs(monkeypatch):
    from labkit.engines import outages

    clock = Clock()
    monkeypatch.setattr(outages, "retry", partial(retry, clock=clock, sleep=clock.sleep))

    def registry() -> str:
        raise ServiceUnavailable("the registry is away", "start it")

    with pytest.raises(LabError, match="decoding a batch failed: the registry is away"):
        outages.retrying(registry, "decoding a batch")
    assert clock.waits[:6] == pytest.approx([0.1, 0.2, 0.4, 0.8, 1.6, 2.0])
    assert OUTAGE_TIMEOUT_S - 2.0 < clock.now <= OUTAGE_TIMEOUT_S
    with pytest.raises(KeyError):  # not an outage: passes through as it is
        outages.retrying(lambda: {}["x"], "reading")


def test_poll_returns_the_first_truthy_answer_or_the_last_falsy_one():
    clock = Clock()
    answers = iter([0, None, 5])
    assert poll(lambda: next(answers), timeout_s=10, interval_s=1, clock=clock,
                sleep=clock.sleep) == 5
    assert clock.waits == [1, 1]
    assert poll(lambda: [], timeout_s=2.5, interval_s=1, clock=clock, sleep=clock.sleep) == []
    assert clock.waits == [1, 1, 1, 1, 1]  # asked at 0, 1, 2 and 3 s: 3 is past 2.5


def test_until_names_what_did_not_happen():
    with pytest.raises(LabError, match=r"Timed out after 0\.05 s waiting until the job ran"):
        until(lambda: False, timeout_s=0.05, interval_s=0.01, what="the job ran")
    assert until(lambda: "up", timeout_s=1, what="it") == "up"
