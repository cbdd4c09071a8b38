"""tests/unit/conftest.py keeps the lab's stack out of reach while unit tests run: checked
here, so the guard cannot quietly stop guarding (and tests/unit quietly start needing the
stack)."""

from __future__ import annotations

import contextlib
import socket
import subprocess
import sys
import threading

import pytest
from confluent_kafka import Consumer, Producer

from labkit import clients
from labkit.settings import REPO_ROOT, get_settings

REFUSED = pytest.fail.Exception  # what the guard raises: `except Exception` does not catch it
LAB_DEFAULT_PORTS = {9092, 9093, 8081, 6379, 8082, 6123}


def test_every_endpoint_is_a_refused_port_and_the_home_is_not_the_labs(stack_guard):
    settings = get_settings()
    _, unguarded_connect_ex = stack_guard.original_connect
    for service in ("kafka", "registry", "redis", "flink"):
        host, port = settings.host_port(service)
        assert host == "127.0.0.1" and port not in LAB_DEFAULT_PORTS, service
        with socket.socket() as probe:  # nothing listens there (the guard's own check aside)
            assert unguarded_connect_ex(probe, (host, port)) != 0, service
    assert not settings.home.is_relative_to(REPO_ROOT)  # no pid file of a running stack


def test_a_subprocess_gets_the_same_environment():
    shown = subprocess.run([sys.executable, "-c", "from labkit.settings import get_settings; "
                            "print(get_settings().kafka)"], capture_output=True, text=True,
                           check=True, cwd=REPO_ROOT)
    assert shown.stdout.strip() == get_settings().kafka


def test_a_kafka_client_for_the_labs_brokers_fails_as_it_is_made(stack_guard):
    with stack_guard.refusals() as refused:
        for make in (clients.producer, clients.consumer, clients.admin):
            with pytest.raises(REFUSED, match="made a Kafka"):
                make()
        # The lab's default port, whatever LAB_KAFKA says, and a class bound before the guard.
        for kind in (Producer, Consumer):
            with pytest.raises(REFUSED, match="localhost:9092', a port of the lab's Kafka"):
                kind({"bootstrap.servers": "localhost:9092", "group.id": "g"})
    assert len(refused) == 5


def test_redis_the_registry_and_any_port_of_the_lab_are_refused(stack_guard):
    with stack_guard.refusals() as refused:
        with pytest.raises(REFUSED, match="lab's Redis"):
            clients.redis_client().ping()
        with pytest.raises(REFUSED, match="lab's Schema Registry"):
            clients.registry_client().get_subjects()
        for port in sorted(LAB_DEFAULT_PORTS):
            with pytest.raises(REFUSED, match=f"127.0.0.1:{port}, a port of the lab's"):
                socket.create_connection(("127.0.0.1", port), timeout=1)
    assert len(refused) == 2 + len(LAB_DEFAULT_PORTS)


def test_a_refusal_in_another_thread_is_recorded_for_the_test(stack_guard):
    def swallow() -> None:
        with contextlib.suppress(BaseException):  # a thread that hides every error
            clients.redis_client().ping()

    with stack_guard.refusals() as refused:
        thread = threading.Thread(target=swallow)
        thread.start()
        thread.join()
    assert refused and "lab's Redis" in refused[0]


def test_a_server_of_the_tests_own_is_not_the_stack():
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        with socket.create_connection(server.getsockname(), timeout=1):
            pass
