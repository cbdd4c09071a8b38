"""Chapter 01 exercises: the Confluent wire format by hand (notebook 01).

Write each function, then grade them against the live stack:

    make check CH=01

Each grader produces its own messages to a fresh topic and compares what your
function returns with what the registry and labkit say.
"""

from __future__ import annotations

from confluent_kafka.schema_registry import SchemaRegistryClient


def parse_frame(value: bytes) -> tuple[int, bytes]:
    """Take a Confluent-framed message apart: return (schema id, Avro body).

    The frame is one magic byte 0x00, then the schema id as a 4-byte big-endian
    unsigned int, then the Avro body written with that schema.

    A message that is not framed raises ValueError, and its message says what is wrong:
    - shorter than the 5-byte header (4 bytes are too short too): the text contains
      "too short";
    - first byte not 0x00: the text names that byte in two-digit hex, e.g. "0x48"
      (schemaless Avro of a transaction starts with 0x48, the length of its txn_id), or
      "0x05" for a 5 (`hex(5)` is "0x5": not two digits).
    Any other exception (an IndexError, a struct.error) is wrong: check the length before
    you index or unpack.

    Hint: `int.from_bytes(value[1:5], "big")`, or `struct.unpack(">bI", value[:5])`.
    """
    raise NotImplementedError("parse_frame: split off the magic byte and the schema id")


def decode_with_registry(value: bytes, registry: SchemaRegistryClient) -> dict:
    """Decode one Confluent-framed Avro message with only the registry client and fastavro.

    Look up the schema that *wrote* the message by the id in its frame
    (`registry.get_schema(schema_id).schema_str`, a JSON string), and read the body
    with `fastavro.schemaless_reader`. The grader mixes messages written with two
    schema versions on one topic, so a schema fixed in advance will not do.

    Return the record as the lab's generator makes it: `timestamp` as epoch
    milliseconds (an int). fastavro returns a `timestamp-millis` field as a
    timezone-aware `datetime`; convert it back.

    The conversion must be exact for every timestamp: the grader's topic also holds a
    transaction from 2004 and one from a second before 1970, where the float route
    `int(dt.timestamp() * 1000)` lands a millisecond off.

    Hint: `(dt - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(milliseconds=1)`
    is exact: integer arithmetic on a timedelta, no float on the way.
    """
    raise NotImplementedError("decode_with_registry: look the writer schema up by id")


def produce_with_serializer(topic: str, transactions: list[dict]) -> int:
    """Produce `transactions` to `topic` with confluent-kafka's AvroSerializer.

    Use the schema `transactions.v1` (its text: `labkit.schemas.text("transactions.v1")`),
    the lab's registry (`labkit.clients.registry_client()`) and a producer
    (`labkit.clients.producer()`). Key every message by its `card_id` (UTF-8), keep
    the list's order, and return how many messages the broker acknowledged
    (count the delivery reports without an error). The grader makes one delivery fail
    (its report carries an error, as when the broker never answers): that one does not
    count, so neither `len(transactions)` nor the number of reports is the answer.

    Hint: `AvroSerializer(registry, schema_text)` is called as
    `serializer(record, SerializationContext(topic, MessageField.VALUE))`;
    `producer.flush()` waits for every delivery report.
    """
    raise NotImplementedError("produce_with_serializer: serialize with AvroSerializer")
