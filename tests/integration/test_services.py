"""Each of the four services, over a real connection to the running stack."""

import os

import pytest
import requests
from confluent_kafka.schema_registry import Schema
from confluent_kafka.schema_registry.error import SchemaRegistryError

import labkit as lk
from labkit.polling import until
from labkit.settings import VERSIONS, get_settings
from labkit.stack.flink_jobs import job_state, square_job, submit_to_cluster

pytestmark = pytest.mark.integration

RECORD_V1 = ('{"type": "record", "name": "Check", "fields": '
             '[{"name": "id", "type": "string"}]}')
# Adds a field without a default: old records cannot be read with it (not BACKWARD).
RECORD_BREAKING = ('{"type": "record", "name": "Check", "fields": '
                   '[{"name": "id", "type": "string"}, {"name": "n", "type": "int"}]}')


def test_stack_reports_every_service_healthy_with_its_version():
    versions = lk.stack.require_up()
    assert versions["kafka"] == VERSIONS["kafka"]
    assert versions["registry"] == f"Apicurio {VERSIONS['apicurio']}"
    assert versions["flink"] == VERSIONS["flink"]
    assert versions["redis"].count(".") == 2


def test_the_doctor_passes_with_the_stack_it_checks_running():
    from typer.testing import CliRunner

    from labkit.cli import app

    result = CliRunner().invoke(app, ["doctor", "--profile", "flink"])
    assert result.exit_code == 0, result.output
    assert "held by a healthy Kafka" in result.output


def test_kafka_round_trips_messages_in_order():
    topic = lk.topics.fresh_topic("it-kafka", partitions=1)
    assert lk.topics.describe(topic) == {"topic": topic, "partitions": 1,
                                         "replication_factor": 1}
    sent = [(f"card-{i}".encode(), f"payload {i}".encode()) for i in range(20)]
    assert lk.topics.produce(topic, sent) == 20
    records = lk.topics.read(topic, max_messages=100, complete=True)
    assert [(r.key, r.value) for r in records] == sent
    assert [r.offset for r in records] == list(range(20))
    assert topic in lk.topics.list_topics()


def test_read_is_bounded_by_max_messages():
    topic = lk.topics.fresh_topic("it-bounded")
    lk.topics.produce(topic, [(None, b"x")] * 5)
    assert len(lk.topics.read(topic, max_messages=3, complete=True)) == 3


def test_registry_speaks_the_confluent_api_and_rejects_breaking_changes():
    client = lk.clients.registry_client()
    subject = f"{lk.topics.run_id()}-value"
    schema_id = client.register_schema(subject, Schema(RECORD_V1, "AVRO"))
    assert client.get_versions(subject) == [1]  # by name: the list of subjects is one page
    assert '"Check"' in client.get_schema(schema_id).schema_str
    assert client.get_compatibility() == "BACKWARD"
    assert client.test_compatibility(subject, Schema(RECORD_BREAKING, "AVRO")) is False
    with pytest.raises(SchemaRegistryError) as err:
        client.register_schema(subject, Schema(RECORD_BREAKING, "AVRO"))
    assert err.value.http_status_code == 409


def test_redis_stores_and_returns_bytes():
    client = lk.clients.redis_client()
    key = f"it:{lk.topics.run_id()}"
    client.hset(key, mapping={"amount": "12.5", "country": "DE"})
    assert client.hgetall(key) == {b"amount": b"12.5", b"country": b"DE"}
    assert client.delete(key) == 1


def test_flink_mini_cluster_runs_a_python_job():
    before = dict(os.environ)
    assert square_job([3, 1, 2]) == [1, 4, 9]
    # PyFlink's own variables must not leak into processes started later (kernels, servers).
    assert dict(os.environ) == before


def test_flink_standalone_cluster_runs_a_submitted_job(tmp_path):
    settings = get_settings()
    overview = requests.get(f"{settings.flink}/overview", timeout=5).json()
    assert overview["taskmanagers"] >= 1
    script = tmp_path / "square_job.py"
    script.write_text(
        "from labkit.stack.flink_jobs import square_job\n"
        "print(square_job([1, 2, 3]))\n"
    )
    job_id = submit_to_cluster(["-py", str(script)], settings)
    ended = {"FINISHED", "FAILED", "CANCELED"}
    state = until(lambda: (now := job_state(job_id, settings)) in ended and now,
                  timeout_s=120, what=f"job {job_id} ended", interval_s=0.5)
    assert state == "FINISHED"
