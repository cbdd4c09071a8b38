"""Schema compatibility, answered by Avro itself: encode real records, decode them back.

No rule table: for a (writer, reader) pair, sample records are written with
the writer schema and read with fastavro's schema resolution against the
reader schema. Success, or the exact resolution error, is the verdict. The
samples cover every symbol of every enum, because an enum symbol the reader
lacks fails only on the records that carry it.

Directions, for an `old` schema replaced by a `new` one:
BACKWARD = new readers read old data (writer old, reader new);
FORWARD  = old readers read new data (writer new, reader old); FULL = both.
"""

from __future__ import annotations

import io
import json
from dataclasses import dataclass
from functools import cache
from itertools import product

import pandas as pd
from confluent_kafka.schema_registry import Schema, SchemaRegistryClient
from confluent_kafka.schema_registry.error import SchemaRegistryError
from fastavro import schemaless_reader, schemaless_writer
from fastavro.read import SchemaResolutionError

from . import generate, schemas
from .clients import registry_client
from .serde import AVRO_READ_ERRORS
from .topics import run_id

__all__ = ["MODES", "Resolution", "compatible", "levels_table", "matrix", "registry_accepts",
           "registry_matrix", "resolve", "samples", "try_register"]

MODES = ("BACKWARD", "FORWARD", "FULL")


@dataclass(frozen=True)
class Resolution:
    """What happened when records written with `writer` were read with `reader`."""

    writer: str
    reader: str
    ok: bool
    records: int  # how many were read successfully (all of them when ok)
    error: str = ""  # the first failure, as fastavro reported it


@cache
def samples(name: str, *, count: int = 200) -> tuple[dict, ...]:
    """Generated records for schema `name`, plus one record per symbol of each enum field."""
    records = list(generate.transactions(count, schema=name))
    for field in schemas.load(name)["fields"]:
        if isinstance(field["type"], dict) and field["type"]["type"] == "enum":
            records += [{**records[0], field["name"]: symbol}
                        for symbol in field["type"]["symbols"]]
    return tuple(records)


@cache
def resolve(writer: str, reader: str) -> Resolution:
    """Write every sample of `writer` and read it back with `reader`; stop at the first error."""
    writer_schema, reader_schema = schemas.parsed(writer), schemas.parsed(reader)
    records = samples(writer)
    for done, record in enumerate(records):
        buffer = io.BytesIO()
        schemaless_writer(buffer, writer_schema, record)
        buffer.seek(0)
        try:
            schemaless_reader(buffer, writer_schema, reader_schema)
        except (SchemaResolutionError, *AVRO_READ_ERRORS) as exc:  # the error *is* the answer
            return Resolution(writer, reader, False, done, f"{type(exc).__name__}: {exc}")
    return Resolution(writer, reader, True, len(records))


def compatible(old: str, new: str, mode: str) -> bool:
    """Is replacing `old` by `new` allowed under `mode`, judged by decoding?"""
    backward = resolve(writer=old, reader=new).ok
    forward = resolve(writer=new, reader=old).ok
    return {"BACKWARD": backward, "FORWARD": forward, "FULL": backward and forward}[mode]


def matrix(names: list[str]) -> pd.DataFrame:
    """Every (old, new) pair x mode: labkit's verdict from decoding."""
    rows = [{"old": old, "new": new, "mode": mode, "decodes": compatible(old, new, mode)}
            for mode, old, new in product(MODES, names, names) if old != new]
    return pd.DataFrame(rows)


def registry_matrix(names: list[str], registry: SchemaRegistryClient | None = None
                    ) -> pd.DataFrame:
    """The registry's verdict for the same pairs: register `old`, ask about `new`."""
    registry = registry or registry_client()
    prefix = f"compat-{run_id()}"
    rows = []
    for mode, old in product(MODES, names):
        subject = f"{prefix}-{old}-{mode}"
        registry.register_schema(subject, _schema(old))
        registry.set_compatibility(subject_name=subject, level=mode)
        for new in names:
            if new != old:
                verdict = registry_accepts(subject, new, registry)
                rows.append({"old": old, "new": new, "mode": mode, "registry": verdict})
    return pd.DataFrame(rows)


def _schema(schema: str | dict) -> Schema:
    """A registry Schema from a schema file name or a schema given as JSON."""
    return Schema(schemas.text(schema) if isinstance(schema, str) else json.dumps(schema), "AVRO")


def registry_accepts(subject: str, schema: str | dict,
                     registry: SchemaRegistryClient | None = None) -> bool:
    """The registry's compatibility endpoint: may `schema` be the next version of `subject`?"""
    return (registry or registry_client()).test_compatibility(subject, _schema(schema))


def try_register(subject: str, names: list[str],
                 registry: SchemaRegistryClient | None = None) -> pd.DataFrame:
    """Register each schema under `subject`; one row each with the HTTP status and message."""
    registry = registry or registry_client()
    rows = []
    for name in names:
        try:
            registry.register_schema(subject, _schema(name))
            rows.append({"schema": name, "http": 200, "registry says": "registered"})
        except SchemaRegistryError as exc:
            # Apicurio prefixes the reason with its Java exception class.
            reason = exc.error_message.split("Exception: ", 1)[-1]
            rows.append({"schema": name, "http": exc.http_status_code, "registry says": reason})
    return pd.DataFrame(rows).set_index("schema")


def levels_table(subject: str, names: list[str], *,
                 levels: tuple[str, ...] = ("BACKWARD", "FORWARD", "FULL", "NONE"),
                 registry: SchemaRegistryClient | None = None) -> pd.DataFrame:
    """Would each schema be accepted as the next version under each compatibility level?

    Sets the subject's level in turn, asks, and puts the original level back.
    """
    registry = registry or registry_client()
    original = registry.get_compatibility(subject_name=subject)
    table = {}
    try:
        for level in levels:
            registry.set_compatibility(subject_name=subject, level=level)
            table[level] = {name: registry_accepts(subject, name, registry) for name in names}
    finally:
        registry.set_compatibility(subject_name=subject, level=original)
    return pd.DataFrame(table).rename_axis("next version")
