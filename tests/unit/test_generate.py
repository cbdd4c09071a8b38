import hashlib
import json
import math
from collections import Counter
from collections.abc import Iterable
from functools import cache, partial
from itertools import pairwise

import pytest
from fastavro.validation import validate

from labkit import generate, schemas, serde
from labkit.errors import LabError
from labkit.features import HIGH_RISK_MCCS
from labkit.processing import MAX_VALUE_BYTES
from labkit.serde import DecodeError


def test_same_seed_same_transactions():
    assert list(generate.transactions(300, seed=3)) == list(generate.transactions(300, seed=3))
    assert list(generate.transactions(300, seed=3)) != list(generate.transactions(300, seed=4))


@pytest.mark.parametrize("name", schemas.available("transactions"))
def test_every_record_fits_its_schema(name):
    schema = schemas.parsed(name)
    for record in generate.transactions(300, schema=name):
        assert validate(record, schema, raise_errors=True)


def test_other_versions_share_the_v1_core():
    v1 = list(generate.transactions(200))
    v2 = list(generate.transactions(200, schema="transactions.v2"))
    assert [(r["txn_id"], r["amount"]) for r in v1] == [(r["txn_id"], r["amount"]) for r in v2]
    assert {"JPY", "CHF"} & {r["currency"] for r in v2}


def test_the_mix_looks_like_payments():
    records = list(generate.transactions(5000))
    fraud = [r for r in records if r["is_fraud"]]
    assert 0.005 < len(fraud) / len(records) < 0.05
    assert {r["mcc"] for r in records} >= set(HIGH_RISK_MCCS)
    assert any(r["geo_country"] is None for r in records)
    assert len({r["card_id"] for r in records}) > 20
    assert len({r["txn_id"] for r in records}) == len(records)


def test_fraud_comes_in_bursts_on_one_card():
    records = list(generate.transactions(5000))
    fraud_cards = [r["card_id"] for r in records if r["is_fraud"]]
    # Bursts of 3-8 events: far fewer distinct cards than fraud events.
    assert len(set(fraud_cards)) * 3 <= len(fraud_cards)


def test_event_time_advances_with_a_little_out_of_order_jitter():
    stamps = [r["timestamp"] for r in generate.transactions(5000)]
    backwards = sum(later < earlier for earlier, later in pairwise(stamps))
    assert 0 < backwards < 0.1 * len(stamps)
    assert stamps[0] >= generate.START_MS - 30_000
    assert stamps[-1] - stamps[0] > 60 * 60 * 1000  # an hour or more of traffic


# -- a hot card ----------------------------------------------------------------------

# sha256 of json.dumps(list(transactions(2000, schema=...)), sort_keys=True), taken before
# `hot_share` existed: the notebooks' committed outputs depend on this very stream.
DEFAULT_STREAM_SHA256 = {
    "transactions.v1": "436aa5911d7a82a5c17922fcd0fdd5d801e8e1118bf9812d6eb109d9ac9e7f15",
    "transactions.v2": "5b393c1325e01bd1c00675152dd26213297579c8147c2f9631e954fc510f76ec",
}


def _digest(records: Iterable[dict]) -> str:
    return hashlib.sha256(json.dumps(list(records), sort_keys=True).encode()).hexdigest()


@pytest.mark.parametrize("schema", sorted(DEFAULT_STREAM_SHA256))
def test_without_a_hot_card_the_stream_is_the_one_the_notebooks_show(schema):
    assert _digest(generate.transactions(2000, schema=schema)) == DEFAULT_STREAM_SHA256[schema]
    assert (_digest(generate.transactions(2000, schema=schema, hot_share=0))
            == DEFAULT_STREAM_SHA256[schema])


def _hot_and_usual(count: int, hot_share: float) -> tuple[list[dict], list[dict]]:
    """The bot events of a stream with `hot_share`, and the usual ones (those the default
    stream of the same length has too)."""
    usual_ids = {record["txn_id"] for record in generate.transactions(count)}
    records = list(generate.transactions(count, hot_share=hot_share))
    return ([r for r in records if r["txn_id"] not in usual_ids],
            [r for r in records if r["txn_id"] in usual_ids])


def test_the_hot_share_of_events_is_bot_traffic_on_the_hot_card():
    bots, usual = _hot_and_usual(10_000, 0.5)
    assert 0.47 < len(bots) / 10_000 < 0.53
    assert {r["card_id"] for r in bots} == {generate.HOT_CARD}
    assert not any(r["is_fraud"] or r["mcc"] in HIGH_RISK_MCCS for r in bots)
    on_hot_card = sum(r["card_id"] == generate.HOT_CARD for r in bots + usual)
    assert 0.45 < on_hot_card / 10_000 < 0.6  # its usual traffic is about 2 % of the rest


def test_bot_traffic_comes_on_top_of_the_usual_stream():
    """The usual events are the default stream's first ones, in order; a bot event carries
    the time the traffic has reached: never before a usual event ahead of it, and never
    late, so bot events are in order."""
    bots, usual = _hot_and_usual(3000, 0.3)
    assert usual == list(generate.transactions(3000))[:len(usual)]
    bot_ids = {r["txn_id"] for r in bots}
    latest = generate.START_MS  # of the usual events so far
    for record in generate.transactions(3000, hot_share=0.3):
        if record["txn_id"] in bot_ids:
            # The traffic's time is the latest usual event's, unless that one came late
            # (by at most jitter_ms, 30 s by default).
            assert latest <= record["timestamp"] <= latest + 30_000
        latest = max(latest, record["timestamp"])
    stamps = [r["timestamp"] for r in bots]
    assert stamps == sorted(stamps)


