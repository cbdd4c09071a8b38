"""Pinning: an engine on a core of its own, so a claim about "one core" is measured on one.

Linux sets CPU affinity per thread, and a new thread inherits its creator's, so
pinning a process means pinning every thread it has and starts meanwhile.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator

from .. import stack
from ..errors import LabError
from ..settings import get_settings

__all__ = ["core_apart_from_the_stack", "cores_apart", "pinned"]


@contextlib.contextmanager
def pinned(cores: set[int] | None) -> Iterator[None]:
    """Run this thread, and the threads it starts meanwhile, on `cores` (None: leave as is).

    Linux applies affinity per thread and new threads inherit it, so the Kafka
    client threads an engine starts inside the block run on `cores` too.
    """
    if cores is None:
        yield
        return
    before = os.sched_getaffinity(0)
    os.sched_setaffinity(0, cores)
    try:
        yield
    finally:
        os.sched_setaffinity(0, before)


def _threads(pid: int) -> list[int]:
    """The thread ids of process `pid` now (affinity is set per thread)."""
    return [int(task) for task in os.listdir(f"/proc/{pid}/task")]


def _set_affinity(cores_of: dict[int, set[int]]) -> None:
    """Every thread of each process on its cores (threads that end meanwhile are skipped)."""
    for pid, cores in cores_of.items():
        for thread in _threads(pid):
            with contextlib.suppress(ProcessLookupError, FileNotFoundError):
                os.sched_setaffinity(thread, cores)


@contextlib.contextmanager
def core_apart_from_the_stack() -> Iterator[None]:
    """This process, every thread of it, on one core; every server labkit runs (Kafka, the
    registry, Redis, Flink), every thread of them, on the other cores; as before after.

    What "on one core" means for a claim about the engine: librdkafka's threads
    share the engine's core, and the brokers it talks to never take it. Threads
    started meanwhile inherit their creator's core, so all threads are put back.
    """
    cores = sorted(os.sched_getaffinity(0))
    run_dir = get_settings().run_dir
    servers = [pid for name in stack.process.tracked_names(run_dir)
               if (pid := stack.process.running_pid(name, run_dir))]
    if len(cores) < 2 or not servers:
        raise LabError(f"Pinning needs two cores and labkit's own servers; this process may "
                       f"use {len(cores)} core(s), and labkit runs {len(servers)} server(s).",
                       "run without pin, or on the stack `labkit stack up` started.")
    pinned = {os.getpid(): {cores[0]}, **{pid: set(cores[1:]) for pid in servers}}
    before = {pid: os.sched_getaffinity(pid) for pid in pinned}
    _set_affinity(pinned)
    try:
        yield
    finally:
        _set_affinity(before)


def cores_apart() -> tuple[set[int], set[int]]:
    """One core for the engine, another for the load generator."""
    cores = sorted(os.sched_getaffinity(0))
    if len(cores) < 2:
        raise LabError(f"Pinning needs two cores; this process may use {len(cores)}.",
                       "run the latency benchmark with pin=False (no --pin).")
    return {cores[0]}, {cores[1]}
