"""What every service of the embedded stack has in common.

A `Service` knows how to check the real server over a real connection
(`probe`), what it needs on the machine (`require`), and how to run it as a
local process (`prepare` + `launches`). `labkit.stack` orchestrates them.
"""

from __future__ import annotations

import socket
from dataclasses import dataclass

from ..settings import Settings
from .process import Launch

__all__ = ["Health", "Service", "port_open"]


@dataclass(frozen=True)
class Health:
    """The result of probing one service."""

    ok: bool
    version: str = ""
    detail: str = ""


def port_open(host: str, port: int, *, timeout_s: float = 0.5) -> bool:
    """True if something accepts TCP connections on host:port."""
    try:
        with socket.create_connection((host, port), timeout=timeout_s):
            return True
    except OSError:
        return False


class Service:
    """Base class: override what differs. `name` is also the settings field of its endpoint."""

    name: str = ""
    title: str = ""
    start_timeout_s: float = 90.0
    needs_jvm: bool = False  # runs from jars that pom.xml fetches

    def endpoint(self, settings: Settings) -> str:
        return getattr(settings, self.name)

    def ports(self, settings: Settings) -> list[int]:
        """Every port the embedded server binds; each must be free before it starts."""
        return [settings.host_port(self.name)[1]]

    def ports_to_start(self, settings: Settings) -> list[int]:
        """The ports that must be free for `launches` to start (all of them, unless a
        service restarts only its parts that are down)."""
        return self.ports(settings)

    def probe(self, settings: Settings) -> Health:
        """Talk to the server at its endpoint and report whether it answers as expected."""
        raise NotImplementedError

    def require(self, settings: Settings) -> None:
        """Raise StackError if this machine lacks what the embedded server needs."""

    def prepare(self, settings: Settings) -> None:
        """Write config files and format storage before the first start."""

    def launches(self, settings: Settings) -> list[Launch]:
        """The processes that make up the embedded server."""
        raise NotImplementedError

    def after_start(self, settings: Settings) -> None:
        """Configure a freshly started server (runs once it is healthy)."""