def test_a_hot_card_reaches_messages_and_every_schema():
    sent = list(generate.messages(500, encode=lambda r: json.dumps(r).encode(),
                                  hot_share=0.4))
    assert sum(m.key == generate.HOT_CARD.encode() for m in sent) > 150
    v2 = list(generate.transactions(500, schema="transactions.v2", hot_share=0.4))
    v1 = list(generate.transactions(500, hot_share=0.4))
    assert [r["txn_id"] for r in v2] == [r["txn_id"] for r in v1]


@pytest.mark.parametrize("hot_share", [-0.1, 1.0, 1.5, math.nan])
def test_a_hot_share_outside_zero_to_one_is_refused(hot_share):
    with pytest.raises(LabError, match="hot_share") as refused:
        next(generate.transactions(10, hot_share=hot_share))
    assert refused.value.fix


# -- labelled and hostile messages ---------------------------------------------------

SCHEMA_ID = 1
ENCODE = partial(serde.encode_confluent, schema_id=SCHEMA_ID)
KAFKA_MAX_BYTES = 1_000_000  # librdkafka's default message.max.bytes, below the broker's 1 MiB


def _hostile(count: int = 3000, **options) -> list[generate.Message]:
    return list(generate.messages(count, encode=ENCODE, bad_share=0.3, **options))


@cache
def _mix() -> tuple[generate.Message, ...]:
    """The 3,000-message mix most tests look at, generated once."""
    return tuple(_hostile())


def _body(value: bytes) -> dict:
    """The transaction inside a Confluent-framed value, whatever its header says."""
    return serde.decode_avro(value[serde.HEADER_SIZE:])


def test_same_seed_same_hostile_messages():
    assert _hostile(500) == _hostile(500)
    assert _hostile(500) != _hostile(500, seed=4)


def test_without_bad_share_every_message_is_the_encoded_transaction():
    records = list(generate.transactions(300))
    sent = list(generate.messages(300, encode=ENCODE))
    assert [(m.key, m.value, m.kind) for m in sent] == [
        (r["card_id"].encode(), ENCODE(r), "valid") for r in records]


def test_the_mix_has_every_kind_in_about_the_asked_share():
    kinds = Counter(message.kind for message in _mix())
    assert set(kinds) == {"valid", *generate.HOSTILE_KINDS}
    assert 0.25 < 1 - kinds["valid"] / 3000 < 0.35
    assert min(kinds[kind] for kind in generate.HOSTILE_KINDS) > 30  # about 80 each


def test_hostile_messages_take_the_place_of_their_transaction():
    # Spoiling replaces a message; it never shifts the stream of valid transactions.
    records = list(generate.transactions(3000))
    for record, message in zip(records, _mix(), strict=True):
        if message.kind == "valid":
            assert (message.key, _body(message.value)) == (record["card_id"].encode(), record)


def _of_kind(kind: str) -> list[generate.Message]:
    return [message for message in _mix() if message.kind == kind]


def test_only_oversized_messages_pass_the_size_limit_and_none_reaches_kafkas():
    for message in _mix():
        size = len(message.value or b"")
        assert (size > MAX_VALUE_BYTES) == (message.kind == "oversized"), message.kind
        assert size < KAFKA_MAX_BYTES
    # Oversized, yet a well-formed transaction: only the size check can stop it.
    assert all(_body(m.value)["metadata"]["padding"] for m in _of_kind("oversized"))


def test_undecodable_kinds_break_the_framing_or_the_body():
    assert all(len(m.value) < serde.HEADER_SIZE for m in _of_kind("empty"))
    assert all(m.value is None for m in _of_kind("null"))
    assert all(m.value.startswith(b"{") for m in _of_kind("json"))
    assert all(m.value[0] != serde.MAGIC_BYTE for m in _of_kind("wrong_magic"))
    for message in _of_kind("truncated"):
        with pytest.raises(DecodeError):
            _body(message.value)
    assert len({m.value for m in _of_kind("random_bytes")}) == len(_of_kind("random_bytes"))


def test_an_unknown_schema_id_frames_a_good_body():
    for message in _of_kind("unknown_schema"):
        assert message.value[0] == serde.MAGIC_BYTE
        assert int.from_bytes(message.value[1:serde.HEADER_SIZE]) == generate.UNKNOWN_SCHEMA_ID
        assert _body(message.value)["card_id"].encode() == message.key


def test_invalid_kinds_decode_but_break_a_rule():
    for message in _of_kind("wrong_key"):
        assert message.key != _body(message.value)["card_id"].encode()
    for message in _of_kind("non_finite_amount"):
        assert not math.isfinite(_body(message.value)["amount"])
    for message in _of_kind("huge_amount"):
        assert 1e160 <= _body(message.value)["amount"] < math.inf


def test_bad_share_in_produce_only_corrupts_and_keeps_the_key():
    sent = list(generate.messages(3000, encode=ENCODE, bad_share=0.3,
                                  kinds=generate.CORRUPT_KINDS))
    assert {m.kind for m in sent} == {"valid", *generate.CORRUPT_KINDS}
    assert [m.key for m in sent] == [r["card_id"].encode() for r in generate.transactions(3000)]


@pytest.mark.parametrize("kinds", [(), ("truncated", "gremlins")])
def test_unknown_kinds_are_refused(kinds):
    with pytest.raises(LabError, match="Unknown or no hostile kinds"):
        next(generate.messages(10, encode=ENCODE, bad_share=0.5, kinds=kinds))
