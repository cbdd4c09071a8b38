"""docker-compose.yml cannot start here (no Docker engine), so check it statically:
the same services, versions and host ports as the embedded stack, on loopback only."""

import re
import tomllib
import xml.etree.ElementTree as ET

import pytest
import yaml

from labkit.settings import REPO_ROOT, VERSIONS, Settings

COMPOSE = yaml.safe_load((REPO_ROOT / "docker-compose.yml").read_text())
SERVICES = COMPOSE["services"]


def _host_ports(service: dict) -> list[tuple[str, int]]:
    bindings = []
    for spec in service.get("ports", []):
        host, host_port, _container = spec.split(":")
        bindings.append((host, int(host_port)))
    return bindings


def test_the_five_services_are_there():
    assert set(SERVICES) == {"kafka", "registry", "redis", "flink-jobmanager", "flink-taskmanager"}


@pytest.mark.parametrize(("service", "endpoint"), [
    ("kafka", "kafka"), ("registry", "registry"), ("redis", "redis"),
    ("flink-jobmanager", "flink"),
])
def test_host_ports_match_the_embedded_defaults(service, endpoint):
    assert _host_ports(SERVICES[service]) == [Settings().host_port(endpoint)]


def test_every_port_is_published_on_loopback_only():
    for name, service in SERVICES.items():
        for host, _port in _host_ports(service):
            assert host == "127.0.0.1", name


def test_image_tags_match_the_embedded_versions():
    assert SERVICES["kafka"]["image"] == f"apache/kafka:{VERSIONS['kafka']}"
    assert SERVICES["registry"]["image"] == f"apicurio/apicurio-registry:{VERSIONS['apicurio']}"
    assert SERVICES["flink-jobmanager"]["image"] == f"streaming-lab/flink:{VERSIONS['flink']}"
    assert SERVICES["flink-taskmanager"]["image"] == SERVICES["flink-jobmanager"]["image"]


def test_flink_dockerfile_builds_the_pinned_versions():
    dockerfile = (REPO_ROOT / SERVICES["flink-jobmanager"]["build"]["dockerfile"]).read_text()
    assert f"ARG FLINK_VERSION={VERSIONS['flink']}" in dockerfile
    assert f"ARG KAFKA_CONNECTOR_VERSION={VERSIONS['flink_kafka_connector']}" in dockerfile
    assert "FROM python:3.11" in dockerfile


def test_servers_have_health_checks_and_start_in_order():
    for name in ("kafka", "registry", "redis", "flink-jobmanager"):
        assert SERVICES[name]["healthcheck"]["test"], name
    assert SERVICES["flink-jobmanager"]["depends_on"]["kafka"]["condition"] == "service_healthy"
    assert (SERVICES["flink-taskmanager"]["depends_on"]["flink-jobmanager"]["condition"]
            == "service_healthy")


def test_registry_enforces_backward_compatibility_like_the_embedded_one():
    env = SERVICES["registry"]["environment"]
    assert env["APICURIO_RULES_GLOBAL_COMPATIBILITY"] == "BACKWARD"


def test_pom_fetches_the_same_jvm_versions():
    ns = {"m": "http://maven.apache.org/POM/4.0.0"}
    props = ET.parse(REPO_ROOT / "pom.xml").getroot().find("m:properties", ns)
    assert props.find("m:kafka.version", ns).text == VERSIONS["kafka"]
    assert props.find("m:apicurio.version", ns).text == VERSIONS["apicurio"]
    assert (props.find("m:flink.kafka.connector.version", ns).text
            == VERSIONS["flink_kafka_connector"])


def test_pyproject_pins_the_same_pyflink():
    deps = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    assert f"apache-flink=={VERSIONS['flink']}" in deps
    # The connector release must be the one built for this Flink minor version.
    flink_minor = re.match(r"\d+\.\d+", VERSIONS["flink"]).group(0)
    assert VERSIONS["flink_kafka_connector"].endswith(f"-{flink_minor}")


DOCKERFILE = (REPO_ROOT / "docker" / "flink.Dockerfile").read_text()
INSTRUCTIONS = [line for line in DOCKERFILE.splitlines()
                if line.strip() and not line.lstrip().startswith("#")]


def test_the_flink_image_names_no_architecture():
    # amd64-only paths (JAVA_HOME=/usr/lib/jvm/java-17-openjdk-amd64) break on arm64 hosts.
    for line in INSTRUCTIONS:
        assert not re.search(r"amd64|arm64|x86_64|aarch64", line), line
    assert "ENV JAVA_HOME=/opt/java-home" in INSTRUCTIONS
    assert any("readlink -f" in line and "/opt/java-home" in line for line in INSTRUCTIONS)


def test_the_flink_image_installs_labkit_from_the_project_wheel():
    # The TaskManager's Python workers import the job's code (labkit) and its pinned
    # dependencies; PyFlink comes with them, pinned by pyproject.toml, not separately.
    assert "COPY labkit /src/labkit" in INSTRUCTIONS
    assert any("pip wheel" in line and "/src" in line for line in INSTRUCTIONS)
    assert any("pip install" in line and "labkit-*.whl" in line for line in INSTRUCTIONS)
    assert not any(re.search(r"pip install .*apache-flink", line) for line in INSTRUCTIONS)
    ignored = (REPO_ROOT / ".dockerignore").read_text().split()
    assert {".lab", ".venv"} <= set(ignored)  # gigabytes the build must not upload


def test_the_taskmanager_dials_the_services_inside_the_compose_network():
    env = SERVICES["flink-taskmanager"]["environment"]
    kafka = SERVICES["kafka"]["environment"]
    internal = dict(listener.split("://") for listener in
                    kafka["KAFKA_ADVERTISED_LISTENERS"].split(","))["INTERNAL"]
    assert env["LAB_KAFKA"] == internal == "kafka:29092"
    registry_port = SERVICES["registry"]["ports"][0].split(":")[-1]
    assert env["LAB_REGISTRY"] == f"http://registry:{registry_port}/apis/ccompat/v7"
    assert env["LAB_REDIS"] == "redis://redis:6379/0"
    for value in env.values():
        assert "127.0.0.1" not in value and "localhost" not in value


def test_jobs_for_the_cluster_name_the_broker_and_registry_as_the_cluster_reaches_them(
        monkeypatch):
    from labkit.engines.flink_sql import _decoded, _source_ddl
    from labkit.engines.flink_tables import kafka_table
    from labkit.settings import get_settings

    env = SERVICES["flink-taskmanager"]["environment"]
    monkeypatch.setenv("LAB_KAFKA_FROM_FLINK", env["LAB_KAFKA"])
    monkeypatch.setenv("LAB_REGISTRY_FROM_FLINK", env["LAB_REGISTRY"])
    settings = get_settings()
    on_cluster = kafka_table("t", "payments", ["`v` BYTES"], {}, on_cluster=True)
    assert "'properties.bootstrap.servers' = 'kafka:29092'" in on_cluster
    local = kafka_table("t", "payments", ["`v` BYTES"], {})  # a mini-cluster job, on this host
    assert f"'properties.bootstrap.servers' = '{settings.kafka}'" in local
    sql = _source_ddl("payments", settings, 30, True, on_cluster=True)
    assert f"'{env['LAB_REGISTRY']}', " in sql  # the registry the JVM decoder asks
    assert "'properties.bootstrap.servers' = 'kafka:29092'" in sql
    assert f"'{env['LAB_REGISTRY']}', " in _decoded(settings, on_cluster=True)
