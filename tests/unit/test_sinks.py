import math
from datetime import datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from labkit.errors import LabError
from labkit.sinks import decode_field, encode_field

feature_values = st.one_of(st.booleans(), st.none(), st.integers(), st.floats(), st.text())


def same(a, b) -> bool:
    """Equal and of the same type (True is not 1); NaN equals NaN."""
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    return type(a) is type(b) and a == b


@given(feature_values)
def test_json_field_encoding_round_trips_every_feature_type(value):
    assert same(decode_field(encode_field("f", value).encode()), value)


def test_a_value_with_no_lossless_encoding_is_refused_by_name():
    with pytest.raises(LabError, match="Feature 'seen_at' holds a datetime"):
        encode_field("seen_at", datetime(2026, 1, 1))
