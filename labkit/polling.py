"""Wait for something to become true, with a deadline: the lab's one polling loop; and
watch something change in the background (`Sampler`).

Services, jobs and topics change state on their own time. Sleeping a fixed
while and hoping is flaky on a busy machine; polling until a deadline is not.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any, Self, TypeVar

from .errors import LabError

__all__ = ["Sampler", "until"]

T = TypeVar("T")


def until(check: Callable[[], T], *, timeout_s: float, what: str, fix: str = "",
          interval_s: float = 0.1, error: type[LabError] = LabError) -> T:
    """Call `check()` every `interval_s` until it returns something truthy; return that.

    Past `timeout_s` raise `error` (a LabError) saying what did not happen
    (`what`, e.g. "the TaskManager registered") and `fix`. `check` may raise to
    give up early.
    """
    deadline = time.monotonic() + timeout_s
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise error(f"Timed out after {timeout_s:g} s waiting until {what}.",
                           fix or "check the stack with `labkit stack status`.")
        time.sleep(interval_s)


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
