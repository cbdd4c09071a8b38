"""Synthetic card payments: seeded, so every run of a notebook sees the same data.

The mix is plausible enough to find fraud in: a few busy cards and many quiet
ones, everyday merchants plus the high-risk codes (cash, direct marketing,
hotels, gambling), a few events without geolocation, event times that advance
like real traffic with a little out-of-order jitter, and rare fraud *bursts*:
one card suddenly spending big, abroad, at high-risk merchants, several times
within minutes. On request (`hot_share`), bot traffic on one card, HOT_CARD:
a hot key, for the lessons on partitions.

Records are plain dicts shaped like `schemas/transactions.v1.avsc`, with
`timestamp` in epoch milliseconds. `messages` turns them into Kafka messages,
a seeded share of them hostile (truncated, oversized, wrongly keyed, ...) and
labelled with their kind, for dead-letter lessons and fuzz tests.

The records and messages are pure data: this module loads without a Kafka
client (tests/unit/test_layering.py checks). Only `produce` and
`produce_hostile`, which write to a topic, load one, when called.
"""

from __future__ import annotations

import math
import random
import sys
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

from . import schemas
from .errors import LabError
from .features import HIGH_RISK_MCCS
from .processing import MAX_VALUE_BYTES

__all__ = ["CORRUPT_KINDS", "HOSTILE_KINDS", "HOT_CARD", "KIND_HEADER", "LAB_SEED",
           "START_MS", "UNKNOWN_SCHEMA_ID", "Message", "messages", "produce", "produce_hostile",
           "transactions"]

LAB_SEED = 25  # every notebook uses it; its first record trips the UTF-8 decoder on 0x8f
START_MS = 1_767_225_600_000  # 2026-01-01T00:00:00Z: fixed, so outputs are reproducible
MEAN_GAP_MS = 1_500  # mean time between two events, over all cards
HOT_CARD = "card-0000"  # the first card: where `hot_share` puts its bot traffic

EVERYDAY_MCCS = ("5411", "5812", "5541", "5912", "5999", "4121", "5732", "5691", "4111", "5814")
HOME = {  # country -> (currency, cities)
    "US": ("USD", ("New York", "Chicago", "Austin")),
    "GB": ("GBP", ("London", "Leeds")),
    "DE": ("EUR", ("Berlin", "Munich")),
    "FR": ("EUR", ("Paris", "Lyon")),
    "CA": ("CAD", ("Toronto", "Vancouver")),
    "AU": ("AUD", ("Sydney", "Melbourne")),
}
FRAUD_COUNTRIES = ("NG", "RO", "BR", "VN", "PH")
CHANNELS = ("pos", "web", "app")
MCC_CATEGORY = {
    "5411": "grocery", "5812": "restaurant", "5541": "fuel", "5912": "pharmacy",
    "5999": "retail", "4121": "taxi", "5732": "electronics", "5691": "clothing",
    "4111": "transit", "5814": "fast food", "6011": "cash", "5967": "direct marketing",
    "7011": "hotel", "7995": "gambling",
}
PAYMENT_METHODS = ("CARD_PRESENT", "CARD_NOT_PRESENT", "CONTACTLESS", "MOBILE_WALLET",
                   "BANK_TRANSFER")
FIELD_ORDER = ("txn_id", "card_id", "user_id", "amount", "currency", "mcc", "device_id",
               "ip_address", "geo_country", "geo_city", "timestamp", "is_fraud", "metadata")


@dataclass(frozen=True)
class Card:
    card_id: str
    user_id: str
    country: str
    city: str
    device_id: str
    ip_address: str
    typical_amount: float
    activity: float  # relative share of traffic


def _ip(rng: random.Random) -> str:
    return ".".join(str(rng.randint(1, 254)) for _ in range(4))


def _cards(rng: random.Random, n_cards: int) -> list[Card]:
    cards = []
    for i in range(n_cards):
        country = rng.choice(sorted(HOME))
        cards.append(Card(
            card_id=f"card-{i:04d}",
            user_id=f"user-{rng.randrange(10**6):06d}",
            country=country,
            city=rng.choice(HOME[country][1]),
            device_id=f"dev-{rng.getrandbits(32):08x}",
            ip_address=_ip(rng),
            typical_amount=round(rng.lognormvariate(math.log(40), 0.7), 2),
            activity=rng.paretovariate(1.5),  # a few cards are far busier than most
        ))
    return cards


