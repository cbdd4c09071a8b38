"""Graders of chapter 02 (exercises/ch02_redis_encodings.py): round trips through live Redis."""

from __future__ import annotations

import random
import re
from datetime import UTC, datetime, timedelta, timezone
from types import ModuleType
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import labkit as lk
from labkit.check import Wrong, grader

SEED = 202  # not the notebook's seed
NEW_YORK, BERLIN = ZoneInfo("America/New_York"), ZoneInfo("Europe/Berlin")

TRICKY = [  # each a trap for some encoding
    datetime(2026, 1, 1, 0, 0, 0, 601000, tzinfo=UTC),  # the lab's first event, as a datetime
    datetime(1969, 12, 31, 23, 59, 59, 999999,  # before the epoch, a negative half-hour offset
             tzinfo=timezone(-timedelta(hours=3, minutes=30))),
    datetime(2026, 6, 1, 12, 0, tzinfo=ZoneInfo("Asia/Kathmandu")),  # +05:45
    datetime(2026, 3, 29, 1, 59, 59, 999999, tzinfo=BERLIN),  # the last µs before summer time
    datetime(2026, 11, 1, 1, 30, tzinfo=NEW_YORK),  # 01:30 in summer time (-04:00) ...
    datetime(2026, 11, 1, 1, 30, fold=1, tzinfo=NEW_YORK),  # ... and again in winter (-05:00)
    datetime(1900, 1, 1, tzinfo=ZoneInfo("Europe/Amsterdam")),  # local mean time: +00:19:32
    datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC),  # the largest datetime
]

JAVA_TEXTS = {  # what java.time writes: no seconds when they are zero, "Z" for UTC
    "2026-11-01T01:30-05:00[America/New_York]": datetime(2026, 11, 1, 1, 30, fold=1,
                                                         tzinfo=NEW_YORK),
    "2026-03-29T03:00+02:00[Europe/Berlin]": datetime(2026, 3, 29, 3, 0, tzinfo=BERLIN),
    "2026-01-01T00:00:00.601Z": datetime(2026, 1, 1, 0, 0, 0, 601000, tzinfo=UTC),
}

# What java.time's ZonedDateTime.parse reads: a "T" between date and time, seconds and
# fraction optional, then "Z" or the offset, then an optional [zone].
RFC_9557 = re.compile(r"(?P<stamp>\d{4}-\d\d-\d\dT\d\d:\d\d(?::\d\d(?:\.\d{1,9})?)?"
                      r"(?:Z|[+-]\d\d:\d\d(?::\d\d)?))(?:\[(?P<zone>[^\[\]]+)\])?")


def _zone(value: datetime) -> str | None:
    return value.tzinfo.key if isinstance(value.tzinfo, ZoneInfo) else None


def _lossless(want: datetime, got: object) -> bool:
    """Same instant, same UTC offset, same zone. (== alone ignores fold within one zone.)"""
    return (isinstance(got, datetime) and got.utcoffset() is not None
            and got.astimezone(UTC) == want.astimezone(UTC)
            and got.utcoffset() == want.utcoffset() and _zone(got) == _zone(want))


def _show(value: object) -> str:
    if not isinstance(value, datetime):
        return repr(value)
    return f"{value.isoformat()} (fold={value.fold}, zone={_zone(value)})"


def _reference_text(value: datetime) -> str:
    return value.isoformat() + (f"[{_zone(value)}]" if _zone(value) else "")


def _reference_read(text: str) -> datetime:
    parts = RFC_9557.fullmatch(text)
    if parts is None:
        raise ValueError("not ISO 8601 with a 'T' between date and time and a UTC offset, "
                         "then an optional [zone]")
    moment = datetime.fromisoformat(parts["stamp"])
    if not parts["zone"]:
        return moment
    try:
        return moment.astimezone(ZoneInfo(parts["zone"]))
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"[{parts['zone']}] is no zone name ZoneInfo or java.time know")\
            from None


def _through_redis(texts: list[str]) -> list[bytes]:
    """HSET each text as a field of a fresh hash, then HGET each back: the bytes Redis holds."""
    client = lk.clients.redis_client()
    key = f"ex02:{lk.topics.run_id()}:datetimes"
    try:
        client.hset(key, mapping={str(i): text for i, text in enumerate(texts)})
        return [client.hget(key, str(i)) for i in range(len(texts))]
    finally:
        client.delete(key)


