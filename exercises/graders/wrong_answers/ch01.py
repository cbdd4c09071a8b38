"""Plausible wrong answers to chapter 01's exercises: each is the reference solution with one
function replaced, and `exercises/graders/ch01.py` must fail it with `fails_with` in its line."""

from __future__ import annotations

import io
import json
import struct
from datetime import timedelta

import fastavro
from confluent_kafka import Producer
from confluent_kafka.schema_registry import SchemaRegistryClient
from confluent_kafka.schema_registry.avro import AvroSerializer
from confluent_kafka.serialization import MessageField, SerializationContext

import labkit as lk
from labkit.check import wrong_answer

solution = lk.check.load("01", solutions=True)


def _parse(value: bytes, *, shortest: int = 5, byte_name=lambda byte: f"0x{byte:02x}",
           magic: bool = True) -> tuple[int, bytes]:
    """The reference's parse_frame, with the length bound, how the first byte is named and
    whether the magic byte is checked at all replaceable."""
    if len(value) < shortest:
        raise ValueError("too short for a Confluent frame")
    if magic and value[0] != 0:
        raise ValueError(f"not Confluent-framed: the first byte is {byte_name(value[0])}")
    return int.from_bytes(value[1:5], "big"), value[5:]


@wrong_answer("parse_frame", fails_with="a 4-byte message")
def length_off_by_one(value: bytes) -> tuple[int, bytes]:
    """Checks `len(value) < 4`: a 4-byte message slips through with a 3-byte schema id."""
    return _parse(value, shortest=4)


@wrong_answer("parse_frame", fails_with="'0x05'")
def magic_byte_as_hex(value: bytes) -> tuple[int, bytes]:
    """Names the byte with `hex(value[0])`: 0x5, not the two-digit 0x05 the docstring asks."""
    return _parse(value, byte_name=hex)


@wrong_answer("parse_frame", fails_with="should raise ValueError")
def no_magic_check(value: bytes) -> tuple[int, bytes]:
    """Trusts the magic byte: schemaless Avro or JSON is taken for a frame."""
    return _parse(value, magic=False)


@wrong_answer("parse_frame", fails_with="raised struct.error")
def no_length_check(value: bytes) -> tuple[int, bytes]:
    """Unpacks the header without checking the length: struct.error, not ValueError."""
    magic, schema_id = struct.unpack(">bI", value[:5])
    if magic != 0:
        raise ValueError(f"not Confluent-framed: the first byte is 0x{value[0]:02x}")
    return schema_id, value[5:]


@wrong_answer("parse_frame", fails_with="the schema id of message")
def little_endian_id(value: bytes) -> tuple[int, bytes]:
    """Reads the schema id little-endian."""
    schema_id, body = solution.parse_frame(value)
    return int.from_bytes(schema_id.to_bytes(4, "big"), "little"), body


def _fastavro_record(value: bytes, writer: dict) -> dict:
    """The frame's body read with `writer`, as fastavro returns it (timestamp a datetime)."""
    return fastavro.schemaless_reader(io.BytesIO(solution.parse_frame(value)[1]), writer)


def _writer(value: bytes, registry: SchemaRegistryClient) -> dict:
    """The schema that wrote `value`, from the registry by the id in its frame."""
    found = registry.get_schema(solution.parse_frame(value)[0])
    return fastavro.parse_schema(json.loads(found.schema_str))


@wrong_answer("decode_with_registry", fails_with="written with transactions.v2")
def one_fixed_schema(value: bytes, registry: SchemaRegistryClient) -> dict:
    """Reads every body with transactions.v1, whichever schema wrote it."""
    record = _fastavro_record(value, fastavro.parse_schema(lk.schemas.load("transactions.v1")))
    record["timestamp"] = (record["timestamp"] - solution.EPOCH) // timedelta(milliseconds=1)
    return record


@wrong_answer("decode_with_registry", fails_with="fields ['timestamp']")
def timestamp_through_a_float(value: bytes, registry: SchemaRegistryClient) -> dict:
    """Converts the timestamp with `int(dt.timestamp() * 1000)`: a float, truncated."""
    record = _fastavro_record(value, _writer(value, registry))
    record["timestamp"] = int(record["timestamp"].timestamp() * 1000)
    return record


@wrong_answer("decode_with_registry", fails_with="expected 'an int (epoch milliseconds)'")
def timestamp_left_a_datetime(value: bytes, registry: SchemaRegistryClient) -> dict:
    """Returns fastavro's record as it is: the timestamp stays a datetime."""
    return _fastavro_record(value, _writer(value, registry))


def _serializer(topic: str):
    """The reference's AvroSerializer for `topic`'s values, as a function of one record."""
    serializer = AvroSerializer(lk.clients.registry_client(), lk.schemas.text("transactions.v1"))
    context = SerializationContext(topic, MessageField.VALUE)
    return lambda txn: serializer(txn, context)


def _send(topic: str, transactions: list[dict], *, key: str = "card_id",
          on_delivery=None) -> Producer:
    """Each transaction produced as the reference does (unless keyed by another field);
    returns the producer, not flushed."""
    serialize, producer = _serializer(topic), lk.clients.producer()
    for txn in transactions:
        producer.produce(topic, key=txn[key].encode(), value=serialize(txn),
                         on_delivery=on_delivery)
    return producer


@wrong_answer("produce_with_serializer", fails_with="how many messages the broker acknowledged")
def counts_what_it_sent(topic: str, transactions: list[dict]) -> int:
    """Flushes, then returns len(transactions): the delivery reports are never read."""
    _send(topic, transactions).flush(30)
    return len(transactions)


@wrong_answer("produce_with_serializer", fails_with="how many messages the broker acknowledged")
def counts_every_report(topic: str, transactions: list[dict]) -> int:
    """Counts every delivery report, the ones with an error too."""
    reports = []
    _send(topic, transactions, on_delivery=lambda _err, msg: reports.append(msg)).flush(30)
    return len(reports)


@wrong_answer("produce_with_serializer", fails_with="how many messages the broker acknowledged")
def counts_before_flush(topic: str, transactions: list[dict]) -> int:
    """Counts the reports before flush(): produce() only queues, so none has arrived yet."""
    acked = []
    producer = _send(topic, transactions, on_delivery=lambda err, _: acked.append(err is None))
    count = sum(acked)
    producer.flush(30)
    return count


@wrong_answer("produce_with_serializer", fails_with="the message keys")
def keyed_by_txn_id(topic: str, transactions: list[dict]) -> int:
    """Keys each message by its txn_id, not its card_id."""
    acked = []
    _send(topic, transactions, key="txn_id",
          on_delivery=lambda err, _msg: acked.append(err is None)).flush(30)
    return sum(acked)