def _normal(rng: random.Random, card: Card) -> dict:
    roll = rng.random()
    if roll < 0.03:  # geolocation failed
        country, city = None, None
    elif roll < 0.07:  # travelling
        country = rng.choice(sorted(HOME))
        city = rng.choice(HOME[country][1])
    else:
        country, city = card.country, card.city
    return {
        "amount": round(rng.lognormvariate(math.log(card.typical_amount), 0.6), 2),
        "mcc": rng.choice(HIGH_RISK_MCCS) if rng.random() < 0.05 else rng.choice(EVERYDAY_MCCS),
        "device_id": card.device_id if rng.random() < 0.9 else f"dev-{rng.getrandbits(32):08x}",
        "ip_address": card.ip_address,
        "geo_country": country,
        "geo_city": city,
        "is_fraud": False,
    }


def _fraud(rng: random.Random, country: str, device_id: str) -> dict:
    return {
        "amount": round(rng.uniform(300, 2500), 2),
        "mcc": rng.choice(HIGH_RISK_MCCS) if rng.random() < 0.7 else rng.choice(EVERYDAY_MCCS),
        "device_id": device_id,
        "ip_address": _ip(rng),
        "geo_country": country,
        "geo_city": None,
        "is_fraud": True,
    }


def _bot(rng: random.Random, card: Card) -> dict:
    """One event of bot traffic on `card`: an everyday purchase of about its usual amount,
    from its own device and home, not fraud (a load problem, not a fraud one)."""
    return {
        "amount": round(rng.lognormvariate(math.log(card.typical_amount), 0.6), 2),
        "mcc": rng.choice(EVERYDAY_MCCS),
        "device_id": card.device_id,
        "ip_address": card.ip_address,
        "geo_country": card.country,
        "geo_city": card.city,
        "is_fraud": False,
    }


def _record(rng: random.Random, card: Card, fields: dict, timestamp: int) -> dict:
    """The transaction of `card` with `fields`, its id, currency and metadata added, in
    FIELD_ORDER."""
    channel = rng.choice(CHANNELS)
    record = {
        "txn_id": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
        "card_id": card.card_id,
        "user_id": card.user_id,
        "currency": HOME[card.country][0],
        **fields,
        "timestamp": timestamp,
        "metadata": {} if rng.random() < 0.2 else {"channel": channel},
    }
    return {name: record[name] for name in FIELD_ORDER}


def _v2_details(rng: random.Random, record: dict) -> dict:
    """What schema v2 adds: merchant details, a risk score, the payment method, JPY/CHF."""
    merchant = None if rng.random() < 0.1 else rng.randrange(5000)
    category = MCC_CATEGORY[record["mcc"]]
    return {
        **record,
        "currency": rng.choice(("JPY", "CHF")) if rng.random() < 0.06 else record["currency"],
        "merchant_id": None if merchant is None else f"m-{merchant:05d}",
        "merchant_name": None if merchant is None else f"{category.title()} #{merchant}",
        "merchant_category": category,
        "risk_score": round(min(1.0, rng.betavariate(2, 8) + 0.5 * record["is_fraud"]), 3),
        "payment_method": rng.choice(PAYMENT_METHODS),
    }


