"""The Avro schemas in schemas/: loading by name, registering, linting, and fitting records.

Schemas live as .avsc files and are always referred to by name
(`transactions.v1` is `schemas/transactions.v1.avsc`), so no code embeds one.
The files ship inside the package (`labkit/avro_schemas/`, which the repository's
`schemas/` links to) and are read through importlib.resources, so an installed
wheel finds them too. Only `register` talks to the Schema Registry, and only it
loads the Kafka client: the generator fits records to a schema without one.
"""

from __future__ import annotations

import io
import json
from functools import cache
from importlib.resources import files
from typing import TYPE_CHECKING, Any

from fastavro import parse_schema, schemaless_reader, schemaless_writer

from .errors import LabError

if TYPE_CHECKING:
    from confluent_kafka.schema_registry import SchemaRegistryClient

__all__ = ["SCHEMA_DIR", "available", "conform", "lint", "load", "parsed", "read_back", "register",
           "text"]

SCHEMA_DIR = files(__package__) / "avro_schemas"
"""The schema folder inside the installed package (an importlib.resources Traversable)."""


def available(record: str = "") -> list[str]:
    """Schema names in schemas/ (those starting with `record`), e.g. ['transactions.v1', ...]."""
    if not SCHEMA_DIR.is_dir():
        return []
    return sorted(entry.name.removesuffix(".avsc") for entry in SCHEMA_DIR.iterdir()
                  if entry.is_file() and entry.name.startswith(record)
                  and entry.name.endswith(".avsc"))


def text(name: str) -> str:
    """The .avsc file's text, as a registry wants it."""
    path = SCHEMA_DIR / f"{name}.avsc"
    if not path.is_file():
        raise LabError(f"There is no schema {name!r} in {SCHEMA_DIR}.",
                       f"use one of: {', '.join(available())}.")
    return path.read_text(encoding="utf-8")


def load(name: str) -> dict:
    """The schema as a JSON object (a fresh copy each call: safe to modify)."""
    return json.loads(text(name))


@cache
def parsed(name: str = "transactions.v1") -> dict:
    """The schema parsed by fastavro (once, then cached)."""
    return parse_schema(load(name))


def register(subject: str, name: str = "transactions.v1",
             registry: SchemaRegistryClient | None = None) -> int:
    """Register a schema file under `subject` and return its id (idempotent).

    A registry that is down or failing (5xx) raises ServiceUnavailable; its other
    answers (409: not compatible) stay SchemaRegistryErrors, for the caller.
    """
    from confluent_kafka.schema_registry import Schema
    from confluent_kafka.schema_registry.error import SchemaRegistryError

    from .clients import REGISTRY_UNREACHABLE, registry_client, registry_unavailable

    registry = registry or registry_client()
    doing = f"registering {name} under {subject!r}"
    try:
        return registry.register_schema(subject, Schema(text(name), "AVRO"))
    except REGISTRY_UNREACHABLE as exc:
        raise registry_unavailable(exc, doing) from exc
    except SchemaRegistryError as exc:
        if exc.http_status_code < 500:
            raise
        raise registry_unavailable(exc, doing) from exc


def lint(schema: dict) -> list[str]:
    """Mistakes Avro itself accepts silently. Today: a logicalType on the field, not its type.

    `{"name": "ts", "type": "long", "logicalType": "timestamp-millis"}` is valid
    Avro, but the logical type is ignored: readers get a plain long.
    """
    problems = []
    for field in schema.get("fields", []):
        if "logicalType" in field:
            problems.append(
                f"field {field['name']!r}: logicalType {field['logicalType']!r} sits on the field, "
                "where Avro ignores it; move it into the type: "
                f'{{"type": {{"type": {json.dumps(field["type"])}, '
                f'"logicalType": "{field["logicalType"]}"}}}}')
        if isinstance(field["type"], dict) and field["type"].get("type") == "record":
            problems.extend(lint(field["type"]))
    return problems


_ZEROS = {"null": None, "boolean": False, "int": 0, "long": 0, "float": 0.0, "double": 0.0,
          "string": "", "bytes": b"", "map": {}, "array": []}


def _zero(avro_type: Any) -> Any:
    """A plain value of a type, for a required field the record lacks."""
    if isinstance(avro_type, list):
        return _zero(avro_type[0])
    if isinstance(avro_type, dict):
        if avro_type["type"] == "enum":
            return avro_type["symbols"][0]
        return _zero(avro_type["type"])
    return _ZEROS[avro_type]


def read_back(record: dict, schema: dict) -> dict:
    """Write `record` with a schema given as JSON and read it back exactly as fastavro returns it.

    No normalisation (serde's decoders turn datetimes into epoch ms): this is
    for seeing what a schema really does to a value.
    """
    parsed_schema = parse_schema(schema)
    buffer = io.BytesIO()
    schemaless_writer(buffer, parsed_schema, record)
    buffer.seek(0)
    return schemaless_reader(buffer, parsed_schema)


def _fit(value: Any, avro_type: Any) -> Any:
    """Adapt one value to a field type when the schemas differ (double -> string, lost enum)."""
    if avro_type == "string" and value is not None and not isinstance(value, str):
        return str(value)
    is_enum = isinstance(avro_type, dict) and avro_type.get("type") == "enum"
    if is_enum and value not in avro_type["symbols"]:
        return avro_type.get("default", avro_type["symbols"][0])
    return value


def conform(record: dict, name: str) -> dict:
    """The record reshaped to schema `name`: fields by name or alias, else defaults, else zeros.

    Lets one generator feed every schema version, including the broken ones.
    """
    shaped = {}
    for field in load(name)["fields"]:
        sources = [field["name"], *field.get("aliases", [])]
        found = next((record[source] for source in sources if source in record), None)
        if found is None and not any(source in record for source in sources):
            found = field["default"] if "default" in field else _zero(field["type"])
        shaped[field["name"]] = _fit(found, field["type"])
    return shaped
