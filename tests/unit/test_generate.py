from itertools import pairwise

import pytest
from fastavro.validation import validate

from labkit import generate, schemas


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
    assert {r["mcc"] for r in records} >= set(generate.HIGH_RISK_MCCS)
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
