"""Where each byte of an Avro record comes from: the hex-dump pictures of notebook 01.

Notebook 01 finds why the UTF-8 decoder choked on byte 59 (`field_at`), colours
every byte by the field it encodes (`byte_layout`, drawn by `plots.hex_dump`),
and walks a Confluent-framed message with a schemaless reader to see it misread
the header as fields (`read_fields`). The pipeline decodes with `labkit.serde`.
"""

from __future__ import annotations

import io
from typing import Any

from fastavro import parse_schema, schemaless_reader, schemaless_writer
from fastavro.read import SchemaResolutionError

from .. import schemas
from ..errors import LabError
from ..serde import AVRO_READ_ERRORS, HEADER_SIZE, reading_schema

__all__ = ["byte_layout", "field_at", "read_fields"]

Span = tuple[str, str, int, int]  # (field, part, start, end)


def _parts(avro_type: Any, encoded: bytes, value: Any) -> list[tuple[str, int]]:
    """Split one field's encoding into named parts: (part, length in bytes)."""
    if avro_type == "string":
        text = len(value.encode())
        return [("length varint", len(encoded) - text), ("UTF-8 text", text)]
    if isinstance(avro_type, list):  # a union: branch index, then the branch's value
        if value is None:
            return [("union branch", len(encoded))]
        return [("union branch", 1), *_parts("string", encoded[1:], value)]
    kind = avro_type.get("type") if isinstance(avro_type, dict) else avro_type
    names = {"double": "little-endian double", "long": "zig-zag varint", "enum": "enum index",
             "boolean": "boolean", "map": "map blocks"}
    return [(names.get(kind, kind), len(encoded))]


def byte_layout(record: dict, schema: str = "transactions.v1", *,
                schema_id: int | None = None) -> list[Span]:
    """(field, part, start, end) for every byte of the record's encoding, in order.

    An Avro record is just its fields' encodings back to back, so encoding each
    field on its own and adding up the lengths finds every boundary. With
    `schema_id`, the layout is of the Confluent-framed message.
    """
    spans: list[Span] = []
    position = 0
    if schema_id is not None:
        spans = [("header", "magic byte", 0, 1), ("header", "schema id", 1, HEADER_SIZE)]
        position = HEADER_SIZE
    for field in schemas.load(schema)["fields"]:
        out = io.BytesIO()
        schemaless_writer(out, parse_schema(field["type"]), record[field["name"]])
        for part, length in _parts(field["type"], out.getvalue(), record[field["name"]]):
            spans.append((field["name"], part, position, position + length))
            position += length
    return spans


def field_at(record: dict, position: int, schema: str = "transactions.v1", *,
             schema_id: int | None = None) -> tuple[str, str]:
    """Which (field, part) of the record's Avro encoding byte `position` belongs to.

    With `schema_id`, positions count in the Confluent-framed message (header first).
    """
    for field, part, start, end in byte_layout(record, schema, schema_id=schema_id):
        if start <= position < end:
            return field, part
    raise LabError(f"Byte {position} is past the end of the record.", "pick a smaller position.")


def read_fields(value: bytes, schema: str = "transactions.v1") -> list[tuple[str, int, int, Any]]:
    """How a schemaless reader walks `value`: (field, start, end, value read) per field.

    Avro has no markers between fields: each is read where the previous one
    ended. The walk stops after the first field that cannot be read; its
    value is then the exception. Notebook 01 walks a framed message this way.
    """
    buffer = io.BytesIO(value)
    walk: list[tuple[str, int, int, Any]] = []
    for field in schemas.load(schema)["fields"]:
        start = buffer.tell()
        try:
            read = schemaless_reader(buffer, reading_schema(field["type"]), None)
        except (SchemaResolutionError, *AVRO_READ_ERRORS) as exc:  # the failure is the answer
            walk.append((field["name"], start, buffer.tell(), exc))
            break
        walk.append((field["name"], start, buffer.tell(), read))
    return walk
