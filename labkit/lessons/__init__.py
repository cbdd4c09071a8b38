"""Teaching helpers: what a chapter shows or breaks on purpose, apart from the pipeline.

Each module names the notebook that teaches it. The pipeline (serde, sinks,
the engines) never imports from here (tests/unit/test_layering.py checks):

    avro_bytes    notebook 01: where each byte of an Avro record comes from, and
                  how a schemaless reader walks (and misreads) a framed message
    redis_types   notebook 02: the naive sink that crashes, and a client that
                  counts its round trips
    encodings     notebook 02: four ways to store a feature value in Redis, side by side

Notebooks call them as `lk.lessons.<module>.<name>`; each module loads on first use.
"""

import importlib
from types import ModuleType

MODULES = ("avro_bytes", "encodings", "redis_types")

__all__ = list(MODULES)


def __getattr__(name: str) -> ModuleType:
    if name in MODULES:
        return importlib.import_module(f".{name}", __name__)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
