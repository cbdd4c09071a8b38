"""labkit: the small library behind streaming-lab's notebooks, CLI and tests.

Modules follow the pipeline the lab teaches, in layers; a module imports only
from its own layer or the ones below (tests/unit/test_layering.py checks):

    core        errors, features, processing,     the contract and where keys land,
                partitioning                      pure: no I/O at all
    foundation  settings, polling, instruments,   configuration, waiting, measuring,
                verdicts                          judging repeated measurements
    stack       stack.*                           the embedded servers
    clients     clients, topics, schemas, groups  talking to them
    serde       serde                             bytes <-> records
    data        generate, compat                  synthetic traffic, schema compatibility
    sinks       sinks                             Redis feature writes
    runs        runs                              a run's options, outputs, reconciliation
    engines     engines.*                         simple, flink, flink-sql, one interface
    parity      parity                            do two runs agree?
    tools       bench, conditions, faults,        measuring and what else ran,
                plots, check, event_time,         breaking, drawing, grading,
                cluster, replication, ack_loss,   Flink's event time, shown; the
                changelog                         Kafka cluster and its durability;
                                                  the compacted feature changelog
    lessons     lessons.*                         teaching helpers, each naming its notebook
    cli         cli                               the `labkit` command

Notebooks use it as `import labkit as lk` and call `lk.<module>.<function>`.
Every module loads on first use, so `import labkit.features` (what a Flink
worker needs) loads the pure core and nothing else: no Kafka client, no
pandas, no matplotlib (whose C extension can deadlock inside Flink's JVM).
The data model the notebooks and exercises generate traffic with (`generate`'s
records and messages, `schemas` as files) loads without a Kafka client too.
"""

import importlib
from types import ModuleType

from .errors import LabError

MODULES = ("ack_loss", "bench", "changelog", "check", "clients", "cluster", "compat",
           "conditions", "engines", "errors", "event_time", "faults", "features", "generate",
           "groups", "instruments", "lessons", "parity", "partitioning", "plots", "polling",
           "processing", "replication", "runs", "schemas", "serde", "settings", "sinks", "stack",
           "topics", "verdicts")

__all__ = ["LabError", *MODULES]


def __getattr__(name: str) -> ModuleType:
    if name in MODULES:
        return importlib.import_module(f".{name}", __name__)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__version__ = "0.1.0"
