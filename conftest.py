"""Start the embedded stack for a test run that needs it, and stop what was started.

Unit tests need nothing. If the run collects an integration test or a
notebook, the stack is brought up first (services already running are reused
and left running) and exactly the processes started here are stopped at the end.
"""

from __future__ import annotations

import pytest

from labkit import stack
from labkit.errors import LabError

_started: list[str] = []


def _needs_stack(item: pytest.Item) -> bool:
    return item.get_closest_marker("integration") is not None or item.path.suffix == ".ipynb"


def pytest_collection_finish(session: pytest.Session) -> None:
    if session.config.option.collectonly or not any(map(_needs_stack, session.items)):
        return
    try:
        _started.extend(stack.up(flink_cluster=True))
    except LabError as exc:
        pytest.exit(f"could not start the lab's stack:\n{exc}", returncode=1)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if _started:
        stack.down(only=list(_started))
        _started.clear()
