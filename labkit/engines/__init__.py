"""Engines: thin adapters that move messages through `labkit.processing`, behind one interface.

Every engine is a module with `run(topic, options: RunOptions) -> RunReport`,
listed once in `ENGINES` with what the rest of labkit may need to know about
it: the options it takes, whether it runs in Flink, where it writes and in
which format. The benchmarks and the CLI ask this registry, never compare
engine names (tests/unit/test_engine_registry.py checks).
`run(name, topic, ...)` is how the CLI, the benchmarks, the tests and the
notebooks start one:

    >>> report = engines.run("simple", "payments", tag=".simple")
    >>> report.balanced, report.outputs.features

An option the chosen engine does not take is refused with a LabError naming
it, never silently ignored. Engine modules are imported on first use: the
Flink ones load PyFlink. The benchmark floors are not engines (`floors`).
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Any

from ..errors import LabError
from ..runs import Outputs, RunOptions, RunReport

__all__ = ["ENGINES", "Engine", "get", "options_for", "refuse_options", "run", "takers"]

# Every engine's outputs are named by a tag.
_COMMON = frozenset({"tag"})
# The Flink engines follow the input on the mini-cluster (`flink_follow`) and take settings.
_FLINK = _COMMON | {"parallelism", "cluster", "until_end", "max_messages", "started",
                    "flink_settings"}


@dataclass(frozen=True)
class Engine:
    """An engine's name, what it is, its module, the run options it takes, and what its
    callers would otherwise have to tell from its name.

    `flink`: it runs as a Flink job (PyFlink's mini-cluster, or the standalone
    cluster), never in the calling process, so pinning cannot reach it.
    `mark` and `late_topic` say where it writes (`outputs`); `feature_format`
    is the `serde` format of its feature log's records.
    """

    name: str
    summary: str
    module: str  # labkit.engines.<module>, with run(topic, options) -> RunReport
    takes: frozenset[str]  # every run option it takes
    flink: bool = False
    mark: str = ""  # Outputs.mark: its topics apart from every other engine's
    late_topic: bool = False  # rows at or behind its watermark go to Outputs.late
    feature_format: str = "confluent"

    def outputs(self, topic: str, tag: str = "") -> Outputs:
        """Where a run of this engine over `topic` with `tag` writes."""
        return Outputs(topic, tag, late_topic=self.late_topic, mark=self.mark)

    def check(self, options: RunOptions) -> None:
        """Refuse (LabError) any option set that this engine does not take."""
        refuse_options(f"the {self.name} engine", self.takes, options)

    def run(self, topic: str, options: RunOptions) -> RunReport:
        """Run on `topic` after checking every option given applies to this engine."""
        self.check(options)
        module = importlib.import_module(f"{__name__}.{self.module}")
        return module.run(topic, options)


ENGINES: dict[str, Engine] = {engine.name: engine for engine in (
    Engine("simple", "a confluent-kafka consumer loop; card windows in a dict", "simple",
           _COMMON | {"group", "partitions", "from_beginning", "until_end", "max_messages",
                      "rebuild", "progress", "stopwatch", "latencies", "guarantee", "instance",
                      "crash_in_batch", "pause_after", "members"}),
    Engine("flink", "a PyFlink DataStream job; card windows in Flink keyed state", "flink",
           _FLINK | {"group"}, flink=True),
    Engine("flink-jvm", "the flink engine with the Avro decoded in the JVM (Flink's "
           "avro-confluent classes); Python runs the checks and the windows", "flink_jvm",
           _FLINK | {"group"}, flink=True),
    Engine("flink-sql", "Flink SQL OVER windows, all in the JVM; dead letters, no Redis",
           "flink_sql", _FLINK, flink=True,
           mark="-sql", late_topic=True, feature_format="json"),
)}


def refuse_options(what: str, takes: frozenset[str], options: RunOptions) -> None:
    """A LabError naming the first option set away from its default that `what` does
    not take, and the engines that do take it."""
    for name in options.changed():
        if name not in takes:
            raise LabError(f"Option {RunOptions.describe(name)} does not apply to {what}.",
                           f"drop it, or use an engine that takes it: "
                           f"{', '.join(takers(name)) or 'none'}.")


def takers(option: str) -> list[str]:
    """The engines that take run option `option` (what `--help` and refusals name)."""
    return [engine.name for engine in ENGINES.values() if option in engine.takes]


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
