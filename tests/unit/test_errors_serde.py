"""The Avro decoder turns exactly fastavro's bad-bytes errors into DecodeError, nothing else."""

import pytest
from fastavro.validation import validate
from hypothesis import given, settings
from hypothesis import strategies as st

from labkit import generate, schemas, serde
from labkit.errors import DecodeError

RECORDS = list(generate.transactions(20))
V1 = [serde.encode_avro(record) for record in RECORDS]
V2 = [serde.encode_avro(record, "transactions.v2")
      for record in generate.transactions(20, schema="transactions.v2")]
# (writer, reader, good encodings): every way the lab reads schemaless Avro.
READS = [("transactions.v1", None, V1), ("transactions.v2", None, V2),
         ("transactions.v1", "transactions.v2", V1), ("transactions.v2", "transactions.v1", V2)]


def _utf8_broken(value: bytes) -> bytes:
    """The record with the first byte of its txn_id (after its length) made invalid UTF-8."""
    return value[:1] + b"\xff" + value[2:]


@pytest.mark.parametrize(("value", "raised"), [
    (V1[0][:-7], "EOFError"),
    (serde.encode_confluent(RECORDS[0], 1), "IndexError"),
    (_utf8_broken(V1[0]), "UnicodeDecodeError"),
])
def test_each_error_fastavro_raises_for_bad_bytes_is_a_decode_error(value, raised):
    with pytest.raises(DecodeError, match=rf"not Avro for this schema \({raised}"):
        serde.decode_avro(value)


@pytest.mark.parametrize("bug", [TypeError("a bug"), AttributeError("a bug"),
                                 RuntimeError("a bug"), KeyError("a bug")])
def test_an_error_that_is_not_about_the_bytes_propagates(monkeypatch, bug):
    def broken_reader(*_args, **_kwargs):
        raise bug

    monkeypatch.setattr(serde, "schemaless_reader", broken_reader)
    with pytest.raises(type(bug)) as err:
        serde.decode_avro(V1[0])
    assert not isinstance(err.value, DecodeError)


def _decodes_or_refuses(value: bytes, writer: str, reader: str | None) -> dict | None:
    """A DecodeError (None), or a record of the schema it was read with that used up every
    byte (the record)."""
    try:
        record = serde.decode_avro(value, writer, reader=reader)
    except DecodeError:
        return None
    read_with = schemas.load(reader or writer)
    # The reader's fields, in its order (a reader schema ignored would give the writer's) ...
    assert list(record) == [field["name"] for field in read_with["fields"]]
    # ... each value of its field's type, `timestamp` in epoch ms (not a datetime) ...
    assert validate(record, serde.reading_schema(read_with), raise_errors=True)
    assert type(record["timestamp"]) is int
    # ... and the record filled the bytes: one byte more is left over, and refused.
    with pytest.raises(DecodeError, match=r"1 byte\(s\) left over"):
        serde.decode_avro(value + b"\x00", writer, reader=reader)
    return record


@pytest.mark.parametrize("read", READS, ids=[f"{w}->{r or w}" for w, r, _ in READS])
def test_good_encodings_meet_the_property_as_records(read):
    writer, reader, encodings = read
    assert all(_decodes_or_refuses(value, writer, reader) for value in encodings)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=300), st.sampled_from(READS))
def test_random_bytes_give_a_record_or_a_decode_error(value, read):
    writer, reader, _ = read
    _decodes_or_refuses(value, writer, reader)


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(READS), st.data())
def test_mutated_real_encodings_give_a_record_or_a_decode_error(read, data):
    writer, reader, encodings = read
    good = data.draw(st.sampled_from(encodings))
    start = data.draw(st.integers(0, len(good)))
    end = data.draw(st.integers(start, len(good)))
    value = good[:start] + data.draw(st.binary(max_size=12)) + good[end:]
    _decodes_or_refuses(value, writer, reader)
