import pytest
from confluent_kafka.schema_registry.error import SchemaRegistryError

from labkit import generate, serde
from labkit.errors import LabError
from labkit.serde import DecodeError

RECORDS = list(generate.transactions(200))
FIRST = RECORDS[0]


@pytest.mark.parametrize("record", RECORDS[:50])
def test_avro_and_json_round_trip_exactly(record):
    assert serde.decode_avro(serde.encode_avro(record)) == record
    assert serde.decode_json(serde.encode_json(record)) == record


def test_the_naive_decoder_reproduces_the_production_crash():
    with pytest.raises(UnicodeDecodeError) as err:
        serde.decode_json_naive(serde.encode_avro(FIRST))
    assert str(err.value).startswith("'utf-8' codec can't decode byte 0x8f in position ")
    assert str(err.value).endswith(": invalid start byte")


def test_the_fixed_json_decoder_explains_instead_of_crashing():
    with pytest.raises(DecodeError) as err:
        serde.decode_json(serde.encode_avro(FIRST))
    assert "not UTF-8 JSON" in err.value.reason
    assert "decode_avro" in err.value.fix
    assert err.value.head_hex.startswith("48 ")  # 0x48 = zig-zag 36, the txn_id's length


@pytest.mark.parametrize(("value", "reason"), [
    (b"", "empty Avro body"),
    (serde.encode_avro(FIRST)[:-7], "not Avro for this schema"),
    (serde.encode_avro(FIRST) + b"\x00\x00", "left over after the record"),
])
def test_bad_avro_bytes_raise_a_clear_decode_error(value, reason):
    with pytest.raises(DecodeError, match=reason):
        serde.decode_avro(value)


class _NoSuchSchemaRegistry:
    """Stands in for the registry client in the one unit test about an unknown id
    (the integration tests ask the live registry the same question)."""

    def get_schema(self, schema_id):
        raise SchemaRegistryError(404, 40403, f"Schema {schema_id} not found")


@pytest.mark.parametrize(("value", "reason"), [
    (b"", "shorter than the 5-byte Confluent header"),
    (b"\x00\x00\x01", "shorter than the 5-byte Confluent header"),
    (serde.encode_json(FIRST), "first byte is 0x7b, not the magic byte 0x00"),
    (serde.encode_avro(FIRST), "first byte is 0x48, not the magic byte 0x00"),
    (serde.encode_confluent(FIRST, 999), "schema id 999 is not in the registry"),
])
def test_bad_confluent_bytes_raise_a_clear_decode_error(value, reason):
    decode = serde.ConfluentDecoder(_NoSuchSchemaRegistry())
    with pytest.raises(DecodeError, match=reason):
        decode(value)


def test_confluent_framing_is_magic_byte_then_big_endian_id():
    framed = serde.encode_confluent(FIRST, 258)
    assert framed[:5] == b"\x00\x00\x00\x01\x02"
    assert framed[5:] == serde.encode_avro(FIRST)


def test_schemaless_decoding_of_a_framed_message_misreads_it():
    # The header shifts every field; for this record an enum index lands out of range.
    with pytest.raises(DecodeError, match=r"not Avro for this schema \(IndexError"):
        serde.decode_avro(serde.encode_confluent(FIRST, 1))


def test_decode_error_names_where_the_message_came_from():
    located = DecodeError("bad", b"\x01\x02", "fix it").at("payments", 2, 41)
    assert "payments[2]@41" in str(located)
    assert located.head_hex == "01 02"


def test_unknown_names_are_lab_errors():
    with pytest.raises(LabError, match="Unknown format 'xml'"):
        serde.make_decoder("xml")


def test_a_reader_schema_fills_in_defaults():
    record = serde.decode_avro(serde.encode_avro(FIRST), reader="transactions.v2")
    assert record["risk_score"] == 0.0
    assert record["payment_method"] == "CARD_NOT_PRESENT"
    assert record["merchant_id"] is None
    assert {k: record[k] for k in FIRST} == FIRST


def test_decode_errors_carry_no_memory_addresses():
    # Cut inside `amount`: fastavro's own message names its buffer object by address.
    with pytest.raises(DecodeError, match="cannot read double from the buffer") as err:
        serde.decode_avro(serde.encode_avro(FIRST)[:60])
    assert " at 0x" not in str(err.value)


def test_the_engines_encoder_writes_the_same_bytes_as_encode_confluent():
    """One buffer reused for every record: no record may carry bytes of the one before."""
    encode = serde.confluent_encoder(258)
    # Records of different lengths: a shorter one after a longer one must not keep its tail.
    assert len({len(serde.encode_confluent(record, 258)) for record in RECORDS}) > 1
    assert [encode(record) for record in RECORDS] == \
        [serde.encode_confluent(record, 258) for record in RECORDS]