@grader("encode_datetime", hint="value.isoformat() keeps microseconds and the offset; add "
                                 "[zone] for a ZoneInfo so the zone survives too.")
def grade_encode_datetime(module: ModuleType) -> None:
    texts = [module.encode_datetime(value) for value in TRICKY]
    for value, text, raw in zip(TRICKY, texts, _through_redis(texts), strict=True):
        try:
            back = _reference_read(raw.decode())
        except ValueError as err:
            raise Wrong(f"reading the text you wrote for {_show(value)}",
                        expected=_reference_text(value), got=f"{text!r} ({err})") from None
        if not _lossless(value, back):
            raise Wrong(f"the datetime read back from your text {text!r}",
                        expected=_show(value), got=_show(back))


@grader("decode_datetime", hint="parse the text with its offset (one instant), then "
                                 ".astimezone(ZoneInfo(zone)); never .replace(tzinfo=...).")
def grade_decode_datetime(module: ModuleType) -> None:
    cases = {_reference_text(value): value for value in TRICKY} | JAVA_TEXTS
    for want, raw in zip(cases.values(), _through_redis(list(cases)), strict=True):
        got = module.decode_datetime(raw)
        if not _lossless(want, got):
            raise Wrong(f"decode_datetime({raw!r})", expected=_show(want), got=_show(got))


def _feature_log(count: int = 400, n_cards: int = 25) -> list[dict]:
    """Feature records of seeded transactions, in arrival order, as the engines compute them."""
    windows: dict[str, lk.features.CardWindow] = {}
    log = []
    for txn in lk.generate.transactions(count, seed=SEED, n_cards=n_cards):
        window = windows.setdefault(txn["card_id"], lk.features.CardWindow(txn["card_id"]))
        record = window.update(txn)
        if record is not None:
            log.append(record)
    return log


def _with_replays(log: list[dict], cards: int = 6) -> list[dict]:
    """The log, then an older record of a few cards again (a replay after a restart)."""
    rng = random.Random(SEED)
    newest = {record["card_id"]: record["feature_ts"] for record in log}
    older = [record for record in log if record["feature_ts"] < newest[record["card_id"]]]
    replayed = {record["card_id"]: record for record in rng.sample(older, len(older))}
    return log + list(replayed.values())[:cards]


@grader("write_newest", hint="keep the record with the greatest feature_ts per card (the later "
                              "one on a tie), then DEL + HSET per card in one pipeline, one "
                              "execute().")
def grade_write_newest(module: ModuleType) -> None:
    log = _feature_log()
    run = lk.topics.run_id()
    expected = lk.sinks.RedisFeatureSink(lk.clients.redis_client(),
                                         key_prefix=f"ex02:{run}:expected:")
    expected.write_latest(log)  # the log alone has no replays: its last record per card
    yours = lk.sinks.RedisFeatureSink(lk.clients.redis_client(), key_prefix=f"ex02:{run}:yours:")
    first_card = log[0]["card_id"]
    yours.write(first_card, {"field_of_an_older_record": 1})  # must not survive the rewrite
    trips = lk.lessons.redis_types.RoundTrips()
    try:
        written = module.write_newest(trips.client, _with_replays(log), key_prefix=yours.key_prefix)
        sent = trips.count
        cards = sorted({record["card_id"] for record in log})
        for card in cards:
            want, got = expected.read_features(card), yours.read_features(card)
            differ = sorted(name for name in want.keys() | got.keys()
                            if name not in want or name not in got
                            or type(got[name]) is not type(want[name]) or got[name] != want[name])
            if differ:
                raise Wrong(f"{card}'s hash, the fields that differ",
                            expected={name: want.get(name, "<no field>") for name in differ},
                            got={name: got.get(name, "<no field>") for name in differ})
        stored = sorted(key.decode().removeprefix(yours.key_prefix)
                        for key in trips.client.scan_iter(match=f"{yours.key_prefix}*"))
        if stored != cards:
            raise Wrong(f"the cards stored under {yours.key_prefix}", expected=len(cards),
                        got=len(stored))
        if written != len(cards):
            raise Wrong("the number of cards written", expected=len(cards), got=written)
        if sent != 1:
            raise Wrong("round trips to Redis (requests your client sent)", expected=1, got=sent)
    finally:
        for sink in (expected, yours):
            keys = list(sink.client.scan_iter(match=f"{sink.key_prefix}*"))
            if keys:
                sink.client.delete(*keys)
