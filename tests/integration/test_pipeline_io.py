"""Generated transactions through real Kafka, the real registry and real Redis."""

import pytest
import redis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import labkit as lk
from labkit import generate, serde
from labkit.lessons.redis_types import write_features_naive
from labkit.serde import DecodeError
from labkit.sinks import RedisFeatureSink

pytestmark = pytest.mark.integration

COUNT = 300


@pytest.mark.parametrize("fmt", ["json", "avro", "confluent"])
def test_each_format_decodes_back_to_the_generated_records(fmt):
    topic = lk.topics.fresh_topic(f"it-{fmt}")
    assert generate.produce(topic, COUNT, fmt=fmt) == COUNT
    records = lk.topics.read(topic, max_messages=COUNT, timeout_s=30, complete=True)
    decoded = serde.decode_records(records, serde.make_decoder(fmt))
    expected = list(generate.transactions(COUNT))
    assert len(decoded) == COUNT
    for got, want in zip(decoded, expected, strict=True):
        assert got == want  # every field, including the timestamp in epoch ms
    assert [r.key.decode() for r in records] == [t["card_id"] for t in expected]


def test_an_unknown_schema_id_is_a_clear_error_from_the_live_registry():
    first = next(generate.transactions(1))
    with pytest.raises(DecodeError, match="schema id 987654 is not in the registry"):
        serde.ConfluentDecoder()(serde.encode_confluent(first, 987654))


def test_a_decode_error_carries_topic_partition_and_offset():
    topic = lk.topics.fresh_topic("it-where")
    generate.produce(topic, 3, fmt="avro")
    records = lk.topics.read(topic, max_messages=3)
    with pytest.raises(DecodeError, match=rf"{topic}\[0\]@0"):
        serde.decode_records(records, serde.make_decoder("confluent"))


def test_the_naive_redis_write_fails_like_production():
    client = lk.clients.redis_client()
    key = f"it:{lk.topics.run_id()}"
    with pytest.raises(redis.DataError, match=r"Invalid input of type: 'bool'\. Convert to a "
                                              r"bytes, string, int or float first\."):
        write_features_naive(client, key, {"is_high_velocity": True})
    with pytest.raises(redis.DataError, match="Invalid input of type: 'NoneType'"):
        write_features_naive(client, key, {"seconds_since_prev": None})


feature_records = st.dictionaries(
    st.text(max_size=20),
    st.one_of(st.booleans(), st.none(), st.integers(), st.floats(allow_nan=False), st.text()),
    max_size=12)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(features=feature_records)
def test_the_sink_round_trips_any_feature_record_through_live_redis(features):
    sink = RedisFeatureSink(key_prefix=f"it:{lk.topics.run_id()}:")
    sink.write("card-0001", features)
    back = sink.read_features("card-0001")
    assert back == features
    # == alone would accept 1 for True: the types must survive too.
    assert {k: type(v) for k, v in back.items()} == {k: type(v) for k, v in features.items()}
    sink.client.delete(sink.key("card-0001"))


def test_a_rewrite_replaces_the_whole_record():
    sink = RedisFeatureSink(key_prefix=f"it:{lk.topics.run_id()}:")
    sink.write_many([("card-0001", {"old": 1, "kept": True}), ("card-0002", {"x": None})])
    sink.write("card-0001", {"kept": False})
    assert sink.read_features("card-0001") == {"kept": False}
    assert sink.read_features("card-0002") == {"x": None}


def test_round_trips_counts_one_per_command_and_one_per_pipeline():
    trips = lk.lessons.redis_types.RoundTrips()
    assert trips.count == 0  # connecting is not counted
    prefix = f"it:{lk.topics.run_id()}:"
    RedisFeatureSink(trips.client, key_prefix=prefix, batch_size=2).write_many(
        [(f"card-{i}", {"n": i}) for i in range(5)])
    assert trips.count == 3  # batches of 2, 2 and 1 cards
    trips.client.delete(*trips.client.keys(f"{prefix}*"))
    assert trips.count == 5


def test_stored_measures_each_encoding_on_live_redis():
    client = lk.clients.redis_client()
    prefix = f"it:{lk.topics.run_id()}:"
    features = {"flag": False, "gap_s": None, "merchant": "null", "count": 12}
    declared = {"flag": "bool", "gap_s": "float?", "merchant": "str?", "count": "int"}
    stored = lk.lessons.encodings.stored(client, features, declared, key_prefix=prefix).set_index(
        ["encoding", "feature"])
    assert stored.loc[("JSON per field", "merchant"), "stored_bytes"] == len('"null"')
    assert stored.loc[("str()", "flag"), "stored_bytes"] == len("False")
    assert stored.xs("JSON per field")["lossless"].all()
    assert not stored.loc[("original fix: true/false/null", "merchant"), "lossless"]
    client.delete(*client.keys(f"{prefix}*"))
