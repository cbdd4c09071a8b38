"""Graders of chapter 01 (exercises/ch01_avro_frames.py): real frames from fresh topics."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from types import ModuleType

from fastavro.schema import to_parsing_canonical_form

import labkit as lk
from labkit.check import FailingProducer, Wrong, grader, must_raise, watching
from labkit.topics import Record

SEED = 101  # not the notebook's seed: the exercises see other transactions
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _show(value: bytes) -> str:
    if not value:
        return "0 bytes"
    return f"{len(value)} bytes: {value[:8].hex(' ')}{' …' if len(value) > 8 else ''}"


def _framed_topic(prefix: str, count: int, *schemas: str) -> list[Record]:
    """A fresh topic holding `count` Confluent-framed transactions per schema, in order."""
    topic = lk.topics.fresh_topic(prefix)
    for index, schema in enumerate(schemas):
        lk.generate.produce(topic, count, seed=SEED + index, fmt="confluent", schema=schema)
    return lk.topics.read_all(topic)


BROKEN_FRAMES = [  # (value, what it is, what the ValueError's text must contain)
    (b"", "an empty message", "too short"),
    (b"\x00\x00\x01", "a 3-byte message", "too short"),
    (b"\x00\x00\x00\x01", "a 4-byte message (the header needs 5)", "too short"),
    (b"\x05\x00\x00\x00\x01\x02", "a message whose first byte is 0x05", "0x05"),
]


def _must_refuse(module: ModuleType, value: bytes, what: str, must_say: str) -> None:
    """`module.parse_frame(value)` raises ValueError whose text contains `must_say`."""
    err = must_raise(ValueError, lambda: module.parse_frame(value),
                     f"parse_frame of {what} ({_show(value)})", module)
    if must_say not in str(err):
        raise Wrong(f"the ValueError for {what}", expected=f"a text with {must_say!r}",
                    got=str(err))


@grader("parse_frame", hint="byte 0 must be 0x00 and bytes 1-4 are the id, big-endian; check "
                             "the length (5 bytes at least) and the magic byte before trusting "
                             "either, and write the byte as f\"0x{byte:02x}\".")
def grade_parse_frame(module: ModuleType) -> None:
    for value, what, must_say in BROKEN_FRAMES:
        _must_refuse(module, value, what, must_say)
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
    _must_refuse(module, schemaless, "schemaless Avro", "0x48")
    _must_refuse(module, as_json, "JSON", "0x7b")


def _float_trap(start_ms: int, step: int) -> int:
    """The first timestamp from `start_ms` (by `step`) that `int(dt.timestamp() * 1000)` gets
    a millisecond wrong: the float route is exact for most of today's timestamps."""
    ms = start_ms
    while int((EPOCH + timedelta(milliseconds=ms)).timestamp() * 1000) == ms:
        ms += step
    return ms


def _odd_times_topic(prefix: str) -> list[Record]:
    """Seeded messages of both schema versions, then two whose timestamps only exact
    arithmetic converts: one in 2004, one a second before 1970."""
    topic = _framed_topic(prefix, 15, "transactions.v1", "transactions.v2")[0].topic
    encode = lk.serde.make_encoder("confluent", schema="transactions.v1", topic=topic)
    odd = [{**txn, "timestamp": ms} for txn, ms in zip(
        lk.generate.transactions(2, seed=SEED + 7),
        (_float_trap(1_089_000_000_000, 1), _float_trap(-1, -1)), strict=True)]
    lk.topics.produce(topic, [(txn["card_id"].encode(), encode(txn)) for txn in odd])
    return lk.topics.read_all(topic)


@grader("decode_with_registry", hint="take the id from the frame, ask registry.get_schema(id) "
                                      "for the writer's schema, and turn the timestamp "
                                      "datetime back into epoch milliseconds with integer "
                                      "arithmetic (no float on the way).")
def grade_decode_with_registry(module: ModuleType) -> None:
    records = _odd_times_topic("ex01-decode")
    expected = lk.serde.decode_records(records, lk.serde.ConfluentDecoder())
    registry = lk.clients.registry_client()
    for record, want in zip(records, expected, strict=True):
        got = module.decode_with_registry(record.value, registry)
        if not isinstance(got, dict) or type(got.get("timestamp")) is not int:
            raise Wrong(f"the timestamp of message @{record.offset}", expected="an int (epoch "
                        "milliseconds)", got=type(got.get("timestamp") if isinstance(got, dict)
                                                  else got).__name__)
        if got != want:
            version = "v2" if "risk_score" in want else "v1"
            differ = sorted(name for name in want.keys() | got.keys()
                            if want.get(name, "<none>") != got.get(name, "<none>"))
            raise Wrong(f"message @{record.offset} (written with transactions.{version}), "
                        f"fields {differ}", expected={name: want.get(name) for name in differ},
                        got={name: got.get(name) for name in differ})


LOST = 7  # the grader fails the delivery of the 7th message


def _acknowledged(module: ModuleType, topic: str, transactions: list[dict]) -> int:
    """Run produce_with_serializer with the 7th message's delivery failing."""
    with watching(module, "producer", lambda real, config: FailingProducer(
            real, [], lost=LOST, on_delivery=config.get("on_delivery"))) as made:
        acked = module.produce_with_serializer(topic, transactions)
    if not made:
        raise Wrong("make the producer with lk.clients.producer(), as the docstring asks: the "
                    "grader fails one delivery through it")
    return acked


@grader("produce_with_serializer", hint="AvroSerializer(registry, schema text) frames each "
                                         "record; key by card_id, flush, then count the "
                                         "delivery reports whose error is None.")
def grade_produce_with_serializer(module: ModuleType) -> None:
    topic = lk.topics.fresh_topic("ex01-serializer")
    transactions = list(lk.generate.transactions(30, seed=SEED))
    acked = _acknowledged(module, topic, transactions)
    delivered = transactions[:LOST - 1] + transactions[LOST:]
    if acked != len(delivered):
        raise Wrong(f"how many messages the broker acknowledged (the grader made the delivery "
                    f"of message {LOST} fail: its report has an error)", expected=len(delivered),
                    got=acked)
    records = lk.topics.read_all(topic)
    if len(records) != len(delivered):
        raise Wrong(f"messages on {topic}", expected=len(delivered), got=len(records))
    if any(record.value[:1] != b"\x00" for record in records):
        raise Wrong("the first bytes of message @0", expected="00 (the magic byte), "
                    "then the schema id", got=_show(records[0].value))
    registered = lk.clients.registry_client().get_latest_version(f"{topic}-value")
    canonical = to_parsing_canonical_form(json.loads(registered.schema.schema_str))
    if canonical != to_parsing_canonical_form(lk.schemas.load("transactions.v1")):
        raise Wrong(f"the schema registered under {topic}-value should be transactions.v1",
                    got=registered.schema.schema_str[:120])
    decoded = lk.serde.decode_records(records, lk.serde.ConfluentDecoder())
    if decoded != delivered:
        first = next(i for i, (a, b) in enumerate(zip(decoded, delivered, strict=True)) if a != b)
        raise Wrong(f"the records read back, in order (message @{first})",
                    expected=delivered[first], got=decoded[first])
    keys = [record.key for record in records]
    if keys != [txn["card_id"].encode() for txn in delivered]:
        raise Wrong("the message keys (card_id, UTF-8)", expected=delivered[0]["card_id"],
                    got=keys[0])
