"""Plausible wrong answers to chapter 02's exercises: each is the reference solution with one
function replaced, and `exercises/graders/ch02.py` must fail it with `fails_with` in its line."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import redis

import labkit as lk
from labkit.check import wrong_answer

solution = lk.check.load("02", solutions=True)


def _zone(value: datetime) -> str:
    """The reference's "[zone]" suffix: the ZoneInfo's name in brackets, or nothing."""
    return f"[{value.tzinfo.key}]" if isinstance(value.tzinfo, ZoneInfo) else ""


@wrong_answer("encode_datetime", fails_with="the datetime read back from your text")
def offset_only(value: datetime) -> str:
    """Writes isoformat() alone: the offset survives, the zone's name does not."""
    return value.isoformat()


@wrong_answer("encode_datetime", fails_with="the datetime read back from your text")
def converted_to_utc(value: datetime) -> str:
    """Converts to UTC first: the instant survives, the offset and the zone do not."""
    return value.astimezone(UTC).isoformat()


@wrong_answer("encode_datetime", fails_with="the datetime read back from your text")
def milliseconds_only(value: datetime) -> str:
    """Cuts the text at milliseconds, as JavaScript's toISOString does: microseconds lost."""
    return value.isoformat(timespec="milliseconds") + _zone(value)


@wrong_answer("encode_datetime", fails_with="with a 'T'")
def str_of_the_datetime(value: datetime) -> str:
    """Writes str(value): a space between date and time, which java.time does not parse."""
    return f"{value}{_zone(value)}"


@wrong_answer("encode_datetime", fails_with="is no zone name")
def abbreviation_for_the_zone(value: datetime) -> str:
    """Names the zone by its abbreviation (EST, CET): not a zone java.time or ZoneInfo know
    for that place."""
    return value.isoformat() + (f"[{value.tzname()}]" if _zone(value) else "")


@wrong_answer("decode_datetime", fails_with="fold=1")
def wall_time_in_the_zone(raw: bytes) -> datetime:
    """Attaches the zone with .replace(tzinfo=...): the second 01:30 becomes the first."""
    stamp, _, zone = raw.decode().partition("[")
    moment = datetime.fromisoformat(stamp)
    return moment.replace(tzinfo=ZoneInfo(zone.removesuffix("]"))) if zone else moment


@wrong_answer("decode_datetime", fails_with="zone=None")
def zone_ignored(raw: bytes) -> datetime:
    """Parses the offset and drops the [zone]: a fixed offset, not the zone's rules."""
    return datetime.fromisoformat(raw.decode().partition("[")[0])


@wrong_answer("decode_datetime", fails_with="does not match format")
def fixed_format(raw: bytes) -> datetime:
    """Parses with one strptime format: Java's texts without seconds do not match."""
    stamp, _, zone = raw.decode().partition("[")
    moment = datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%S.%f%z")
    return moment.astimezone(ZoneInfo(zone.removesuffix("]"))) if zone else moment


def _pipelined(client: redis.Redis, newest: dict[str, dict], key_prefix: str, *,
               delete: bool = True) -> int:
    """The reference's write: per card DEL (unless not `delete`) and HSET, one MULTI/EXEC."""
    pipe = client.pipeline(transaction=True)
    for card_id, record in newest.items():
        if delete:
            pipe.delete(f"{key_prefix}{card_id}")
        pipe.hset(f"{key_prefix}{card_id}", mapping=lk.sinks.encode_fields(record))
    pipe.execute()
    return len(newest)


@wrong_answer("write_newest", fails_with="the fields that differ")
def first_of_a_tie(client: redis.Redis, records: list[dict], *, key_prefix: str) -> int:
    """Keeps a newer record only if its feature_ts is greater: of a tie, the first arrival."""
    newest: dict[str, dict] = {}
    for record in records:
        kept = newest.get(record["card_id"])
        if kept is None or record["feature_ts"] > kept["feature_ts"]:
            newest[record["card_id"]] = record
    return _pipelined(client, newest, key_prefix)


@wrong_answer("write_newest", fails_with="the fields that differ")
def last_arrival(client: redis.Redis, records: list[dict], *, key_prefix: str) -> int:
    """Keeps each card's last record to arrive: a replayed older record wins."""
    return _pipelined(client, {record["card_id"]: record for record in records}, key_prefix)


@wrong_answer("write_newest", fails_with="field_of_an_older_record")
def hset_without_del(client: redis.Redis, records: list[dict], *, key_prefix: str) -> int:
    """HSETs over the old hash: a field the new record lacks survives."""
    newest = {}
    for record in sorted(records, key=lambda record: record["feature_ts"]):
        newest[record["card_id"]] = record
    return _pipelined(client, newest, key_prefix, delete=False)


@wrong_answer("write_newest", fails_with="round trips to Redis")
def one_round_trip_per_card(client: redis.Redis, records: list[dict], *,
                            key_prefix: str) -> int:
    """Writes each card with its own pipeline: right values, one round trip per card."""
    newest = {}
    for record in sorted(records, key=lambda record: record["feature_ts"]):
        newest[record["card_id"]] = record
    for card_id, record in newest.items():
        _pipelined(client, {card_id: record}, key_prefix)
    return len(newest)


@wrong_answer("write_newest", fails_with="the number of cards written")
def counts_records(client: redis.Redis, records: list[dict], *, key_prefix: str) -> int:
    """Writes correctly, but returns how many records it was given, not how many cards."""
    solution.write_newest(client, records, key_prefix=key_prefix)
    return len(records)
