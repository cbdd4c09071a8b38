import math
from collections import Counter
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
