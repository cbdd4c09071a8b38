"""labkit: the small library behind streaming-lab's notebooks, CLI and tests.

Modules follow the pipeline the lab teaches: `settings` (endpoints, versions),
`stack` (the embedded servers), `clients` and `topics` (talking to them), then
`schemas` (files, lint) and `compat` (compatibility by decoding), then
`generate` -> `serde` -> `sinks` (with `encodings`, the comparison behind the
sink's choice), `features` (the per-card contract) -> `processing` (one message
through the pipeline) -> `engines` (simple and Flink adapters) -> `parity`,
`instruments` and `bench` (measuring them), `faults` (breaking them on
purpose), and `plots` for the pictures. `labkit.engines` is imported on its own: the Flink
engine loads PyFlink only when it runs.

Notebooks use it as `import labkit as lk` and call `lk.<module>.<function>`.
"""

import importlib
from types import ModuleType

from . import (
    clients,
    errors,
    features,
    generate,
    processing,
    schemas,
    serde,
    settings,
    sinks,
    stack,
    topics,
)
from .errors import LabError

# Modules that pull in pandas, numpy or matplotlib load on first use (`lk.plots`): every
# PyFlink job's Python worker imports labkit, and matplotlib must not load inside Flink's
# JVM (its C extension can deadlock there in thread mode), nor slow down a job's start.
LAZY = ("bench", "compat", "encodings", "faults", "instruments", "parity", "plots")

__all__ = ["LabError", "bench", "clients", "compat", "encodings", "errors", "faults", "features",
           "generate", "instruments", "parity", "plots", "processing", "schemas", "serde",
           "settings", "sinks", "stack", "topics"]


def __getattr__(name: str) -> ModuleType:
    if name in LAZY:
        return importlib.import_module(f".{name}", __name__)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__version__ = "0.1.0"
