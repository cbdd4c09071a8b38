"""The per-message core, `processing.handle`, against hostile input (no stack).

Each hostile kind `generate` makes is dead-lettered whole for the reason its kind
demands, and Hypothesis fuzzes `handle` with schemaless Avro: whatever the bytes, it
returns features or a dead letter and never raises. tests/integration/test_hostile_input.py
runs thousands of these messages through every engine on the live stack and holds each
engine to what this core decides.
"""

from __future__ import annotations

import copy
import math

from confluent_kafka.schema_registry.error import SchemaRegistryError
from hypothesis import given, settings
from hypothesis import strategies as st

from labkit import generate, schemas, serde
from labkit.features import FEATURE_NAMES, WINDOW_1H_MS, CardWindow
from labkit.processing import DeadLetter, Source, handle

# The reason each hostile kind must be dead-lettered for.
EXPECTED_REASON = {
    "truncated": "undecodable", "empty": "undecodable", "json": "undecodable",
    "wrong_magic": "undecodable", "null": "undecodable", "random_bytes": "undecodable",
    "unknown_schema": "undecodable", "oversized": "oversized", "wrong_key": "invalid",
    "non_finite_amount": "invalid", "huge_amount": "invalid",
}
REASONS = {"oversized", "undecodable", "invalid", "late"}
SCHEMA_ID = 1


class _Registry:
    """Knows transactions.v1 as SCHEMA_ID, and no other id (as the live registry answers)."""

    def get_schema(self, schema_id):
        if schema_id != SCHEMA_ID:
            raise SchemaRegistryError(404, 40403, f"Schema {schema_id} not found")
        return type("Found", (), {"schema_str": schemas.text("transactions.v1")})()


def test_each_hostile_kind_is_dead_lettered_whole_for_its_reason():
    assert set(EXPECTED_REASON) == set(generate.HOSTILE_KINDS)
    decode = serde.ConfluentDecoder(_Registry())
    for kind, reason in EXPECTED_REASON.items():
        spoiled = generate.messages(20, encode=lambda txn: serde.encode_confluent(txn, SCHEMA_ID),
                                    bad_share=1.0, kinds=[kind])
        for offset, message in enumerate(spoiled):
            source = Source("payments", 0, offset)
            window, out = handle(None, message.key, message.value, source, decode)
            assert isinstance(out, DeadLetter), (kind, offset, out)
            assert out.reason == reason, (kind, offset, out.error)
            assert (out.key, out.value, out.source) == (message.key, message.value, source)
            assert window is None, kind
            if kind == "unknown_schema":
                assert str(generate.UNKNOWN_SCHEMA_ID) in out.error


def test_the_same_messages_unspoiled_give_features():
    """The kinds above fail for what was done to them, not for the stream they came from."""
    decode = serde.ConfluentDecoder(_Registry())
    windows: dict[bytes, CardWindow] = {}
    for offset, message in enumerate(generate.messages(
            20, encode=lambda txn: serde.encode_confluent(txn, SCHEMA_ID), late_share=0)):
        windows[message.key], out = handle(windows.get(message.key), message.key, message.value,
                                           Source("payments", 0, offset), decode)
        assert not isinstance(out, DeadLetter), out.error


# -- Hypothesis: whatever the bytes ---------------------------------------------------------

SOURCE = Source("payments", 1, 7)
FIRST = next(generate.transactions(1))
KEY = FIRST["card_id"].encode()
ENCODED = serde.encode_avro(FIRST)


def _window_with_first() -> CardWindow:
    window, _ = handle(None, KEY, ENCODED, SOURCE, serde.decode_avro)
    return window


def _check_handled(window: CardWindow | None, key: bytes | None,
                   value: bytes | None) -> dict | DeadLetter:
    """`handle` returns features or a dead letter that keeps the message; bad input changes
    no window. Returns what `handle` returned."""
    before = copy.deepcopy(window)
    after, out = handle(window, key, value, SOURCE, serde.decode_avro)
    if isinstance(out, DeadLetter):
        assert out.reason in REASONS
        assert (out.key, out.value, out.source) == (key, value, SOURCE)
        assert after == before
    else:
        assert set(out) == set(FEATURE_NAMES)
        assert out["card_id"].encode() == key
    return out


@settings(max_examples=300, deadline=None)
@given(key=st.none() | st.just(KEY) | st.binary(max_size=24),
       value=st.none() | st.binary(max_size=600), known_card=st.booleans())
def test_arbitrary_bytes_become_features_or_a_dead_letter(key, value, known_card):
    _check_handled(_window_with_first() if known_card else None, key, value)


@settings(max_examples=300, deadline=None)
@given(edits=st.lists(st.tuples(st.integers(0, len(ENCODED) - 1), st.integers(0, 255)),
                      min_size=1, max_size=6),
       keep=st.integers(1, len(ENCODED)))
def test_a_damaged_transaction_becomes_features_or_a_dead_letter(edits, keep):
    # Small edits to a real encoding reach deeper than random bytes: past the first
    # fields, into lengths, unions, enums and the metadata map.
    damaged = bytearray(ENCODED)
    for position, byte in edits:
        damaged[position] = byte
    _check_handled(_window_with_first(), KEY, bytes(damaged[:keep]))


@settings(max_examples=300, deadline=None)
@given(amount=st.floats(), shift_ms=st.integers(-10 * WINDOW_1H_MS, 10 * WINDOW_1H_MS),
       country=st.none() | st.text(max_size=3))
def test_any_well_formed_transaction_becomes_features_or_a_dead_letter(amount, shift_ms,
                                                                      country):
    # The card already has an event, so the window's sums and variance are exercised.
    txn = {**FIRST, "amount": amount, "timestamp": FIRST["timestamp"] + shift_ms,
           "geo_country": country, "txn_id": "fuzz"}
    out = _check_handled(_window_with_first(), KEY, serde.encode_avro(txn))
    if not math.isfinite(amount):
        assert out.reason == "invalid"
