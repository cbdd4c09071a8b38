"""`labkit doctor`: every problem with its fix, and exit 1 when the stack cannot start.

No stack here: each test points LAB_* at ports where nothing of the lab runs.
"""

import socket

import pytest
from typer.testing import CliRunner

from labkit.cli import app
from labkit.settings import get_settings
from labkit.stack import doctor

runner = CliRunner()


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def nothing_running(monkeypatch):
    """Every service's address on a port nothing listens on."""
    monkeypatch.setenv("LAB_KAFKA", f"127.0.0.1:{_free_port()}")
    monkeypatch.setenv("LAB_REGISTRY", f"http://127.0.0.1:{_free_port()}")
    monkeypatch.setenv("LAB_REDIS", f"redis://127.0.0.1:{_free_port()}/0")
    monkeypatch.setenv("LAB_FLINK", f"http://127.0.0.1:{_free_port()}")


def test_a_port_held_by_something_else_fails_with_the_setting_to_change(nothing_running,
                                                                         monkeypatch):
    with socket.socket() as squatter:  # listens, and never answers like Redis
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        port = squatter.getsockname()[1]
        monkeypatch.setenv("LAB_REDIS", f"redis://127.0.0.1:{port}/0")
        result = runner.invoke(app, ["doctor", "--profile", "core"])
    assert result.exit_code == 1
    assert f"Redis: port {port}" in result.output
    assert "not a healthy Redis" in result.output and "LAB_REDIS" in result.output
    assert "Traceback" not in result.output


def test_missing_java_fails_with_how_to_install_it(nothing_running, monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))  # no java (nor anything else) on PATH
    result = runner.invoke(app, ["doctor", "--profile", "core"])
    assert result.exit_code == 1
    assert "Java is not installed" in result.output
    assert "install Java 17" in result.output


def test_too_little_memory_for_a_profile_fails_and_names_the_smaller_one():
    check = doctor._memory("flink", available=lambda: 3.0)
    assert check.status == "fail"
    assert "needs 6.5 GiB" in check.detail and "--profile core" in check.fix
    assert doctor._memory("core", available=lambda: 8.0).status == "ok"


def test_an_unknown_profile_is_a_lab_error():
    result = runner.invoke(app, ["doctor", "--profile", "huge"])
    assert result.exit_code == 1
    assert "There is no profile 'huge'" in result.output


def test_maven_without_a_jdk_fails_while_the_lab_jar_is_unbuilt(monkeypatch, tmp_path):
    """Maven compiles jvm/src with javac: a JRE alone cannot build the lab's jar."""
    fake_bin = tmp_path / "bin"
    fake_bin.mkdir()
    (fake_bin / "mvn").write_text("#!/bin/sh\n")
    (fake_bin / "mvn").chmod(0o755)
    monkeypatch.setenv("PATH", str(fake_bin))  # mvn, and no javac
    monkeypatch.setenv("LAB_HOME", str(tmp_path / "lab"))  # nothing fetched or built yet
    check = doctor._maven(get_settings())
    assert check.status == "fail"
    assert "javac" in check.detail and "openjdk-17-jdk-headless" in check.fix
