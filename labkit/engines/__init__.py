"""Engines: thin adapters that move messages through `labkit.processing`, behind one interface.

Every engine is a module with `run(topic, options: RunOptions) -> RunReport`,
listed once in `ENGINES` with the options it takes. `run(name, topic, ...)` is
how the CLI, the benchmarks, the tests and the notebooks start one:

    >>> report = engines.run("simple", "payments", tag=".simple")
    >>> report.balanced

An option the chosen engine does not take is refused with a LabError naming
it, never silently ignored. Engine modules are imported on first use: the
Flink ones load PyFlink.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Any

from ..errors import LabError
from ..runs import RunOptions, RunReport

__all__ = ["ENGINES", "Engine", "get", "options_for", "refuse_options", "run"]

# Every engine's outputs are named by a tag.
_COMMON = frozenset({"tag"})
# Both Flink engines follow the input on the mini-cluster (`flink_follow`) and take settings.
_FLINK = frozenset({"until_end", "max_messages", "started", "flink_settings"})


@dataclass(frozen=True)
class Engine:
    """An engine's name, what it is, its module, and the run options it takes."""

    name: str
    summary: str
    module: str  # labkit.engines.<module>, with run(topic, options) -> RunReport
    takes: frozenset[str]

    def check(self, options: RunOptions) -> None:
        """Refuse (LabError) any option set that this engine does not take."""
        refuse_options(f"the {self.name} engine", _COMMON | self.takes, options)

    def run(self, topic: str, options: RunOptions) -> RunReport:
        """Run on `topic` after checking every option given applies to this engine."""
        self.check(options)
        module = importlib.import_module(f"{__name__}.{self.module}")
        return module.run(topic, options)


ENGINES: dict[str, Engine] = {engine.name: engine for engine in (
    Engine("simple", "a confluent-kafka consumer loop; card windows in a dict", "simple",
           frozenset({"group", "partitions", "from_beginning", "until_end", "max_messages",
                      "rebuild", "progress", "stopwatch", "latencies", "guarantee", "instance",
                      "crash_in_batch", "pause_after", "members"})),
    Engine("flink", "a PyFlink DataStream job; card windows in Flink keyed state", "flink",
           frozenset({"group", "parallelism", "cluster", *_FLINK})),
    Engine("flink-jvm", "the flink engine with the Avro decoded in the JVM (Flink's "
           "avro-confluent classes); Python runs the checks and the windows", "flink_jvm",
           frozenset({"group", "parallelism", "cluster", *_FLINK})),
    Engine("flink-sql", "Flink SQL OVER windows, all in the JVM; dead letters, no Redis",
           "flink_sql", frozenset({"parallelism", "cluster", *_FLINK})),
)}


def refuse_options(what: str, takes: frozenset[str], options: RunOptions) -> None:
    """A LabError naming the first option set away from its default that `what` does
    not take, and the engines that do take it."""
    for name in options.changed():
        if name not in takes:
            takers = [e.name for e in ENGINES.values() if name in _COMMON | e.takes]
            raise LabError(f"Option {RunOptions.describe(name)} does not apply to {what}.",
                           f"drop it, or use an engine that takes it: "
                           f"{', '.join(takers) or 'none'}.")


def get(name: str) -> Engine:
    """The engine called `name`, or a LabError listing the ones there are."""
    if name not in ENGINES:
        raise LabError(f"Unknown engine {name!r}.", f"use one of: {', '.join(ENGINES)}.")
    return ENGINES[name]


def options_for(**options: Any) -> RunOptions:
    """`RunOptions` from keywords; an unknown keyword is a LabError, not a TypeError."""
    try:
        return RunOptions(**options)
    except TypeError as exc:
        raise LabError(f"Not a run option: {exc}.",
                       f"run options are: {', '.join(RunOptions.__dataclass_fields__)}.") from None


def run(name: str, topic: str, **options: Any) -> RunReport:
    """Run engine `name` over `topic` with `options` (see `RunOptions`); the reconciliation."""
    return get(name).run(topic, options_for(**options))
