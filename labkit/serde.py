"""Transactions to bytes and back: JSON, schemaless Avro, and the Confluent wire format.

Kafka stores bytes and never says how they were written. A consumer must
decode with the producer's format, and with Avro also the producer's schema.
Every decoder here either returns a record shaped like the generator's (with
`timestamp` in epoch milliseconds) or raises `DecodeError`, which names the
reason, shows the first bytes, and says where the message came from. The
Confluent decoder may also raise `ServiceUnavailable`: the registry did not
answer, so the message may well be fine and must be retried, not dead-lettered.
"""

from __future__ import annotations

import io
import json
import re
from collections.abc import Callable, Iterable
from functools import cache, partial
from typing import Any

from confluent_kafka.schema_registry import SchemaRegistryClient
from confluent_kafka.schema_registry.error import SchemaRegistryError
from fastavro import parse_schema, schemaless_reader, schemaless_writer
from fastavro.read import SchemaResolutionError

from . import schemas
from .clients import REGISTRY_UNREACHABLE, registry_client, registry_unavailable
from .errors import DecodeError, LabError
from .topics import Record

__all__ = [
    "FORMATS",
    "ConfluentDecoder",
    "DecodeError",
    "confluent_encoder",
    "decode_avro",
    "decode_json",
    "decode_json_naive",
    "decode_records",
    "encode_avro",
    "encode_confluent",
    "encode_json",
    "make_decoder",
    "make_encoder",
]

SCHEMA_NOT_FOUND = 40403  # the registry's error code for an unknown schema id
MAGIC_BYTE = 0  # first byte of every Confluent-framed message; then a 4-byte schema id
HEADER_SIZE = 5


# -- JSON --------------------------------------------------------------------

def encode_json(record: dict) -> bytes:
    """UTF-8 JSON, the format the naive consumer expects."""
    return json.dumps(record, separators=(",", ":")).encode()


def decode_json_naive(value: bytes) -> dict:
    """THE BUG of notebook 01, kept on purpose: assume every message is UTF-8 JSON.

    Fed Avro bytes it fails with a bare UnicodeDecodeError, exactly as the
    production consumer did. Use `decode_json` (or the right decoder) instead. It
    stays here, not in `labkit.lessons`, as `make_decoder`'s `json-naive` format:
    `labkit consume --format json-naive` reproduces problem 01 with it.
    """
    return json.loads(value.decode("utf-8"))


