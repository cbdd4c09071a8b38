"""How `labkit stack up` fails: a clear StackError and nothing left running.

Real processes and real sockets, no servers: these run without the stack.
"""

import socket

import pytest

from labkit import stack
from labkit.errors import StackError
from labkit.settings import Settings
from labkit.stack import jvm, process
from labkit.stack.kafka import Kafka
from labkit.stack.process import Launch
from labkit.stack.redis import Redis
from labkit.stack.service import Health, Service


@pytest.fixture
def busy_port():
    """A port on 127.0.0.1 held by a program that is not any of the lab's servers."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield sock.getsockname()[1]


class Sleeper(Service):
    """Starts fine and stays up, but never reports healthy."""

    name = "redis"  # borrow an endpoint field; the port is never used
    title = "Sleeper"

    def ports(self, settings):
        return []

    def probe(self, settings):
        return Health(False, detail="not ready")

    def launches(self, settings):
        return [Launch("sleeper", ["sleep", "60"], settings.log_dir / "sleeper.log")]


class Doomed(Sleeper):
    """Dies during start-up, like a server that cannot bind its port."""

    title = "Doomed"

    def launches(self, settings):
        argv = ["sh", "-c", "echo 'Address already in use'; exit 3"]
        return [Launch("doomed", argv, settings.log_dir / "doomed.log")]


def test_missing_java_names_the_cause_and_the_fix(monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(StackError) as err:
        jvm.java_bin()
    assert "Java is not installed" in err.value.cause
    assert "openjdk-17" in err.value.fix


def test_missing_maven_names_the_cause_and_the_fix(monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(StackError) as err:
        jvm.ensure_jvm_parts(Settings(home=tmp_path))
    assert "Maven is not installed" in err.value.cause
    assert "make jvm" in err.value.fix


def test_busy_port_is_refused_before_anything_starts(monkeypatch, tmp_path, busy_port):
    settings = Settings(redis=f"redis://127.0.0.1:{busy_port}/0", home=tmp_path)
    monkeypatch.setattr(stack, "services", lambda **_: [Redis()])
    monkeypatch.setattr(Redis, "require", lambda self, settings: None)  # not what is tested
    with pytest.raises(StackError) as err:
        stack.up(settings)
    assert f"Port {busy_port}" in err.value.cause
    assert "LAB_REDIS" in err.value.fix
    assert process.tracked_names(settings.run_dir) == []


def test_remote_endpoint_is_never_started_locally(tmp_path):
    settings = Settings(kafka="10.255.255.1:9092", home=tmp_path)
    with pytest.raises(StackError, match="only starts servers on this machine"):
        stack._check_can_start(Kafka(), settings)


def test_a_service_dying_at_start_rolls_back_the_others(monkeypatch, tmp_path):
    settings = Settings(home=tmp_path)
    monkeypatch.setattr(stack, "services", lambda **_: [Sleeper(), Doomed()])
    with pytest.raises(StackError) as err:
        stack.up(settings)
    assert "Doomed (doomed) exited during start-up" in err.value.cause
    assert "Address already in use" in err.value.cause
    assert process.tracked_names(settings.run_dir) == []


def test_logs_of_an_unknown_service_lists_the_known_ones(tmp_path):
    with pytest.raises(StackError, match="pick one of: cluster, flink, kafka, redis, registry"):
        stack.logs("zookeeper", Settings(home=tmp_path))


def test_a_slow_start_on_grown_data_says_how_to_reset(tmp_path):
    from labkit.settings import Settings
    from labkit.stack import GROWN_DATA_BYTES, _grown_data

    settings = Settings(home=tmp_path)
    (settings.data_dir / "kafka").mkdir(parents=True)
    log = settings.data_dir / "kafka" / "00000000000000000000.log"
    log.write_bytes(b"x" * 1000)
    assert _grown_data(settings) == ""
    with log.open("r+b") as sparse:  # as large as a grown topic, without the disk it takes
        sparse.truncate(GROWN_DATA_BYTES + 1)
    assert "2.0 GiB from earlier runs" in _grown_data(settings)
    assert "`labkit stack reset`" in _grown_data(settings)
