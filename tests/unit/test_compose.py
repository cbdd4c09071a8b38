"""docker-compose.yml cannot start here (no Docker engine), so check it statically:
the same services, versions and host ports as the embedded stack, on loopback only,
and a `cluster` profile laid out as the embedded Kafka cluster."""

import base64
import re
import tomllib
import xml.etree.ElementTree as ET

import pytest
import yaml

from labkit.settings import REPO_ROOT, VERSIONS, Settings

COMPOSE = yaml.safe_load((REPO_ROOT / "docker-compose.yml").read_text())
SERVICES = COMPOSE["services"]
# What `docker compose up -d` starts: the services in no profile.
DEFAULT_SERVICES = {name: service for name, service in SERVICES.items()
                    if not service.get("profiles")}
# What `docker compose --profile cluster up -d` adds.
CLUSTER_SERVICES = {name: service for name, service in SERVICES.items()
                    if "cluster" in service.get("profiles", [])}
# The embedded cluster's brokers, node 1 first (LAB_CLUSTER's default).
CLUSTER_DEFAULT = Settings().cluster


def _host_ports(service: dict) -> list[tuple[str, int]]:
    bindings = []
    for spec in service.get("ports", []):
        host, host_port, _container = spec.split(":")
        bindings.append((host, int(host_port)))
    return bindings


def test_the_five_services_are_there():
    assert set(DEFAULT_SERVICES) == {"kafka", "registry", "redis", "flink-jobmanager",
                                     "flink-taskmanager"}


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
    for name, service in CLUSTER_SERVICES.items():
        assert service["image"] == f"apache/kafka:{VERSIONS['kafka']}", name


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


# ---- The `cluster` profile: three brokers on a three-controller quorum ----

def _env(service: dict) -> dict:
    return service.get("environment", {})


def _listeners(service: dict, key: str) -> dict[str, tuple[str, int]]:
    """KAFKA_LISTENERS or KAFKA_ADVERTISED_LISTENERS as {name: (host, port)}."""
    listeners = {}
    for listener in _env(service)[key].split(","):
        name, address = listener.split("://")
        host, _, port = address.rpartition(":")
        listeners[name] = (host, int(port))
    return listeners


def _published(service: dict) -> dict[int, tuple[str, int]]:
    """{container port: (host address, host port)} of a service's published ports."""
    published = {}
    for spec in service.get("ports", []):
        host, host_port, container_port = spec.split(":")
        published[int(container_port)] = (host, int(host_port))
    return published


def _by_role(role: str) -> dict[int, tuple[str, dict]]:
    """The cluster's nodes with that process.roles, by node id: {id: (name, service)}."""
    return {int(_env(service).get("KAFKA_NODE_ID", -1)): (name, service)
            for name, service in CLUSTER_SERVICES.items()
            if _env(service).get("KAFKA_PROCESS_ROLES") == role}


CONTROLLERS = _by_role("controller")
BROKERS = _by_role("broker")


def test_the_cluster_profile_is_three_controllers_and_three_brokers():
    assert sorted(CONTROLLERS) == [101, 102, 103]
    assert sorted(BROKERS) == [1, 2, 3]
    assert len(CLUSTER_SERVICES) == 6  # nothing else, no node with both roles
    for name, service in CLUSTER_SERVICES.items():
        assert service["profiles"] == ["cluster"], name


def test_the_default_services_start_without_the_cluster_profile():
    assert DEFAULT_SERVICES and not set(DEFAULT_SERVICES) & set(CLUSTER_SERVICES)
    assert set(DEFAULT_SERVICES) | set(CLUSTER_SERVICES) == set(SERVICES)
    for name, service in DEFAULT_SERVICES.items():
        for other in service.get("depends_on", {}):
            assert other in DEFAULT_SERVICES, (name, other)  # or `up -d` could not start it


def test_node_ids_are_unique_across_the_cluster():
    ids = [_env(service).get("KAFKA_NODE_ID") for service in CLUSTER_SERVICES.values()]
    assert None not in ids
    assert len(ids) == len(set(ids)) == 6


def test_every_node_names_the_three_controllers_as_the_quorum():
    expected = ",".join(f"{node_id}@{name}:9093" for node_id, (name, _) in
                        sorted(CONTROLLERS.items()))
    assert expected == "101@controller-1:9093,102@controller-2:9093,103@controller-3:9093"
    for name, service in CLUSTER_SERVICES.items():
        assert _env(service)["KAFKA_CONTROLLER_QUORUM_VOTERS"] == expected, name
    for name, service in CONTROLLERS.values():
        assert _listeners(service, "KAFKA_LISTENERS") == {"CONTROLLER": ("", 9093)}, name


def test_all_nodes_share_one_cluster_id():
    # The image formats each node's storage with CLUSTER_ID; nodes with different ids
    # cannot form one cluster.
    ids = {_env(service).get("CLUSTER_ID") for service in CLUSTER_SERVICES.values()}
    assert len(ids) == 1 and None not in ids
    (cluster_id,) = ids
    assert len(base64.urlsafe_b64decode(cluster_id + "==")) == 16


