"""Lab-wide configuration: endpoints, versions and where the stack keeps its files.

Every value has a lab default and can be overridden by an environment variable,
so the same notebooks run against the embedded stack, a compose stack or
anything else that speaks the same protocols.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple
from urllib.parse import urlparse

from .errors import LabError

__all__ = ["VERSIONS", "Settings", "get_settings"]

REPO_ROOT = Path(__file__).resolve().parents[1]

# What the embedded stack runs. pom.xml fetches these JVM versions and
# docker-compose.yml uses the same ones (tests/unit/test_compose.py checks).
VERSIONS = {
    "kafka": "4.1.1",
    "apicurio": "3.0.9",
    "flink": "2.2.1",
    "flink_kafka_connector": "5.0.0-2.2",
}


class Endpoint(NamedTuple):
    variable: str  # the environment variable that overrides it
    schemes: tuple[str, ...]  # the URL schemes its client takes (none: bare host:port)
    shape: str  # what a good value looks like, for error messages


# Kafka takes bare host:port pairs, a comma-separated bootstrap list, as librdkafka does.
# `cluster` is the three-broker cluster of chapter 09 (`labkit stack up --profile cluster`),
# which runs beside the single broker: broker N on port 9N92.
BOOTSTRAP_LISTS = ("kafka", "cluster")
ENDPOINTS = {
    "kafka": Endpoint("LAB_KAFKA", (), "host:port[,host:port...], e.g. 127.0.0.1:9092"),
    "cluster": Endpoint("LAB_CLUSTER", (),
                        "host:port,host:port,host:port, e.g. 127.0.0.1:9192,127.0.0.1:9292,"
                        "127.0.0.1:9392"),
    "registry": Endpoint("LAB_REGISTRY", ("http", "https"),
                         "http://host:port/path, e.g. http://127.0.0.1:8081/apis/ccompat/v7"),
    "redis": Endpoint("LAB_REDIS", ("redis", "rediss", "unix"),
                      "redis://host:port/db, e.g. redis://127.0.0.1:6379/0"),
    "flink": Endpoint("LAB_FLINK", ("http", "https"),
                      "http://host:port, e.g. http://127.0.0.1:8082"),
}


def _url(endpoint: str) -> str:
    """The endpoint as a URL urlparse can split (a bare host:port gets a placeholder scheme)."""
    return endpoint if "://" in endpoint else f"tcp://{endpoint}"


def _endpoint_problem(service: str, endpoint: str) -> str:
    """What is wrong with a service's endpoint ('' if nothing)."""
    schemes = ENDPOINTS[service].schemes
    for part in endpoint.split(",") if service in BOOTSTRAP_LISTS else [endpoint]:
        parsed = urlparse(_url(part.strip()))
        if schemes and parsed.scheme not in schemes:
            return f"it must start with {' or '.join(f'{scheme}://' for scheme in schemes)}"
        try:
            port = parsed.port
        except ValueError:  # urlparse: not an integer, or out of range
            port = 0
        if port == 0:
            return f"port {parsed.netloc.rpartition(':')[2]!r} is not a number from 1 to 65535"
        database = parsed.path.lstrip("/")
        if service == "redis" and parsed.scheme != "unix" and not re.fullmatch(r"\d*", database):
            return f"the database {database!r} is not a number"
    return ""


@dataclass(frozen=True)
class Settings:
    """Where each service lives. Build one with `get_settings()`.

    Endpoints are checked as settings are made, so every malformed LAB_* variable
    is reported at once, by name, rather than as a bare ValueError inside a client.
    """

    kafka: str = "127.0.0.1:9092"
    cluster: str = "127.0.0.1:9192,127.0.0.1:9292,127.0.0.1:9392"
    registry: str = "http://127.0.0.1:8081/apis/ccompat/v7"
    redis: str = "redis://127.0.0.1:6379/0"
    flink: str = "http://127.0.0.1:8082"
    home: Path = field(default=REPO_ROOT / ".lab")
    # Where a Flink *cluster* dials Kafka and the registry when that is not where this
    # machine does (a cluster inside compose: kafka:29092). Empty: the same address.
    kafka_from_flink: str = ""
    registry_from_flink: str = ""

    def __post_init__(self) -> None:
        bad = [(where, getattr(self, service), problem) for service, where in ENDPOINTS.items()
               if (problem := _endpoint_problem(service, getattr(self, service)))]
        bad += [(Endpoint(f"{where.variable}_FROM_FLINK", where.schemes, where.shape), value,
                 problem) for service, where in ENDPOINTS.items()
                if (value := getattr(self, f"{service}_from_flink", ""))
                and (problem := _endpoint_problem(service, value))]
        if bad:
            raise LabError(
                "Malformed endpoint setting: " + "; ".join(
                    f"{where.variable}={value!r} ({problem})" for where, value, problem in bad),
                "; ".join(f"set {where.variable} as {where.shape}" for where, _, _ in bad) + ".")

    def for_flink_cluster(self, service: str) -> str:
        """The `kafka` or `registry` endpoint as a job on the Flink cluster must dial it."""
        return getattr(self, f"{service}_from_flink") or getattr(self, service)

    @property
    def jvm_dir(self) -> Path:
        return self.home / "jvm"

    @property
    def run_dir(self) -> Path:
        return self.home / "run"

    @property
    def log_dir(self) -> Path:
        return self.home / "logs"

    @property
    def data_dir(self) -> Path:
        return self.home / "data"

    def host_port(self, service: str) -> tuple[str, int]:
        """The (host, port) a service listens on (Kafka: its first bootstrap server)."""
        parsed = urlparse(_url(getattr(self, service).split(",")[0].strip()))
        return parsed.hostname or "127.0.0.1", parsed.port or 0


def get_settings() -> Settings:
    """Settings from the environment: LAB_KAFKA, LAB_CLUSTER, LAB_REGISTRY, LAB_REDIS,
    LAB_FLINK, LAB_HOME, and for a Flink cluster that reaches Kafka and the registry
    elsewhere (compose), LAB_KAFKA_FROM_FLINK and LAB_REGISTRY_FROM_FLINK."""
    defaults = Settings()
    return Settings(
        kafka=os.environ.get("LAB_KAFKA", defaults.kafka),
        cluster=os.environ.get("LAB_CLUSTER", defaults.cluster),
        registry=os.environ.get("LAB_REGISTRY", defaults.registry).rstrip("/"),
        redis=os.environ.get("LAB_REDIS", defaults.redis),
        flink=os.environ.get("LAB_FLINK", defaults.flink).rstrip("/"),
        home=Path(os.environ.get("LAB_HOME", defaults.home)),
        kafka_from_flink=os.environ.get("LAB_KAFKA_FROM_FLINK", ""),
        registry_from_flink=os.environ.get("LAB_REGISTRY_FROM_FLINK", "").rstrip("/"),
    )
