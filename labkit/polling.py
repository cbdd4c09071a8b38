"""Wait for something to become true, with a deadline: the lab's one polling loop.

Services, jobs and topics change state on their own time. Sleeping a fixed
while and hoping is flaky on a busy machine; polling until a deadline is not.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

from .errors import LabError

__all__ = ["until"]

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
