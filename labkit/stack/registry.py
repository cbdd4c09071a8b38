"""Apicurio Registry 3, serving the Confluent-compatible Schema Registry API."""

from __future__ import annotations

from urllib.parse import urlparse

import requests

from ..errors import StackError
from ..settings import VERSIONS, Settings
from .jvm import java_bin
from .process import Launch
from .service import Health, Service, port_open

__all__ = ["Registry"]

# Confluent Schema Registry's default; Apicurio's default is no rule at all.
DEFAULT_COMPATIBILITY = "BACKWARD"


def _origin(url: str) -> str:
    parsed = urlparse(url)
    return f"{parsed.scheme}://{parsed.netloc}"


class Registry(Service):
    name = "registry"
    title = "Schema Registry"
    needs_jvm = True
    start_timeout_s = 120.0

    def probe(self, settings: Settings) -> Health:
        host, port = settings.host_port("registry")
        if not port_open(host, port):
            return Health(False, detail="nothing listening")
        try:
            subjects = requests.get(f"{settings.registry}/subjects", timeout=5)
            subjects.raise_for_status()
            level = requests.get(f"{settings.registry}/config", timeout=5).json()
        except (requests.RequestException, ValueError) as exc:
            return Health(False, detail=f"port open but no registry answer ({exc})")
        version = "unknown"
        try:
            info = requests.get(f"{_origin(settings.registry)}/apis/registry/v3/system/info",
                                timeout=5).json()
            version = f"Apicurio {info['version']}"
        except (requests.RequestException, ValueError, KeyError):
            pass  # a Confluent registry has no such endpoint; it is still healthy
        return Health(True, version, f"{len(subjects.json())} subject(s), compatibility "
                                     f"{level.get('compatibilityLevel', '?')}")

    def require(self, settings: Settings) -> None:
        java_bin()

    def launches(self, settings: Settings) -> list[Launch]:
        host, port = settings.host_port("registry")
        jar = (settings.jvm_dir / "apicurio" /
               f"apicurio-registry-app-{VERSIONS['apicurio']}-runner.jar")
        argv = [java_bin(), "-Xms128m", "-Xmx768m",
                f"-Dquarkus.http.host={host}", f"-Dquarkus.http.port={port}",
                # In-memory H2 storage: a restart empties the registry, like the lab's topics.
                "-Dapicurio.storage.kind=sql", "-Dapicurio.storage.sql.kind=h2",
                # Enforced from the first request (docker-compose.yml sets the same) ...
                f"-Dapicurio.rules.global.compatibility={DEFAULT_COMPATIBILITY}",
                "-jar", str(jar)]
        return [Launch("registry", argv, settings.log_dir / "registry.log")]

    def after_start(self, settings: Settings) -> None:
        # ... but the ccompat `GET /config` only reports a rule set through the
        # API (it says NONE otherwise), so set it there too: what a client reads
        # back is then what the registry enforces.
        reply = requests.put(f"{settings.registry}/config",
                             json={"compatibility": DEFAULT_COMPATIBILITY}, timeout=10)
        if not reply.ok:
            raise StackError(
                f"The registry refused the global compatibility rule: HTTP {reply.status_code} "
                f"{reply.text[:200]}",
                "see `labkit stack logs registry`.",
            )
