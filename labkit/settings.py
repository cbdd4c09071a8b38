"""Lab-wide configuration: endpoints, versions and where the stack keeps its files.

Every value has a lab default and can be overridden by an environment variable,
so the same notebooks run against the embedded stack, a compose stack or
anything else that speaks the same protocols.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlparse

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


@dataclass(frozen=True)
class Settings:
    """Where each service lives. Build one with `get_settings()`."""

    kafka: str = "127.0.0.1:9092"
    registry: str = "http://127.0.0.1:8081/apis/ccompat/v7"
    redis: str = "redis://127.0.0.1:6379/0"
    flink: str = "http://127.0.0.1:8082"
    home: Path = field(default=REPO_ROOT / ".lab")

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
        """The (host, port) a service listens on, parsed from its endpoint."""
        endpoint = getattr(self, service)
        if "://" not in endpoint:
            endpoint = f"tcp://{endpoint}"
        parsed = urlparse(endpoint)
        return parsed.hostname or "127.0.0.1", parsed.port or 0


def get_settings() -> Settings:
    """Settings from the environment: LAB_KAFKA, LAB_REGISTRY, LAB_REDIS, LAB_FLINK, LAB_HOME."""
    defaults = Settings()
    return Settings(
        kafka=os.environ.get("LAB_KAFKA", defaults.kafka),
        registry=os.environ.get("LAB_REGISTRY", defaults.registry).rstrip("/"),
        redis=os.environ.get("LAB_REDIS", defaults.redis),
        flink=os.environ.get("LAB_FLINK", defaults.flink).rstrip("/"),
        home=Path(os.environ.get("LAB_HOME", defaults.home)),
    )
