"""Chapter 01 reference solutions: the Confluent wire format by hand (notebook 01)."""

from __future__ import annotations

import io
import json
import struct
from datetime import UTC, datetime, timedelta

import fastavro
from confluent_kafka.schema_registry import SchemaRegistryClient
from confluent_kafka.schema_registry.avro import AvroSerializer
from confluent_kafka.serialization import MessageField, SerializationContext

import labkit as lk

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def parse_frame(value: bytes) -> tuple[int, bytes]:
    if len(value) < 5:
        raise ValueError(f"too short for a Confluent frame: {len(value)} byte(s), the header "
                         "alone is 5")
    magic, schema_id = struct.unpack(">bI", value[:5])
    if magic != 0:
        raise ValueError(f"not Confluent-framed: the first byte is 0x{value[0]:02x}, "
                         "the magic byte is 0x00")
    return schema_id, value[5:]


def decode_with_registry(value: bytes, registry: SchemaRegistryClient) -> dict:
    schema_id, body = parse_frame(value)
    writer = fastavro.parse_schema(json.loads(registry.get_schema(schema_id).schema_str))
    record = fastavro.schemaless_reader(io.BytesIO(body), writer)
    record["timestamp"] = (record["timestamp"] - EPOCH) // timedelta(milliseconds=1)
    return record


def produce_with_serializer(topic: str, transactions: list[dict]) -> int:
    serializer = AvroSerializer(lk.clients.registry_client(), lk.schemas.text("transactions.v1"))
    context = SerializationContext(topic, MessageField.VALUE)
    producer = lk.clients.producer()
    acked = []

    def on_delivery(err, _msg) -> None:
        acked.append(err is None)

    for txn in transactions:
        producer.produce(topic, key=txn["card_id"].encode(), value=serializer(txn, context),
                         on_delivery=on_delivery)
    producer.flush(30)
    return sum(acked)