def test_controllers_publish_nothing_and_advertise_nothing():
    # The image refuses to start a controller-only node that has KAFKA_ADVERTISED_LISTENERS.
    for name, service in CONTROLLERS.values():
        assert "ports" not in service, name
        assert "KAFKA_ADVERTISED_LISTENERS" not in _env(service), name


def test_each_broker_is_published_at_the_embedded_clusters_address_for_it():
    embedded = [(host, int(port)) for host, port in
                (address.rsplit(":", 1) for address in CLUSTER_DEFAULT.split(","))]
    assert embedded == [("127.0.0.1", 9192), ("127.0.0.1", 9292), ("127.0.0.1", 9392)]
    for node_id, (name, service) in BROKERS.items():
        bound = _listeners(service, "KAFKA_LISTENERS")["HOST"]
        assert _published(service)[bound[1]] == embedded[node_id - 1], name


def test_brokers_advertise_to_the_host_the_address_it_dials():
    for name, service in BROKERS.values():
        published = _published(service)
        bound = _listeners(service, "KAFKA_LISTENERS")
        advertised = _listeners(service, "KAFKA_ADVERTISED_LISTENERS")
        assert set(bound) == set(advertised) == {"HOST", "INTERNAL", "PROXIED"}, name
        assert advertised["HOST"] == published[bound["HOST"][1]], name
        # INTERNAL: inside the compose network, by service name (other brokers, Flink).
        assert advertised["INTERNAL"] == (name, bound["INTERNAL"][1]), name
        assert _env(service)["KAFKA_INTER_BROKER_LISTENER_NAME"] == "INTERNAL", name
        protocols = dict(pair.split(":") for pair in
                         _env(service)["KAFKA_LISTENER_SECURITY_PROTOCOL_MAP"].split(","))
        assert set(protocols) == set(bound) | {"CONTROLLER"}, name


def test_the_proxied_listener_is_advertised_one_port_above_where_it_is_bound():
    # A lab tool on the host proxies 9N95 -> 9N94 to lose a produce response on purpose.
    for node_id, (name, service) in BROKERS.items():
        _, port = _listeners(service, "KAFKA_LISTENERS")["PROXIED"]
        assert port == 9094 + 100 * node_id, name  # 9N94
        assert _published(service)[port] == ("127.0.0.1", port), name
        assert _listeners(service, "KAFKA_ADVERTISED_LISTENERS")["PROXIED"] == (
            "127.0.0.1", port + 1), name


@pytest.mark.parametrize(("setting", "value"), [
    ("KAFKA_DEFAULT_REPLICATION_FACTOR", "3"),
    ("KAFKA_MIN_INSYNC_REPLICAS", "2"),
    ("KAFKA_UNCLEAN_LEADER_ELECTION_ENABLE", "false"),
    ("KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR", "3"),
    ("KAFKA_TRANSACTION_STATE_LOG_REPLICATION_FACTOR", "3"),
    ("KAFKA_TRANSACTION_STATE_LOG_MIN_ISR", "2"),
    ("KAFKA_SHARE_COORDINATOR_STATE_TOPIC_REPLICATION_FACTOR", "3"),
    ("KAFKA_SHARE_COORDINATOR_STATE_TOPIC_MIN_ISR", "2"),
    ("KAFKA_GROUP_INITIAL_REBALANCE_DELAY_MS", "0"),
    ("KAFKA_NUM_PARTITIONS", "1"),
    ("KAFKA_BROKER_HEARTBEAT_INTERVAL_MS", "500"),
    ("KAFKA_BROKER_SESSION_TIMEOUT_MS", "4000"),
])
def test_every_cluster_node_has_the_cluster_defaults(setting, value):
    # On the controllers too: in KRaft they create topics, elect leaders and fence brokers
    # from their own configuration.
    for name, service in CLUSTER_SERVICES.items():
        assert _env(service).get(setting) == value, name


def test_cluster_nodes_have_health_checks_and_brokers_wait_for_the_quorum():
    for name, service in CLUSTER_SERVICES.items():
        assert service["healthcheck"]["test"], name
    controllers = {name for name, _ in CONTROLLERS.values()}
    for name, service in BROKERS.values():
        depends_on = service["depends_on"]
        assert set(depends_on) == controllers, name
        assert {dep["condition"] for dep in depends_on.values()} == {"service_healthy"}, name


def test_every_cluster_node_has_the_embedded_clusters_settings():
    """The same topic defaults, liveness and election settings as labkit/stack/cluster.py
    gives its six nodes (in the image's KAFKA_<NAME> form)."""
    from labkit.stack.cluster import CLUSTER_DEFAULTS, ELECTIONS, LIVENESS

    wanted = {f"KAFKA_{key.upper().replace('.', '_')}": value
              for key, value in {**CLUSTER_DEFAULTS, **LIVENESS, **ELECTIONS}.items()}
    for name, service in CLUSTER_SERVICES.items():
        environment = {key: str(value) for key, value in service["environment"].items()}
        assert {key: environment.get(key) for key in wanted} == wanted, name
