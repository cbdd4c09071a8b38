"""The decoding-based compatibility helper, on every pair of schemas in schemas/.

The expected verdicts below were worked out from the Avro specification's
schema-resolution rules, not from the helper's output:
- a reader field missing from the writer needs a default (aliases on the
  *reader's* field count as names; the writer's aliases do not);
- field types must match or be promotable (double never becomes string);
- every enum symbol the writer can write must be in the reader's enum, unless
  the reader's enum has a default symbol.
"""

from itertools import product

import pytest

from labkit import compat, schemas

V1, V11, V2 = "transactions.v1", "transactions.v1.1", "transactions.v2"
NO_DEFAULT = "transactions.v3-breaking-no-default"
RENAME = "transactions.v3-breaking-rename"
TYPE_CHANGE = "transactions.v3-breaking-type-change"
ENUM_REMOVED = "transactions.v3-breaking-enum-removed"
ALIAS = "transactions.v3-rename-alias"

# reader -> every writer whose records it can read
READS = {
    # needs mcc and a double amount; knows only 5 currencies and has no enum default
    V1: {V1},
    # v1 with an enum default: any currency resolves, but mcc and a double amount are needed
    V11: {V1, V11, V2, NO_DEFAULT, ENUM_REMOVED},
    # new fields all have defaults; 7 currencies without a default (so not v1.1's UNKNOWN)
    V2: {V1, V2, NO_DEFAULT, ENUM_REMOVED},
    # `channel` has no default: only writers that have it
    NO_DEFAULT: {NO_DEFAULT},
    # `merchant_category_code` has no default and no alias: only writers with that name
    RENAME: {RENAME, ALIAS},
    # amount must be a string: only writers of a string amount
    TYPE_CHANGE: {TYPE_CHANGE},
    # 6 currencies without CHF and without a default: writers that never write CHF/UNKNOWN
    ENUM_REMOVED: {V1, ENUM_REMOVED},
    # the alias finds `mcc` in older writers; v1.1's UNKNOWN and a string amount still fail
    ALIAS: {V1, V2, NO_DEFAULT, RENAME, ENUM_REMOVED, ALIAS},
}


def test_the_table_covers_every_schema_file():
    assert set(READS) == set(schemas.available("transactions"))


@pytest.mark.parametrize(("writer", "reader"), list(product(sorted(READS), sorted(READS))))
def test_resolution_of_every_pair_follows_the_avro_spec(writer, reader):
    result = compat.resolve(writer, reader)
    assert result.ok == (writer in READS[reader]), result.error
    assert result.ok == (result.error == "")


def test_a_failed_resolution_reports_avros_own_error():
    assert "JPY not found in reader symbol list" in compat.resolve(V2, V1).error
    assert "No default value for field channel" in compat.resolve(V2, NO_DEFAULT).error
    assert "double is not string" in compat.resolve(V2, TYPE_CHANGE).error


def test_samples_cover_every_enum_symbol():
    currencies = {record["currency"] for record in compat.samples(V2)}
    assert currencies == {"USD", "EUR", "GBP", "CAD", "AUD", "JPY", "CHF"}


def test_directions_combine_into_modes():
    # v1 -> v2: new readers read old data, old readers choke on JPY/CHF.
    assert compat.compatible(V1, V2, "BACKWARD")
    assert not compat.compatible(V1, V2, "FORWARD")
    assert not compat.compatible(V1, V2, "FULL")
    # The alias rename reads old data; old readers miss `mcc` in new data.
    assert compat.compatible(V2, ALIAS, "BACKWARD")
    assert not compat.compatible(V2, ALIAS, "FORWARD")
