"""Graders of chapter 01 (exercises/ch01_avro_frames.py): real frames from fresh topics."""

from __future__ import annotations

import json
from types import ModuleType

from fastavro.schema import to_parsing_canonical_form

import labkit as lk
from labkit.check import Wrong, grader
from labkit.topics import Record

SEED = 101  # not the notebook's seed: the exercises see other transactions


def _show(value: bytes) -> str:
    return f"{len(value)} bytes: {value[:8].hex(' ')} …"


def _framed_topic(prefix: str, count: int, *schemas: str) -> list[Record]:
    """A fresh topic holding `count` Confluent-framed transactions per schema, in order."""
    topic = lk.topics.fresh_topic(prefix)
    for index, schema in enumerate(schemas):
        lk.generate.produce(topic, count, seed=SEED + index, fmt="confluent", schema=schema)
    return lk.topics.read_all(topic)


@grader("parse_frame", hint="byte 0 must be 0x00 and bytes 1-4 are the id, big-endian; check "
                             "the length and the magic byte before trusting either.")
def grade_parse_frame(module: ModuleType) -> None:
    records = _framed_topic("ex01-frames", 20, "transactions.v1")
    schema_id = lk.clients.registry_client().get_latest_version(
        f"{records[0].topic}-value").schema_id
    for record, txn in zip(records, lk.generate.transactions(20, seed=SEED), strict=True):
        schema_got, body = module.parse_frame(record.value)
        if schema_got != schema_id:
            raise Wrong(f"the schema id of message @{record.offset} (the registry's id for "
                        "its subject)", expected=schema_id, got=schema_got)
        if body != lk.serde.encode_avro(txn):
            raise Wrong(f"the Avro body of message @{record.offset}",
                        expected=_show(lk.serde.encode_avro(txn)), got=_show(body))
    txn = next(lk.generate.transactions(1, seed=SEED))
    unframed = lk.topics.fresh_topic("ex01-unframed")
    lk.topics.produce(unframed, [(None, lk.serde.encode_avro(txn)),
                                 (None, lk.serde.encode_json(txn))])
    schemaless, as_json = (record.value for record in lk.topics.read_all(unframed))
    for value, what, must_say in [(schemaless, "schemaless Avro", "0x48"),
                                  (as_json, "JSON", "0x7b"),
                                  (b"\x00\x00\x01", "a 3-byte message", "too short"),
                                  (b"", "an empty message", "too short")]:
        try:
            got = module.parse_frame(value)
        except ValueError as err:
            if must_say not in str(err):
                raise Wrong(f"the ValueError for {what}", expected=f"a text with {must_say!r}",
                            got=str(err)) from None
        else:
            raise Wrong(f"parse_frame of {what} ({_show(value)}) should raise ValueError",
                        got=got)


@grader("decode_with_registry", hint="take the id from the frame, ask registry.get_schema(id) "
                                      "for the writer's schema, and turn the timestamp "
                                      "datetime back into epoch milliseconds.")
def grade_decode_with_registry(module: ModuleType) -> None:
    records = _framed_topic("ex01-decode", 15, "transactions.v1", "transactions.v2")
    expected = lk.serde.decode_records(records, lk.serde.ConfluentDecoder())
    registry = lk.clients.registry_client()
    for record, want in zip(records, expected, strict=True):
        got = module.decode_with_registry(record.value, registry)
        if got != want or type(got.get("timestamp")) is not int:
            version = "v2" if "risk_score" in want else "v1"
            raise Wrong(f"message @{record.offset} (written with transactions.{version})",
                        expected=want, got=got)


@grader("produce_with_serializer", hint="AvroSerializer(registry, schema text) frames each "
                                         "record; key by card_id, flush, count the delivery "
                                         "reports without an error.")
def grade_produce_with_serializer(module: ModuleType) -> None:
    topic = lk.topics.fresh_topic("ex01-serializer")
    transactions = list(lk.generate.transactions(30, seed=SEED))
    acked = module.produce_with_serializer(topic, transactions)
    if acked != len(transactions):
        raise Wrong("how many messages the broker acknowledged", expected=len(transactions),
                    got=acked)
    records = lk.topics.read_all(topic)
    if len(records) != len(transactions):
        raise Wrong(f"messages on {topic}", expected=len(transactions), got=len(records))
    if any(record.value[:1] != b"\x00" for record in records):
        raise Wrong("the first bytes of message @0", expected="00 (the magic byte), "
                    "then the schema id", got=_show(records[0].value))
    registered = lk.clients.registry_client().get_latest_version(f"{topic}-value")
    canonical = to_parsing_canonical_form(json.loads(registered.schema.schema_str))
    if canonical != to_parsing_canonical_form(lk.schemas.load("transactions.v1")):
        raise Wrong(f"the schema registered under {topic}-value should be transactions.v1",
                    got=registered.schema.schema_str[:120])
    decoded = lk.serde.decode_records(records, lk.serde.ConfluentDecoder())
    if decoded != transactions:
        raise Wrong("the records read back, in order", expected=transactions[0],
                    got=decoded[0] if decoded[0] != transactions[0] else "a later one differs")
    keys = [record.key for record in records]
    if keys != [txn["card_id"].encode() for txn in transactions]:
        raise Wrong("the message keys (card_id, UTF-8)", expected=transactions[0]["card_id"],
                    got=keys[0])
