"""The teaching helpers of labkit.lessons, without servers: notebook 01's byte anatomy and
notebook 02's encoding comparison."""

from labkit import generate, serde
from labkit.lessons import avro_bytes, encodings

FIRST = next(generate.transactions(1))


def test_read_fields_walks_a_framed_message_as_a_schemaless_reader_does():
    framed = serde.encode_confluent(FIRST, 81)
    walk = avro_bytes.read_fields(framed)
    # Three zero header bytes become three empty strings; amount takes the next 8 bytes.
    assert [(field, start, end) for field, start, end, _ in walk] == [
        ("txn_id", 0, 1), ("card_id", 1, 2), ("user_id", 2, 3), ("amount", 3, 11),
        ("currency", 11, 12)]
    assert [read for *_, read in walk[:3]] == ["", "", ""]
    assert isinstance(walk[-1][3], IndexError)  # the walk stops at the field that fails


def test_read_fields_of_a_good_message_reads_every_field_to_the_end():
    value = serde.encode_avro(FIRST)
    walk = avro_bytes.read_fields(value)
    assert {field: read for field, _, _, read in walk} == FIRST
    assert walk[-1][2] == len(value)


def test_field_at_counts_in_the_frame_when_given_the_schema_id():
    assert avro_bytes.field_at(FIRST, 0, schema_id=81) == ("header", "magic byte")
    assert avro_bytes.field_at(FIRST, 4, schema_id=81) == ("header", "schema id")
    assert avro_bytes.field_at(FIRST, 5, schema_id=81) == avro_bytes.field_at(FIRST, 0) == (
        "txn_id", "length varint")


def _lost(table, encoding):
    return {name for name, cell in table[encoding].items() if cell.endswith("✗")}


def test_the_comparison_shows_what_each_encoding_loses():
    features = {"count": 5, "flag": True, "gap_s": None, "merchant": "null"}
    declared = {"count": "int", "flag": "bool", "gap_s": "float?", "merchant": "str?"}
    table = encodings.compare(features, declared)
    assert _lost(table, "str()") == {"count", "flag", "gap_s"}
    assert _lost(table, "original fix: true/false/null") == {"count", "merchant"}
    assert _lost(table, "schema-typed") == {"merchant"}
    assert _lost(table, "JSON per field") == set()
