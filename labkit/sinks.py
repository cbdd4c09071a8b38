"""Feature records into Redis hashes, and back, without losing a type.

Redis stores every hash field as bytes. A feature record holds bools, None,
ints, floats and strings, so the writer must choose an encoding. The naive
writer (the bug of notebook 02, `lessons.redis_types.write_features_naive`)
hands Python values straight to redis-py, which refuses bool and None. The
lab's fix stores each field as JSON: `true`, `null`, `42`, `0.1`, `"GB"` —
self-describing, exact for every feature type, and still readable in
`redis-cli`.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable

import redis as redis_py

from .clients import REDIS_UNREACHABLE, redis_client, redis_unavailable
from .errors import LabError

__all__ = ["RedisFeatureSink", "decode_field", "encode_field"]

FeatureValue = bool | int | float | str | None


# Every card of a batch in one call (one command to pack and parse, one reply, instead of
# one per card). KEYS: the cards' hashes. ARGV, per key in turn: its new feature_ts, the
# number n of field and value strings that follow, then those n strings.
# A card's hash is replaced only if the stored feature_ts is not newer.
WRITE_IF_NEWER = """
local at, written = 1, 0
for _, key in ipairs(KEYS) do
  local n = tonumber(ARGV[at + 1])
  local stored = redis.call('HGET', key, 'feature_ts')
  if not (stored and tonumber(stored) > tonumber(ARGV[at])) then
    redis.call('DEL', key)
    redis.call('HSET', key, unpack(ARGV, at + 2, at + 1 + n))
    written = written + 1
  end
  at = at + 2 + n
end
return written
"""


def _float_text(value: float) -> str:
    # repr is what json.dumps writes for a finite float; json spells the others NaN/Infinity.
    return repr(value) if math.isfinite(value) else json.dumps(value)


# The same text json.dumps writes, without its per-call overhead (a record has 19 fields
# and the engines write thousands of records a second).
_TEXT = {
    bool: lambda value: "true" if value else "false",
    int: str,
    float: _float_text,
    str: json.dumps,
    type(None): lambda _value: "null",
}


def encode_field(name: str, value: FeatureValue) -> str:
    """One feature value as JSON text."""
    to_text = _TEXT.get(type(value)) or next(
        (text for kind, text in _TEXT.items() if isinstance(value, kind)), None)  # numpy.float64
    if to_text is None:
        raise LabError(
            f"Feature {name!r} holds a {type(value).__name__} ({value!r}), which has no "
            "lossless Redis encoding here.",
            "compute features as bool, int, float, str or None (timestamps as epoch ms).",
        )
    return to_text(value)


def encode_fields(features: dict[str, FeatureValue]) -> dict[str, str]:
    """A whole feature record as Redis hash fields."""
    return {name: encode_field(name, value) for name, value in features.items()}


def decode_field(raw: bytes) -> FeatureValue:
    """The value `encode_field` wrote."""
    return json.loads(raw)


class RedisFeatureSink:
    """Writes one hash per card, `<key_prefix><card_id>`, each field JSON-encoded.

    Every write replaces the card's whole record (DEL + HSET, atomically), so a
    reader never sees half of an update or a field left over from an older one.
    `write_many` sends `batch_size` cards per round trip (a pipeline);
    `write_latest` (what the engines use) sends every card of a call in one
    script call.
    """

    def __init__(self, client: redis_py.Redis | None = None, *,
                 key_prefix: str = "features:", batch_size: int = 500) -> None:
        self.client = client or redis_client(hiredis=True)
        self.key_prefix = key_prefix
        self.batch_size = batch_size
        self._write_if_newer = self.client.register_script(WRITE_IF_NEWER)

    def key(self, card_id: str) -> str:
        return f"{self.key_prefix}{card_id}"

    def write(self, card_id: str, features: dict[str, FeatureValue]) -> None:
        self.write_many([(card_id, features)])

    def write_many(self, items: Iterable[tuple[str, dict[str, FeatureValue]]]) -> int:
        """Write (card_id, features) pairs; return how many records were written."""
        written = 0
        pipe = self.client.pipeline(transaction=True)
        for card_id, features in items:
            key = self.key(card_id)
            pipe.delete(key)
            if features:  # Redis has no empty hash: an empty record is a missing key
                pipe.hset(key, mapping=encode_fields(features))
            written += 1
            if written % self.batch_size == 0:
                pipe.execute()
        pipe.execute()
        return written

    def write_latest(self, records: Iterable[dict[str, FeatureValue]]) -> int:
        """Write feature records, keeping Redis at each card's newest `feature_ts`.

        Only the last record per card in `records` is sent, all in one call of a
        Lua script, and Redis replaces a card's hash only if the stored
        `feature_ts` is not newer (atomic on the server), so replayed input
        cannot move a card to an older clock. Records with an *equal*
        `feature_ts` (a late event inside the window leaves T unchanged) do
        replace each other: a partial replay can leave such a card at an earlier
        record of the same T; a full replay ends where it started. Returns how
        many cards were sent.
        """
        latest = {record["card_id"]: record for record in records}
        if not latest:
            return 0
        args: list[object] = []
        for features in latest.values():
            fields = [part for item in encode_fields(features).items() for part in item]
            args += [features["feature_ts"], len(fields), *fields]
        self._write_if_newer(keys=[self.key(card_id) for card_id in latest], args=args)
        return len(latest)

    def delete_all(self) -> int:
        """Delete every card's hash under this sink's prefix (and nothing else: other runs
        share the Redis); return how many were deleted. A lost feature store, on purpose."""
        try:
            keys = list(self.client.scan_iter(match=f"{self.key_prefix}*", count=1000))
            return self.client.delete(*keys) if keys else 0
        except REDIS_UNREACHABLE as exc:
            raise redis_unavailable(exc, f"deleting {self.key_prefix}* keys") from exc

    def read_features(self, card_id: str) -> dict[str, FeatureValue]:
        """The card's feature record exactly as written ({} if there is none).

        An unreachable Redis raises ServiceUnavailable (cause and fix for the reader);
        the write methods raise redis-py's own errors, which the engines retry.
        """
        try:
            stored = self.client.hgetall(self.key(card_id))
        except REDIS_UNREACHABLE as exc:
            raise redis_unavailable(exc, f"reading {self.key(card_id)!r}") from exc
        return {name.decode(): decode_field(raw) for name, raw in stored.items()}
