"""tests/unit needs no live stack, and proves it: while a unit test is collected or runs,
the lab's services cannot be reached, so a test that needs one fails at once, by name.

Three fences, because clients reach the services three ways:

- Environment: every LAB_* endpoint points at its own port on 127.0.0.1 that is bound
  but never listens (any connection is refused at once), and LAB_HOME at an empty
  folder. This reaches what no Python patch can: librdkafka's C threads, and the
  subprocesses and JVMs a test starts. An empty LAB_HOME also means no unit test sees,
  or could stop, the processes of a stack that happens to be running.
- Sockets: a Python socket that connects to any port of the lab's services (the lab's
  defaults, the LAB_* endpoints this run was started with, and the refused ports above)
  fails the test (Redis, the schema registry and Flink's REST API are reached this way).
- Kafka clients: a Producer, Consumer or AdminClient whose bootstrap servers are such a
  port fails the test as it is made, before librdkafka starts dialling (it would only
  log "Connection refused" and retry until a timeout).

A refusal raises `pytest.fail`'s exception, which `except Exception` cannot swallow, and is
also recorded: a refusal in a thread of the test still fails the test when its phase ends.
Connections to other ports (a scratch redis-server or a stub server on a free port, port 1
where nothing listens) are allowed: they are not the stack.
"""

from __future__ import annotations

import os
import shutil
import socket
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

import confluent_kafka
import confluent_kafka.admin
import pytest

from labkit import stack
from labkit.errors import LabError
from labkit.settings import REPO_ROOT, Settings, get_settings

UNIT_DIR = Path(__file__).resolve().parent
REPO = str(REPO_ROOT)
# Every variable labkit.settings reads; each is replaced while unit tests run.
LAB_VARIABLES = ("LAB_KAFKA", "LAB_REGISTRY", "LAB_REDIS", "LAB_FLINK", "LAB_HOME",
                 "LAB_KAFKA_FROM_FLINK", "LAB_REGISTRY_FROM_FLINK")
MOVE_IT = ("tests/unit runs without the stack: move this test to tests/integration (marked "
           "`integration`), or give it a fake client or a server of its own on a free port.")


def _is_unit(item: pytest.Item | None) -> bool:
    return item is not None and item.path.is_relative_to(UNIT_DIR)


def _lab_ports(settings: list[Settings]) -> dict[int, str]:
    """port -> the lab's service that uses it, for every port the stack binds."""
    return {port: service.title for each in settings
            for service in stack.services(flink_cluster=True, cluster=True)
            for port in service.ports(each)}


def _bootstrap_ports(servers: str) -> set[int]:
    ports = set()
    for server in servers.split(","):
        with suppress(ValueError):
            ports.add(int(server.strip().rpartition(":")[2]))
    return ports


def _may_bind_kafka(name: str, space: dict) -> bool:
    """A module that may make Kafka clients: labkit's, confluent_kafka's, or one from this
    repository (tests, exercises, graders; a learner's module has no package)."""
    return (name.startswith(("labkit", "confluent_kafka", "lab_"))
            or str(space.get("__file__", "")).startswith(REPO))


