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

from . import (
    bench,
    clients,
    compat,
    encodings,
    errors,
    faults,
    features,
    generate,
    instruments,
    parity,
    plots,
    processing,
    schemas,
    serde,
    settings,
    sinks,
    stack,
    topics,
)
from .errors import LabError

__all__ = ["LabError", "bench", "clients", "compat", "encodings", "errors", "faults", "features",
           "generate", "instruments", "parity", "plots", "processing", "schemas", "serde",
           "settings", "sinks", "stack", "topics"]
__version__ = "0.1.0"
