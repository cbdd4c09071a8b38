import copy

import pytest

from labkit import schemas
from labkit.errors import LabError


@pytest.mark.parametrize("name", schemas.available())
def test_every_schema_in_the_repo_passes_the_lint(name):
    assert schemas.lint(schemas.load(name)) == []


def test_the_lint_catches_a_logical_type_on_the_field():
    broken = schemas.load("transactions.v1")
    field = next(f for f in broken["fields"] if f["name"] == "timestamp")
    field.update(type="long", logicalType="timestamp-millis")
    [problem] = schemas.lint(broken)
    assert "'timestamp'" in problem
    assert "where Avro ignores it" in problem


def test_the_lint_looks_inside_nested_records():
    inner = {"type": "record", "name": "Inner",
             "fields": [{"name": "at", "type": "long", "logicalType": "timestamp-millis"}]}
    outer = {"type": "record", "name": "Outer", "fields": [{"name": "inner", "type": inner}]}
    assert len(schemas.lint(outer)) == 1


def test_the_v1_timestamp_is_a_logical_type_on_the_type():
    field = next(f for f in schemas.load("transactions.v1")["fields"] if f["name"] == "timestamp")
    assert field["type"] == {"type": "long", "logicalType": "timestamp-millis"}


def test_conform_fills_defaults_follows_aliases_and_fits_types():
    v1 = {"txn_id": "t", "card_id": "c", "user_id": "u", "amount": 1.5, "currency": "USD",
          "mcc": "6011", "device_id": "d", "ip_address": "1.2.3.4", "geo_country": None,
          "geo_city": None, "timestamp": 0, "is_fraud": False, "metadata": {}}
    alias = schemas.conform(copy.deepcopy(v1), "transactions.v3-rename-alias")
    assert alias["merchant_category_code"] == "6011"
    assert alias["payment_method"] == "CARD_NOT_PRESENT"
    assert schemas.conform(v1, "transactions.v3-breaking-type-change")["amount"] == "1.5"
    assert schemas.conform(v1, "transactions.v3-breaking-no-default")["channel"] == ""


def test_an_unknown_schema_name_lists_the_known_ones():
    with pytest.raises(LabError, match=r"use one of: .*transactions\.v1"):
        schemas.load("transactions.v9")