class StackGuard:
    """The three fences; `install()` and `remove()` are idempotent."""

    def __init__(self) -> None:
        self.violations: list[str] = []
        self.active = False
        self.ports: dict[int, str] = {}
        self._held: list[socket.socket] = []  # the refused ports: bound, never listening
        self._home = ""
        self._saved_env: dict[str, str | None] = {}
        # socket.socket's own connect and connect_ex, unguarded
        self.original_connect = (socket.socket.connect, socket.socket.connect_ex)
        self._kafka_classes = self._guarded_kafka_classes()

    # -- the fences ------------------------------------------------------------------------

    def refuse(self, what: str) -> None:
        self.violations.append(what)
        pytest.fail(f"{what}\n{MOVE_IT}")

    def _check_address(self, sock: socket.socket, address: object) -> None:
        if (self.active and sock.family in (socket.AF_INET, socket.AF_INET6)
                and isinstance(address, tuple) and address[1] in self.ports):
            self.refuse(f"A unit test connected to {address[0]}:{address[1]}, a port of the "
                        f"lab's {self.ports[address[1]]}.")

    def _guarded_kafka_classes(self) -> dict[type, type]:
        """original class -> a subclass that refuses the lab's brokers as it is made."""
        guard = self

        def guarded(original: type) -> type:
            def __init__(self, *args, **kwargs):
                config = {**(args[0] if args and isinstance(args[0], dict) else {}), **kwargs}
                servers = str(config.get("bootstrap.servers", ""))
                if guard.active and (lab := _bootstrap_ports(servers) & set(guard.ports)):
                    guard.refuse(f"A unit test made a Kafka {original.__name__} for "
                                 f"{servers!r}, a port of the lab's "
                                 f"{guard.ports[min(lab)]}.")
                original.__init__(self, *args, **kwargs)

            return type(original.__name__, (original,),
                        {"__init__": __init__, "__module__": __name__,
                         "__qualname__": original.__qualname__})

        return {original: guarded(original) for original in (
            confluent_kafka.Producer, confluent_kafka.Consumer, confluent_kafka.admin.AdminClient)}

    def _swap(self, replace: dict[type, type]) -> None:
        """Rebind every module global that is a key of `replace` (wherever a module did
        `from confluent_kafka import Producer`), and the names in confluent_kafka itself,
        so modules imported later bind the replacement."""
        for module_name, module in list(sys.modules.items()):
            space = getattr(module, "__dict__", None)
            if not (isinstance(space, dict) and _may_bind_kafka(module_name, space)):
                continue
            for name, value in list(space.items()):
                if isinstance(value, type) and value in replace:
                    space[name] = replace[value]

    # -- in and out --------------------------------------------------------------------------

    def install(self) -> None:
        if self.active:
            return
        self._saved_env = {name: os.environ.get(name) for name in LAB_VARIABLES}
        try:
            started_with = [get_settings()]
        except LabError:  # a malformed LAB_* variable: its test says so; guard the defaults
            started_with = []
        if not self._held:
            for _ in range(4):
                held = socket.socket()
                held.bind(("127.0.0.1", 0))
                self._held.append(held)
            self._home = tempfile.mkdtemp(prefix="lab-unit-home-")
        kafka, registry, redis, flink = (held.getsockname()[1] for held in self._held)
        for name in LAB_VARIABLES:
            os.environ.pop(name, None)
        os.environ.update({"LAB_KAFKA": f"127.0.0.1:{kafka}",
                           "LAB_REGISTRY": f"http://127.0.0.1:{registry}/apis/ccompat/v7",
                           "LAB_REDIS": f"redis://127.0.0.1:{redis}/0",
                           "LAB_FLINK": f"http://127.0.0.1:{flink}",
                           "LAB_HOME": self._home})
        # A refused port is reported as the service it stands for.
        self.ports = {**_lab_ports([Settings(), *started_with]), **{
            port: f"{title} (the refused port {variable} points at in unit tests)"
            for port, title, variable in [(kafka, "Kafka", "LAB_KAFKA"),
                                          (registry, "Schema Registry", "LAB_REGISTRY"),
                                          (redis, "Redis", "LAB_REDIS"),
                                          (flink, "Flink", "LAB_FLINK")]}}
        connect, connect_ex = self.original_connect
        guard = self

        def guarded_connect(sock, address):
            guard._check_address(sock, address)
            return connect(sock, address)

        def guarded_connect_ex(sock, address):
            guard._check_address(sock, address)
            return connect_ex(sock, address)

        socket.socket.connect, socket.socket.connect_ex = guarded_connect, guarded_connect_ex
        self._swap(self._kafka_classes)
        self.active = True

    def remove(self) -> None:
        if not self.active:
            return
        self.active = False  # a guarded class still bound somewhere now acts as the original
        socket.socket.connect, socket.socket.connect_ex = self.original_connect
        self._swap({guarded: original for original, guarded in self._kafka_classes.items()})
        for name, value in self._saved_env.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value

    def close(self) -> None:
        self.remove()
        for held in self._held:
            held.close()
        if self._home:
            shutil.rmtree(self._home, ignore_errors=True)

    @contextmanager
    def refusals(self) -> Iterator[list[str]]:
        """The refusals made inside the block, which then fail no test (for the guard's own
        tests: a refusal they provoke on purpose)."""
        before = len(self.violations)
        seen: list[str] = []
        try:
            yield seen
        finally:
            seen += self.violations[before:]
            del self.violations[before:]

    @contextmanager
    def phase(self) -> Iterator[None]:
        """Fail the phase for a refusal recorded during it that it did not already fail for
        (one in another thread, or one some code caught and dropped)."""
        before = len(self.violations)
        yield
        new = self.violations[before:]
        if new:
            pytest.fail("\n".join(new) + f"\n{MOVE_IT}", pytrace=False)


GUARD = StackGuard()


@pytest.fixture
def stack_guard() -> StackGuard:
    """The guard itself, for the test that checks it refuses what it should."""
    return GUARD


# -- where the guard is up: collecting a unit test module, and running unit tests ---------------

@pytest.hookimpl(wrapper=True)
def pytest_make_collect_report(collector: pytest.Collector):
    if not (isinstance(collector, pytest.Module) and collector.path.is_relative_to(UNIT_DIR)):
        return (yield)
    GUARD.install()  # module-level code runs without the stack too
    try:
        return (yield)
    finally:
        GUARD.remove()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_setup(item: pytest.Item):
    GUARD.install()  # stays up from one unit test to the next, threads and all
    with GUARD.phase():
        return (yield)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item):
    with GUARD.phase():
        return (yield)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_teardown(item: pytest.Item, nextitem: pytest.Item | None):
    try:
        with GUARD.phase():
            return (yield)
    finally:
        if not _is_unit(nextitem):  # an integration test or a notebook next: the real stack
            GUARD.remove()


def pytest_unconfigure(config: pytest.Config) -> None:
    GUARD.close()
