"""Schema evolution against the live registry and broker."""

from collections import Counter

import pytest

import labkit as lk
from labkit import compat, generate, schemas, serde

pytestmark = pytest.mark.integration

BREAKING = [name for name in schemas.available("transactions") if "breaking" in name]


def test_v1_then_v2_register_and_every_breaking_schema_gets_409():
    subject = f"{lk.topics.run_id()}-value"
    registry = lk.clients.registry_client()
    v1_id = schemas.register(subject, "transactions.v1", registry)
    v2_id = schemas.register(subject, "transactions.v2", registry)
    assert v1_id != v2_id
    assert len(BREAKING) == 4
    table = compat.try_register(subject, BREAKING, registry)
    assert list(table["http"]) == [409] * len(BREAKING)
    assert all(reason.startswith("Incompatible artifact") for reason in table["registry says"])
    assert len(registry.get_versions(subject)) == 2


def test_the_registry_agrees_with_decoding_on_every_pair_and_mode():
    names = schemas.available("transactions")
    verdicts = compat.matrix(names).merge(compat.registry_matrix(names),
                                          on=["old", "new", "mode"])
    assert len(verdicts) == 3 * len(names) * (len(names) - 1)
    disagreements = verdicts[verdicts["decodes"] != verdicts["registry"]]
    assert disagreements.empty, disagreements.to_string()


def test_a_mixed_version_topic_decodes_through_the_wire_format():
    topic = lk.topics.fresh_topic("it-mixed")
    generate.produce(topic, 100, fmt="confluent", schema="transactions.v1")
    generate.produce(topic, 100, fmt="confluent", schema="transactions.v2")
    records = lk.topics.read(topic, max_messages=200, complete=True)
    as_written = serde.decode_records(records, serde.ConfluentDecoder())
    assert as_written[:100] == list(generate.transactions(100))
    assert as_written[100:] == list(generate.transactions(100, schema="transactions.v2"))
    as_v2 = serde.decode_records(records, serde.ConfluentDecoder(reader="transactions.v2"))
    assert Counter(len(record) for record in as_v2) == {18: 200}
    assert as_v2[0]["payment_method"] == "CARD_NOT_PRESENT"  # a v2 default for a v1 message


def test_a_v1_reader_fails_on_the_first_new_currency_and_v1_1_survives():
    topic = lk.topics.fresh_topic("it-forward")
    generate.produce(topic, 200, fmt="confluent", schema="transactions.v2")
    records = lk.topics.read(topic, max_messages=200, complete=True)
    first_new = next(i for i, r in enumerate(generate.transactions(200, schema="transactions.v2"))
                     if r["currency"] in {"JPY", "CHF"})
    expected = rf"@{first_new}: the writer's schema does not resolve.* not found in reader symbol"
    with pytest.raises(serde.DecodeError, match=expected):
        serde.decode_records(records, serde.ConfluentDecoder(reader="transactions.v1"))
    survived = serde.decode_records(records, serde.ConfluentDecoder(reader="transactions.v1.1"))
    assert "UNKNOWN" in {record["currency"] for record in survived}