def transactions(count: int, *, seed: int = LAB_SEED, schema: str = "transactions.v1",
                 n_cards: int = 50, fraud_rate: float = 0.02, start_ms: int = START_MS,
                 jitter_ms: int = 30_000, late_share: float = 0.05,
                 hot_share: float = 0.0) -> Iterator[dict]:
    """Yield `count` transactions shaped like `schema`, the same ones for the same arguments.

    About `fraud_rate` of them are fraud, arriving in bursts of 3-8 events on
    one card. `late_share` of events carry a timestamp up to `jitter_ms` older
    than the traffic around them (out-of-order arrival). Other schema versions
    get the same v1 core (a separate random stream draws what v2 adds), fitted
    with `schemas.conform`.

    `hot_share` of the events (from 0 up to, not including, 1) are bot traffic
    on HOT_CARD: one hot key. A separate random stream picks and draws them,
    and only when `hot_share` is above 0: the main stream draws nothing for a
    bot event, so the other events are the first ones `hot_share=0` gives, in
    the same order, and the default stream stays the one the notebooks'
    outputs show. Bot traffic comes on top of the usual traffic: a bot event
    takes the time the traffic has reached (`start_ms` before the first
    usual event) and never arrives late.
    """
    if not 0 <= hot_share < 1:
        raise LabError(f"hot_share, the share of events on the hot card, must be at least 0 "
                       f"and below 1, not {hot_share}.",
                       "pass e.g. hot_share=0.3 for bot traffic on one card, or 0 for none.")
    if schema != "transactions.v1":
        details = random.Random(f"{seed}-extras")
        for record in transactions(count, seed=seed, n_cards=n_cards, fraud_rate=fraud_rate,
                                   start_ms=start_ms, jitter_ms=jitter_ms,
                                   late_share=late_share, hot_share=hot_share):
            yield schemas.conform(_v2_details(details, record), schema)
        return
    rng = random.Random(seed)
    bots = random.Random(f"{seed}-hot") if hot_share > 0 else None
    cards = _cards(rng, n_cards)
    weights = [card.activity for card in cards]
    clock = start_ms
    burst: dict | None = None  # the card under attack and how many events are left
    for _ in range(count):
        if bots is not None and bots.random() < hot_share:
            yield _record(bots, cards[0], _bot(bots, cards[0]), clock)
            continue
        clock += max(1, int(rng.expovariate(1 / MEAN_GAP_MS)))
        if burst is None and rng.random() < fraud_rate / 5.5:  # 5.5 = mean burst length
            burst = {"card": rng.choice(cards), "left": rng.randint(3, 8),
                     "country": rng.choice(FRAUD_COUNTRIES),
                     "device": f"dev-{rng.getrandbits(32):08x}"}
        if burst is not None and rng.random() < 0.5:
            card = burst["card"]
            fields = _fraud(rng, burst["country"], burst["device"])
            burst["left"] -= 1
            if burst["left"] == 0:
                burst = None
        else:
            card = rng.choices(cards, weights)[0]
            fields = _normal(rng, card)
        timestamp = clock - rng.randint(1, jitter_ms) if rng.random() < late_share else clock
        yield _record(rng, card, fields, timestamp)


def _paced(items: Iterable, rate: float) -> Iterator:
    """Yield at most `rate` items per second (for watching a consumer keep up)."""
    started = time.monotonic()
    for sent, message in enumerate(items):
        ahead = sent / rate - (time.monotonic() - started)
        if ahead > 0:
            time.sleep(ahead)
        yield message


# -- hostile messages ----------------------------------------------------------------
# Each spoiler turns one valid message into a kind of bad one. Only `random_bytes`,
# `oversized`, `wrong_key` and the amount kinds draw from the random stream, so the four
# CORRUPT_KINDS below spoil exactly as they always did (notebook outputs depend on it).

UNKNOWN_SCHEMA_ID = 2**31 - 1  # the largest schema id (a signed int32): no registry gets there
KIND_HEADER = "lab.kind"  # the header `produce_hostile` labels every message with


class Message(NamedTuple):
    """One Kafka message to produce, labelled: `kind` is "valid" or one of HOSTILE_KINDS."""

    key: bytes | None
    value: bytes | None
    kind: str


class _Valid(NamedTuple):
    """A valid message and how it was made: what every spoiler starts from."""

    record: dict
    key: bytes
    value: bytes
    encode: Callable[[dict], bytes]


def _recoded(valid: _Valid, **fields: Any) -> bytes:
    """The record with `fields` changed, encoded like the valid message."""
    return valid.encode({**valid.record, **fields})


def _oversized(rng: random.Random, valid: _Valid) -> tuple[bytes | None, bytes | None]:
    """A valid transaction padded past the lab's size limit, yet well under Kafka's 1 MB."""
    padding = "x" * rng.randint(MAX_VALUE_BYTES, 4 * MAX_VALUE_BYTES)
    return valid.key, _recoded(valid, metadata={**valid.record["metadata"], "padding": padding})


