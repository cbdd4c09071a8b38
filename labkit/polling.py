"""Wait for something to become true, with a deadline: the lab's one polling loop
(`poll`, and `until`, which raises when time runs out); ask a call again while it
fails for a passing reason: the lab's one retry policy (`retry`); and watch
something change in the background (`Sampler`).

Services, jobs and topics change state on their own time. Sleeping a fixed
while and hoping is flaky on a busy machine; polling until a deadline is not.
A restarting broker, Redis or registry refuses for a while, then answers the
same call: retrying it rides the outage out instead of crashing.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from typing import Any, Self, TypeVar

from .errors import LabError

__all__ = ["Sampler", "poll", "retry", "until"]

T = TypeVar("T")


def poll(check: Callable[[], T], *, timeout_s: float, interval_s: float = 0.1,
         clock: Callable[[], float] = time.monotonic,
         sleep: Callable[[float], None] = time.sleep) -> T:
    """Call `check()` every `interval_s` until it returns something truthy, or `timeout_s`
    has passed; return its last answer (falsy if time ran out).

    For a wait whose timeout is an answer, not a failure (a process that will not stop
    is killed instead); `until` is the same loop for a wait that must succeed. `check`
    may raise to give up early. `clock` and `sleep` are there for tests.
    """
    deadline = clock() + timeout_s
    while not (result := check()) and clock() <= deadline:
        sleep(interval_s)
    return result


def until(check: Callable[[], T], *, timeout_s: float, what: str, fix: str = "",
          interval_s: float = 0.1, error: type[LabError] = LabError) -> T:
    """Call `check()` every `interval_s` until it returns something truthy; return that.

    Past `timeout_s` raise `error` (a LabError) saying what did not happen
    (`what`, e.g. "the TaskManager registered") and `fix`. `check` may raise to
    give up early.
    """
    result = poll(check, timeout_s=timeout_s, interval_s=interval_s)
    if not result:
        raise error(f"Timed out after {timeout_s:g} s waiting until {what}.",
                    fix or "check the stack with `labkit stack status`.")
    return result


def retry(call: Callable[[], T], *, transient: Callable[[Exception], bool], timeout_s: float,
          errors: tuple[type[Exception], ...] = (Exception,), wait_s: float = 0.2,
          max_wait_s: float | None = None,
          give_up: Callable[[Exception], Exception] | None = None,
          clock: Callable[[], float] = time.monotonic,
          sleep: Callable[[float], None] = time.sleep) -> T:
    """`call()`, asked again while it fails with an error `transient(error)` calls passing.

    Between attempts it waits `wait_s`, doubling each time up to `max_wait_s` (None:
    the wait stays `wait_s`). On an error that is not transient, or when the next
    attempt would come after `timeout_s`, it raises `give_up(error)` if given (say a
    LabError naming what failed), else the error itself (for a caller that explains
    it). Only `errors` are looked at; any other failure passes through at once.
    `clock` and `sleep` are there for tests.
    """
    deadline = clock() + timeout_s
    waits = _doubling(wait_s, max_wait_s if max_wait_s is not None else wait_s)
    while True:
        try:
            return call()
        except errors as exc:
            wait = next(waits)
            if not transient(exc) or clock() + wait > deadline:
                if give_up is None:
                    raise
                raise give_up(exc) from None
            sleep(wait)


def _doubling(first_s: float, most_s: float) -> Iterator[float]:
    """first_s, twice that, ... never more than most_s: a backoff's waits."""
    wait = first_s
    while True:
        yield wait
        wait = min(wait * 2, most_s)


class Sampler:
    """Calls `take()` every `every_s` on a thread of its own while its `with` block runs.

    `samples` holds (seconds since the block began, *what take() returned);
    `mark(label)` notes when something happened, in the same seconds. A
    subclass says what to take; `faults.Timeline` and `groups.Watch` are two.
    """

    def __init__(self, every_s: float = 0.25) -> None:
        self.every_s = every_s
        self.samples: list[tuple[Any, ...]] = []
        self.marks: list[tuple[float, str]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._started = time.monotonic()

    def take(self) -> tuple[Any, ...]:
        raise NotImplementedError

    def _sample(self) -> None:
        while not self._stop.is_set():
            elapsed = time.monotonic() - self._started
            self.samples.append((elapsed, *self.take()))
            self._stop.wait(self.every_s)

    def mark(self, label: str) -> None:
        self.marks.append((time.monotonic() - self._started, label))

    def __enter__(self) -> Self:
        self._started = time.monotonic()
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        self._thread.join()
