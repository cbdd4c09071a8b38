"""Chapter 06 exercises: failure recovery (notebooks/06_failure_recovery.ipynb).

Write each function, then grade them against the live stack: `make check CH=06`.
Every read must be bounded: stop at the end offsets you saw when you started.
"""

from __future__ import annotations


def dead_letter_reasons(dlq_topic: str) -> dict[tuple[int, int], str]:
    """Which input messages went to a run's dead-letter topic, and why.

    Input: the dead-letter topic of a run (`lk.runs.Outputs(topic, tag).dlq`).
    Output: {(source partition, source offset): reason}, one entry per dead letter, keyed by
    where the message sat in the *input* topic — not where the dead letter sits in the
    dead-letter topic. Reasons are "oversized", "undecodable", "invalid" or "late".

    The engines write each dead letter with the original key and value, and five headers
    (values UTF-8 encoded): dlq.reason, dlq.error, dlq.topic, dlq.partition, dlq.offset.

    Hint: `lk.clients.consumer()` is a consumer of a group of its own; assign every
    partition from its low watermark (`get_watermark_offsets`) and poll until each reaches
    its high watermark. `msg.headers()` is a list of (name, bytes) pairs.
    """
    raise NotImplementedError("read the dead-letter topic and key each letter by its source")


def replay_start(topic: str, partition: int, committed: int, *, horizon_ms: int) -> int:
    """The first offset a window rebuild has to replay, found with `offsets_for_times`.

    Input: a partition of `topic` whose consumer group has committed `committed` (the next
    offset to process; at least one message was processed), and a horizon in milliseconds.
    Output: the first offset whose record timestamp is at least the timestamp of the last
    processed message (offset `committed - 1`) minus `horizon_ms` (a record exactly that
    old is included); the partition's first offset (its low watermark, not 0: the records
    before it were deleted) if the horizon reaches back past it. Records' timestamps only
    grow here.

    Look the offset up with the broker's time index (`Consumer.offsets_for_times`); do not
    read the partition from the start.

    Hint: assign `TopicPartition(topic, partition, committed - 1)` and poll once for the
    last message's timestamp (`msg.timestamp()[1]`); then ask `offsets_for_times` for
    `TopicPartition(topic, partition, that - horizon_ms)`. Notebook 06, section 1, and
    `_replay_start` in labkit/engines/rebuild.py do this for the simple engine.
    """
    raise NotImplementedError("find the replay start with offsets_for_times")


def guarded_decode(topic: str) -> tuple[int, int]:
    """Decode every message of a hostile topic without ever crashing; count both outcomes.

    Input: a topic of Confluent-framed Avro transactions, mixed with garbage.
    Output: (decoded, dead_lettered) over every partition, from the first offset to the
    end offsets seen at the start. A message counts as decoded when its value starts with
    the magic byte 0 and a 4-byte schema id the registry knows, and the rest is exactly one
    Avro record of that schema (no bytes left over). Everything else counts as
    dead-lettered: None or empty values, wrong magic byte, unknown schema id, truncated or
    random bytes, and a valid frame followed by bytes left over (the grader adds such
    frames). Only decoding counts: a record with an odd amount or key is decoded.

    Hint: `lk.clients.registry_client().get_schema(schema_id)` gives the writer schema
    (`fastavro.parse_schema(json.loads(found.schema_str))`); it raises
    `SchemaRegistryError` for an unknown id. Read with `fastavro.schemaless_reader` from an
    `io.BytesIO` and compare `buffer.tell()` with the body's length. Guard each message,
    not the loop (notebook 06, section 5).
    """
    raise NotImplementedError("decode each message inside a guard and count the outcomes")