def decode_json(value: bytes) -> dict:
    """UTF-8 JSON to a record, or a DecodeError that says what the bytes look like."""
    try:
        return json.loads(value.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise DecodeError(f"not UTF-8 JSON ({exc})", value, _guess_format(value)) from None


def _guess_format(value: bytes) -> str:
    """A fix suggestion from what the bytes look like."""
    if not value:
        return "an empty value is a tombstone or a producer bug; skip it or dead-letter it."
    if value[0] == MAGIC_BYTE and len(value) >= HEADER_SIZE:
        return "it starts with 0x00: probably Confluent wire format, use ConfluentDecoder."
    if value[:1] == b"{":
        return "it starts with '{': probably JSON, use decode_json."
    return "the producer probably writes schemaless Avro: use decode_avro with its schema."


# -- schemaless Avro -----------------------------------------------------------

def encode_avro(record: dict, schema: str = "transactions.v1") -> bytes:
    """Avro binary without any header: the reader must know the schema out of band."""
    out = io.BytesIO()
    schemaless_writer(out, schemas.parsed(schema), record)
    return out.getvalue()


def _plain(avro_type: Any) -> Any:
    """The schema without logical types, which change how values are returned, never the bytes.

    Records use epoch milliseconds; with `timestamp-millis` fastavro would build a
    datetime per message that the lab would only turn back into an int.
    """
    if isinstance(avro_type, list):
        return [_plain(branch) for branch in avro_type]
    if not isinstance(avro_type, dict):
        return avro_type
    return {key: _plain(value) for key, value in avro_type.items() if key != "logicalType"}


def reading_schema(schema: Any) -> Any:
    """A schema (as JSON: a record's, or one field's type) parsed for decoding into lab
    records: timestamps stay epoch ms."""
    return parse_schema(_plain(schema))


@cache
def _named_reading_schema(name: str) -> dict:
    return reading_schema(schemas.load(name))


def decode_avro(value: bytes, schema: str = "transactions.v1", *,
                reader: str | None = None) -> dict:
    """Schemaless Avro bytes, written with `schema`, to a record.

    With `reader`, Avro's schema resolution reshapes the record to that schema
    (defaults for fields the writer lacked, writer-only fields dropped).
    """
    return _read_avro(value, _named_reading_schema(schema),
                      reader and _named_reading_schema(reader), fix=(
        "check the producer writes schemaless Avro with this schema; if the bytes start "
        "with 0x00 and an id, use ConfluentDecoder."))


# What fastavro's schemaless_reader (its C reader, fastavro 1.13) raises for bytes that are not
# a record of the schema, found by fuzzing it: 1.2 million random, truncated, bit-flipped,
# spliced and varint-bombed encodings of generated transactions, nine seeds, read as
# _read_avro reads them (logical types stripped) with transactions.v1, v2, v1 -> v2,
# v2 -> v1 and every other schema in schemas/. EOFError: the bytes end too soon; IndexError:
# an enum or union index out of range, or a varint cut short; UnicodeDecodeError: a string
# that is not UTF-8. (SchemaResolutionError is caught on its own; OverflowError comes only
# from timestamp-millis, which reading_schema strips.) Anything else is a bug, not a bad
# message: it propagates instead of dead-lettering every message.
# tests/unit/test_errors_serde.py keeps fuzzing the set.
AVRO_READ_ERRORS = (EOFError, IndexError, UnicodeDecodeError)


def _read_avro(body: bytes, writer_schema: dict, reader_schema: dict | None = None, *,
               fix: str, raw: bytes | None = None) -> dict:
    """Read one record that must fill `body` exactly; `raw` is the whole message, for errors."""
    raw = body if raw is None else raw
    if not body:
        raise DecodeError("empty Avro body", raw, fix)
    buffer = io.BytesIO(body)
    try:
        record = schemaless_reader(buffer, writer_schema, reader_schema)
    except SchemaResolutionError as exc:
        raise DecodeError(f"the writer's schema does not resolve to the reader's ({exc})", raw,
                          "evolve the reader schema (defaults for new fields, an enum default) "
                          "or upgrade the consumer's schema first: see notebook 03.") from None
    except AVRO_READ_ERRORS as exc:
        # Some fastavro messages embed a repr with a memory address; keep errors reproducible.
        detail = re.sub(r"<[^<>]* at 0x[0-9a-f]+>", "the buffer", str(exc))
        raise DecodeError(f"not Avro for this schema ({type(exc).__name__}: {detail})", raw,
                          fix) from None
    if buffer.tell() != len(body):
        raise DecodeError(f"{len(body) - buffer.tell()} byte(s) left over after the record: "
                          "the writer used another schema or a header", raw, fix)
    return record


# -- Confluent wire format -------------------------------------------------------

def encode_confluent(record: dict, schema_id: int, schema: str = "transactions.v1") -> bytes:
    """Magic byte 0, the schema id as 4 big-endian bytes, then the Avro body."""
    return bytes([MAGIC_BYTE]) + schema_id.to_bytes(4, "big") + encode_avro(record, schema)


def confluent_encoder(schema_id: int, schema: str = "transactions.v1"
                      ) -> Callable[[dict], bytes]:
    """record -> the bytes `encode_confluent` gives, written into one buffer reused for
    every record: what the engines encode with (a new buffer and a concatenation per
    record cost about a tenth of the encoding)."""
    parsed = schemas.parsed(schema)
    header = bytes([MAGIC_BYTE]) + schema_id.to_bytes(4, "big")
    out = io.BytesIO()

    def encode(record: dict) -> bytes:
        out.seek(0)
        out.truncate()
        out.write(header)
        schemaless_writer(out, parsed, record)
        return out.getvalue()

    return encode


class ConfluentDecoder:
    """Decode Confluent-framed Avro, looking up each writer schema by id once.

    The id in the header says which schema *wrote* the message, so messages
    written with different schema versions decode correctly side by side.
    With `reader`, every message is resolved to that one schema as well.
    """

    def __init__(self, registry: SchemaRegistryClient | None = None, *,
                 reader: str | None = None) -> None:
        self.registry = registry or registry_client()
        self.reader_schema = reader and _named_reading_schema(reader)
        self._schemas: dict[int, dict] = {}
        # Ids the registry does not know, remembered too: a flood of messages with a bogus
        # id must not become one registry request per message.
        self._missing: dict[int, str] = {}

    def writer_schema(self, schema_id: int, value: bytes = b"") -> dict:
        """The (reading) schema that wrote `value`, by its id, from the registry once.

        An id the registry does not know is a DecodeError (final for the message); a
        registry that does not answer, or fails, is ServiceUnavailable: the message
        may be fine, so it must be retried, not dead-lettered.
        """
        if schema_id in self._missing:
            raise self._unknown(schema_id, value)
        if schema_id not in self._schemas:
            doing = f"looking up schema id {schema_id}"
            try:
                found = self.registry.get_schema(schema_id)
            except REGISTRY_UNREACHABLE as exc:
                raise registry_unavailable(exc, doing) from exc
            except SchemaRegistryError as exc:
                # Only "schema not found" (40403) is about the message. Any other error, even
                # a 404 from a LAB_REGISTRY with the wrong path, is the registry's trouble.
                if (exc.http_status_code, exc.error_code) != (404, SCHEMA_NOT_FOUND):
                    raise registry_unavailable(exc, doing) from exc
                self._missing[schema_id] = exc.error_message
                raise self._unknown(schema_id, value) from None
            self._schemas[schema_id] = reading_schema(json.loads(found.schema_str))
        return self._schemas[schema_id]

    def _unknown(self, schema_id: int, value: bytes) -> DecodeError:
        return DecodeError(
            f"schema id {schema_id} is not in the registry ({self._missing[schema_id]})", value,
            "the message was written against another registry, or the registry was "
            "reset (`labkit stack reset`) after it was produced; re-produce it.")

    def __call__(self, value: bytes) -> dict:
        if len(value) < HEADER_SIZE:
            raise DecodeError(f"{len(value)} byte(s) is shorter than the 5-byte Confluent header",
                              value, "the message is truncated or not Confluent-framed.")
        if value[0] != MAGIC_BYTE:
            raise DecodeError(f"first byte is 0x{value[0]:02x}, not the magic byte 0x00", value,
                              _guess_format(value))
        schema_id = int.from_bytes(value[1:HEADER_SIZE], "big")
        return _read_avro(value[HEADER_SIZE:], self.writer_schema(schema_id, value),
                          self.reader_schema,
                          fix=f"the body does not match writer schema id {schema_id}.", raw=value)


# -- choosing by name (CLI, generator, tests) --------------------------------------

FORMATS = ("json", "avro", "confluent")


def make_encoder(fmt: str, *, schema: str = "transactions.v1",
                 topic: str = "") -> Callable[[dict], bytes]:
    """record -> bytes for a format; `confluent` registers `schema` under `<topic>-value`."""
    if fmt == "json":
        return encode_json
    if fmt == "avro":
        return partial(encode_avro, schema=schema)
    if fmt == "confluent":
        return confluent_encoder(schemas.register(f"{topic}-value", schema), schema)
    raise LabError(f"Unknown format {fmt!r}.", f"use one of: {', '.join(FORMATS)}.")


def make_decoder(fmt: str, *, schema: str = "transactions.v1",
                 reader: str | None = None) -> Callable[[bytes], dict]:
    """bytes -> record for a format (`json-naive` is the bug, for reproducing it).

    `schema` is the writer schema for schemaless Avro; `reader`, if given, the
    schema Avro resolves every record to (avro and confluent).
    """
    decoders: dict[str, Callable[[], Callable[[bytes], dict]]] = {
        "json-naive": lambda: decode_json_naive,
        "json": lambda: decode_json,
        "avro": lambda: partial(decode_avro, schema=schema, reader=reader),
        "confluent": lambda: ConfluentDecoder(reader=reader),
    }
    if fmt not in decoders:
        raise LabError(f"Unknown format {fmt!r}.", f"use one of: {', '.join(decoders)}.")
    return decoders[fmt]()


def decode_records(records: Iterable[Record], decode: Callable[[bytes], dict]) -> list[dict]:
    """Decode Kafka records in order; a DecodeError says which topic/partition/offset failed."""
    decoded = []
    for record in records:
        try:
            decoded.append(decode(record.value or b""))
        except DecodeError as exc:
            raise exc.at(record.topic, record.partition, record.offset) from None
    return decoded
