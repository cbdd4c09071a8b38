from pathlib import Path

import pytest

from labkit.errors import LabError
from labkit.settings import Settings, get_settings


def test_defaults_are_loopback_endpoints(monkeypatch):
    for name in ("LAB_KAFKA", "LAB_REGISTRY", "LAB_REDIS", "LAB_FLINK", "LAB_HOME"):
        monkeypatch.delenv(name, raising=False)
    settings = get_settings()
    assert settings.host_port("kafka") == ("127.0.0.1", 9092)
    assert settings.host_port("registry") == ("127.0.0.1", 8081)
    assert settings.host_port("redis") == ("127.0.0.1", 6379)
    assert settings.host_port("flink") == ("127.0.0.1", 8082)
    assert settings.registry.endswith("/apis/ccompat/v7")


def test_environment_overrides_each_endpoint(monkeypatch, tmp_path):
    monkeypatch.setenv("LAB_KAFKA", "localhost:19092")
    monkeypatch.setenv("LAB_REGISTRY", "http://localhost:18081/apis/ccompat/v7/")
    monkeypatch.setenv("LAB_REDIS", "redis://localhost:16379/2")
    monkeypatch.setenv("LAB_FLINK", "http://localhost:18082")
    monkeypatch.setenv("LAB_HOME", str(tmp_path))
    settings = get_settings()
    assert settings.host_port("kafka") == ("localhost", 19092)
    assert settings.registry == "http://localhost:18081/apis/ccompat/v7"  # trailing / dropped
    assert settings.host_port("redis") == ("localhost", 16379)
    assert settings.host_port("flink") == ("localhost", 18082)
    assert settings.run_dir == Path(tmp_path) / "run"


def test_derived_folders_live_under_home(tmp_path):
    settings = Settings(home=tmp_path)
    assert {settings.jvm_dir, settings.run_dir, settings.log_dir, settings.data_dir} == {
        tmp_path / "jvm", tmp_path / "run", tmp_path / "logs", tmp_path / "data"}


@pytest.mark.parametrize(("variable", "value", "shape"), [
    ("LAB_KAFKA", "127.0.0.1:abc", "host:port"),
    ("LAB_KAFKA", "127.0.0.1:9092,127.0.0.1:0", "host:port"),
    ("LAB_REDIS", "redis://127.0.0.1:99999/0", "redis://host:port/db"),
    ("LAB_REDIS", "127.0.0.1:6379", "redis://host:port/db"),
    ("LAB_REDIS", "redis://127.0.0.1:6379/zero", "redis://host:port/db"),
    ("LAB_REGISTRY", "127.0.0.1:8081/apis/ccompat/v7", "http://host:port/path"),
    ("LAB_FLINK", "http://127.0.0.1:80a2", "http://host:port"),
])
def test_a_malformed_endpoint_is_named_with_its_value_and_shape(monkeypatch, variable, value,
                                                                 shape):
    monkeypatch.setenv(variable, value)
    with pytest.raises(LabError) as err:
        get_settings()
    assert f"{variable}={value!r}" in err.value.cause
    assert f"set {variable} as {shape}" in err.value.fix


def test_every_malformed_endpoint_is_reported_at_once(monkeypatch):
    monkeypatch.setenv("LAB_KAFKA", "127.0.0.1:abc")
    monkeypatch.setenv("LAB_REDIS", "redis://127.0.0.1:99999/0")
    with pytest.raises(LabError) as err:
        get_settings()
    assert "LAB_KAFKA" in err.value.cause and "LAB_REDIS" in err.value.cause
    assert "LAB_REGISTRY" not in err.value.cause


def test_a_bootstrap_list_is_accepted_and_its_first_server_probed():
    settings = Settings(kafka="127.0.0.1:9092, 127.0.0.1:9094")
    assert settings.host_port("kafka") == ("127.0.0.1", 9092)


def test_a_flink_cluster_dials_the_same_services_unless_told_otherwise(monkeypatch):
    from labkit.settings import get_settings

    monkeypatch.setenv("LAB_KAFKA", "127.0.0.1:19092")
    assert get_settings().for_flink_cluster("kafka") == "127.0.0.1:19092"
    monkeypatch.setenv("LAB_KAFKA_FROM_FLINK", "kafka:29092")
    monkeypatch.setenv("LAB_REGISTRY_FROM_FLINK", "http://registry:8080/apis/ccompat/v7/")
    settings = get_settings()
    assert settings.for_flink_cluster("kafka") == "kafka:29092"
    assert settings.for_flink_cluster("registry") == "http://registry:8080/apis/ccompat/v7"
    assert settings.kafka == "127.0.0.1:19092"  # this machine still dials its own address


def test_a_malformed_from_flink_address_is_named(monkeypatch):
    import pytest

    from labkit.errors import LabError
    from labkit.settings import get_settings

    monkeypatch.setenv("LAB_KAFKA_FROM_FLINK", "kafka:port")
    with pytest.raises(LabError, match="LAB_KAFKA_FROM_FLINK='kafka:port'"):
        get_settings()
