"""Chapter 02 reference solutions: lossless Redis encodings and pipelined writes (notebook 02)."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import redis

import labkit as lk


def encode_datetime(value: datetime) -> str:
    if value.utcoffset() is None:
        raise ValueError(f"{value!r} is naive: which instant it means is unknown")
    zone = value.tzinfo.key if isinstance(value.tzinfo, ZoneInfo) else None
    return value.isoformat() + (f"[{zone}]" if zone else "")


def decode_datetime(raw: bytes) -> datetime:
    stamp, _, zone = raw.decode().partition("[")
    moment = datetime.fromisoformat(stamp)  # carries the offset: one instant
    return moment.astimezone(ZoneInfo(zone.removesuffix("]"))) if zone else moment


def write_newest(client: redis.Redis, records: list[dict], *, key_prefix: str) -> int:
    newest: dict[str, dict] = {}
    for record in records:
        kept = newest.get(record["card_id"])
        if kept is None or record["feature_ts"] >= kept["feature_ts"]:
            newest[record["card_id"]] = record
    pipe = client.pipeline(transaction=True)
    for card_id, record in newest.items():
        pipe.delete(f"{key_prefix}{card_id}")
        pipe.hset(f"{key_prefix}{card_id}", mapping=lk.sinks.encode_fields(record))
    pipe.execute()
    return len(newest)