Spoiler = Callable[[random.Random, _Valid], tuple[bytes | None, bytes | None]]
_SPOILERS: dict[str, Spoiler] = {
    # truncated in flight
    "truncated": lambda _rng, v: (v.key, v.value[: len(v.value) // 2]),
    "empty": lambda _rng, v: (v.key, b""),  # a producer bug
    "json": lambda _rng, v: (v.key, b'{"txn_id": "not avro"}'),  # a JSON producer, wrong topic
    "wrong_magic": lambda _rng, v: (v.key, b"\x07" + v.value[1:]),
    "null": lambda _rng, v: (v.key, None),  # a tombstone on a topic that is not compacted
    "random_bytes": lambda rng, v: (v.key, rng.randbytes(rng.randint(1, 512))),
    "unknown_schema": lambda _rng, v: (
        v.key, v.value[:1] + UNKNOWN_SCHEMA_ID.to_bytes(4, "big") + v.value[5:]),
    "oversized": _oversized,
    # keyed by the user (a common producer bug) or not keyed at all
    "wrong_key": lambda rng, v: (rng.choice((v.record["user_id"].encode(), None)), v.value),
    "non_finite_amount": lambda rng, v: (
        v.key, _recoded(v, amount=rng.choice((math.nan, math.inf, -math.inf)))),
    # finite, but so large that sums of squares no longer fit a float
    "huge_amount": lambda rng, v: (v.key, _recoded(v, amount=rng.uniform(1e160, 1e300))),
}
# What `produce(bad_share=...)` writes: damage seen on real topics. The order is part of
# the seeded stream (a choice by index): append, never reorder.
CORRUPT_KINDS = ("truncated", "empty", "json", "wrong_magic")
HOSTILE_KINDS = tuple(_SPOILERS)


def messages(count: int, *, encode: Callable[[dict], bytes], seed: int = LAB_SEED,
             bad_share: float = 0.0, kinds: Sequence[str] = HOSTILE_KINDS,
             schema: str = "transactions.v1", **shape: Any) -> Iterator[Message]:
    """Yield `count` labelled messages: `transactions` keyed by card_id and encoded with
    `encode`, `bad_share` of them spoiled by a kind drawn from `kinds`.

    The same arguments give the same messages. Kinds (named after the Confluent
    wire format, which `unknown_schema` and `wrong_magic` assume): truncated,
    empty (b""), json, wrong_magic, null (value None), random_bytes,
    unknown_schema (id UNKNOWN_SCHEMA_ID), oversized (above
    processing.MAX_VALUE_BYTES, below Kafka's 1 MB), wrong_key (user_id or
    None), non_finite_amount (NaN, ±inf) and huge_amount (finite, ≥ 1e160).
    `shape` goes to `transactions`.
    """
    unknown = sorted(set(kinds) - set(_SPOILERS))
    if unknown or not kinds:
        raise LabError(f"Unknown or no hostile kinds: {unknown or 'none given'}.",
                       f"pick from {', '.join(HOSTILE_KINDS)}.")
    rng = random.Random(f"{seed}-bad")
    for record in transactions(count, seed=seed, schema=schema, **shape):
        valid = _Valid(record, record["card_id"].encode(), encode(record), encode)
        if rng.random() < bad_share:
            kind = rng.choice(kinds)
            yield Message(*_SPOILERS[kind](rng, valid), kind)
        else:
            yield Message(valid.key, valid.value, "valid")


def produce(topic: str, count: int, *, seed: int = LAB_SEED, fmt: str = "avro",
            schema: str = "transactions.v1", rate: float | None = None,
            progress: bool | None = None, bad_share: float = 0.0, **shape: Any) -> int:
    """Produce `count` generated transactions to `topic`, keyed by card_id; return how many.

    `fmt` is json, avro (schemaless) or confluent (registers `schema` under
    `<topic>-value`). `rate` caps events per second. `bad_share` of the
    messages are replaced by undecodable bytes (CORRUPT_KINDS, same key), for
    dead-letter lessons; `shape` goes to `transactions` (n_cards, late_share,
    jitter_ms, hot_share, ...). The progress bar shows by default only in a
    terminal, so notebook outputs stay reproducible.
    """
    from rich.progress import track

    from . import serde, topics

    encode = serde.make_encoder(fmt, schema=schema, topic=topic)
    pairs: Iterable = ((message.key, message.value) for message in messages(
        count, encode=encode, seed=seed, bad_share=bad_share, kinds=CORRUPT_KINDS,
        schema=schema, **shape))
    if rate:
        pairs = _paced(pairs, rate)
    if progress if progress is not None else sys.stderr.isatty():
        pairs = track(pairs, total=count, description=f"producing to {topic}")
    return topics.produce(topic, pairs)


def produce_hostile(topic: str, count: int, *, seed: int = LAB_SEED, bad_share: float = 0.25,
                    kinds: Sequence[str] = HOSTILE_KINDS, **shape: Any) -> Counter[str]:
    """Produce `messages` in Confluent wire format, each labelled with its kind in a
    `lab.kind` header (KIND_HEADER); return how many of each kind were acknowledged.

    The label lets a test look up any message it reads back, or any dead letter
    by its source partition and offset, and check it was treated as its kind demands.
    """
    from . import serde, topics

    encode = serde.make_encoder("confluent", topic=topic)
    deliveries = topics.Deliveries()
    sent: Counter[str] = Counter()
    for message in messages(count, encode=encode, seed=seed, bad_share=bad_share, kinds=kinds,
                            **shape):
        deliveries.send(topic, message.key, message.value, {KIND_HEADER: message.kind.encode()})
        sent[message.kind] += 1
    deliveries.confirm(what=f"hostile messages to {topic!r}")
    return sent
