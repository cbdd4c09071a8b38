"""How an engine process runs: a garbage collector tuned for a flow of messages, and
SIGTERM as a clean stop. Used by the simple engine and the benchmark floors."""

from __future__ import annotations

import gc
import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

__all__ = ["fewer_collections", "sigterm_stops"]


@contextmanager
def fewer_collections() -> Iterator[None]:
    """Run the cyclic garbage collector less often, and over less, while messages flow.

    Each message allocates a few dozen short-lived objects; with the default
    generation-0 threshold (700) the collector would scan the young objects
    every 30 or so messages — measured here, about 20% of the engine's time.
    None of these objects form cycles, so reference counting frees them anyway.
    And everything that exists before the loop (the interpreter's modules, a
    notebook's pandas and plots: easily a million objects) lives through the
    run, so it is frozen out of the collector's reach: a full collection that
    scanned it would stop the engine for tens of milliseconds, a latency tail.
    """
    before = gc.get_threshold()
    gc.freeze()
    gc.set_threshold(100_000, *before[1:])
    try:
        yield
    finally:
        gc.set_threshold(*before)
        gc.unfreeze()


@contextmanager
def sigterm_stops() -> Iterator[Callable[[], bool]]:
    """SIGTERM ends the run after the batch in flight: committed, and the group left cleanly
    (its partitions move at once; a SIGKILLed process holds them for `SESSION_TIMEOUT_MS`).

    Python handles signals in the main thread only; elsewhere SIGTERM keeps its default.
    """
    if threading.current_thread() is not threading.main_thread():
        yield lambda: False
        return
    asked = threading.Event()
    before = signal.signal(signal.SIGTERM, lambda _signum, _frame: asked.set())
    try:
        yield asked.is_set
    finally:
        signal.signal(signal.SIGTERM, before)
