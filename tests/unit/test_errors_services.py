"""A registry or Redis that does not answer is a ServiceUnavailable with cause and fix.

Nothing listens on 127.0.0.1:1, so these need no stack and touch no real service.
"""

import pytest
import redis
from confluent_kafka.schema_registry import SchemaRegistryClient
from confluent_kafka.schema_registry.error import SchemaRegistryError

from labkit import clients, generate, schemas, serde
from labkit.errors import DecodeError, ServiceUnavailable
from labkit.sinks import RedisFeatureSink

NOWHERE_REGISTRY = "http://127.0.0.1:1/apis/ccompat/v7"
FIRST = next(iter(generate.transactions(1)))
SCHEMA_V1 = schemas.text("transactions.v1")


@pytest.fixture
def no_registry(monkeypatch) -> SchemaRegistryClient:
    """LAB_REGISTRY points at a closed port; the client returned gives up without retrying."""
    monkeypatch.setenv("LAB_REGISTRY", NOWHERE_REGISTRY)
    return SchemaRegistryClient({"url": NOWHERE_REGISTRY, "max.retries": 0})


def _says_registry_is_down(err: pytest.ExceptionInfo, doing: str) -> None:
    assert not isinstance(err.value, DecodeError)
    assert f"The schema registry at {NOWHERE_REGISTRY} failed while {doing}" in err.value.cause
    assert "ConnectError" in err.value.cause
    assert "labkit stack status" in err.value.fix and "labkit stack up" in err.value.fix


def test_an_unreachable_registry_does_not_dead_letter_a_good_message(no_registry):
    decode = serde.ConfluentDecoder(no_registry)
    with pytest.raises(ServiceUnavailable) as err:
        decode(serde.encode_confluent(FIRST, 7))
    _says_registry_is_down(err, "looking up schema id 7")


def test_registering_with_an_unreachable_registry(no_registry):
    with pytest.raises(ServiceUnavailable) as err:
        schemas.register("payments-value", registry=no_registry)
    _says_registry_is_down(err, "registering transactions.v1 under 'payments-value'")


def test_a_confluent_encoder_with_an_unreachable_registry(monkeypatch, no_registry):
    # The lab's client retries for about 2 s first, then raises the same error.
    monkeypatch.setattr(clients, "registry_client", lambda: no_registry)  # what register asks
    with pytest.raises(ServiceUnavailable) as err:
        serde.make_encoder("confluent", topic="payments")
    _says_registry_is_down(err, "registering transactions.v1 under 'payments-value'")


class _Registry:
    """Answers get_schema with the given errors in turn, then with transactions.v1."""

    def __init__(self, *errors: SchemaRegistryError) -> None:
        self.errors = list(errors)

    def get_schema(self, schema_id):
        if self.errors:
            raise self.errors.pop(0)
        return type("Found", (), {"schema_str": SCHEMA_V1})()

    def register_schema(self, subject, schema):
        raise self.errors.pop(0)


def test_a_failing_registry_is_retried_not_remembered(monkeypatch):
    monkeypatch.setenv("LAB_REGISTRY", NOWHERE_REGISTRY)
    decode = serde.ConfluentDecoder(_Registry(SchemaRegistryError(503, 50003, "starting")))
    message = serde.encode_confluent(FIRST, 7)
    with pytest.raises(ServiceUnavailable, match=r"\(HTTP 503: starting\)"):
        decode(message)
    assert decode(message) == FIRST  # the registry is back: the same message decodes


def test_a_404_that_is_not_an_unknown_schema_is_the_registry_s_trouble(monkeypatch):
    monkeypatch.setenv("LAB_REGISTRY", NOWHERE_REGISTRY)
    # What a LAB_REGISTRY with a wrong path gets: a 404 with no registry error code.
    decode = serde.ConfluentDecoder(_Registry(SchemaRegistryError(404, -1, None)))
    with pytest.raises(ServiceUnavailable, match=r"\(HTTP 404: no message\)"):
        decode(serde.encode_confluent(FIRST, 7))


def test_an_unknown_schema_id_stays_final():
    decode = serde.ConfluentDecoder(_Registry(SchemaRegistryError(404, 40403, "not found")))
    for _ in range(2):  # the second time from memory: no request per bogus message
        with pytest.raises(DecodeError, match="schema id 7 is not in the registry"):
            decode(serde.encode_confluent(FIRST, 7))


def test_the_registry_refusing_a_schema_stays_its_answer():
    refused = SchemaRegistryError(409, 409, "incompatible")
    with pytest.raises(SchemaRegistryError) as err:
        schemas.register("payments-value", registry=_Registry(refused))
    assert err.value is refused


def test_an_unreachable_redis_on_read_says_what_to_do(monkeypatch):
    # Built from pieces, so this file holds no secret-looking string (test_security scans it).
    monkeypatch.setenv("LAB_REDIS", "redis://lab:" + "s3cret@127.0.0.1:1/0")
    with pytest.raises(ServiceUnavailable) as err:
        RedisFeatureSink().read_features("card-0001")
    assert "Redis at redis://127.0.0.1:1/0 did not answer while reading 'features:card-0001'" \
        in err.value.cause
    assert "ConnectionError" in err.value.cause
    assert "s3cret" not in str(err.value)
    assert "labkit stack up" in err.value.fix


def test_an_unreachable_redis_on_write_raises_redis_own_error_for_the_engine(monkeypatch):
    monkeypatch.setenv("LAB_REDIS", "redis://127.0.0.1:1/0")
    with pytest.raises(redis.ConnectionError):
        RedisFeatureSink().write_latest([{"card_id": "card-0001", "feature_ts": 1}])
