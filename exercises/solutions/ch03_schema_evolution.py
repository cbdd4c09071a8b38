"""Reference solutions for exercises/ch03_schema_evolution.py (notebook 03)."""

from __future__ import annotations

import copy
import io
from collections.abc import Iterable

from fastavro import parse_schema, schemaless_reader, schemaless_writer
from fastavro.read import SchemaResolutionError

import labkit as lk


def backward_not_forward(old: dict) -> dict:
    """Remove a field that has no default.

    New readers simply skip it in old data (BACKWARD holds); old readers need it in new
    data, and with no default they fail (FORWARD does not).
    """
    new = copy.deepcopy(old)
    required = next(field for field in new["fields"] if "default" not in field)
    new["fields"].remove(required)
    return new


def forward_not_backward(old: dict) -> dict:
    """Add a field without a default.

    Old readers skip it in new data (FORWARD holds); new readers need it in old data,
    which never had it (BACKWARD does not).
    """
    new = copy.deepcopy(old)
    new["fields"].append({"name": "channel", "type": "string"})
    return new


def is_backward_compatible(old: str, new: str) -> bool:
    """Write records with `old`, read them with `new` as the reader: any failure means no.
    300 records, so that the rare enum symbols (currencies) are among them."""
    return _read_back(lk.generate.transactions(300, schema=old), writer=old, reader=new)


def _read_back(records: Iterable[dict], *, writer: str, reader: str) -> bool:
    """Does every record, written with schema `writer`, read with `reader` as the reader?"""
    written_with = parse_schema(lk.schemas.load(writer))
    read_with = parse_schema(lk.schemas.load(reader))
    for record in records:
        buffer = io.BytesIO()
        schemaless_writer(buffer, written_with, record)
        buffer.seek(0)
        try:
            schemaless_reader(buffer, written_with, read_with)
        except SchemaResolutionError:
            return False
    return True
