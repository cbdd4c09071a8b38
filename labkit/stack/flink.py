"""Flink: PyFlink's local mini-cluster by default, or a standalone cluster on request.

Jobs normally run in a mini-cluster inside the Python process that submits
them, so there is nothing to start. `labkit stack up --flink-cluster` starts a
real JobManager and TaskManager from the scripts inside the PyFlink wheel,
with the REST API and web UI on the LAB_FLINK port.
"""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import requests
import yaml

from ..errors import StackError
from ..settings import VERSIONS, Settings
from .jvm import java_bin
from .process import Launch
from .service import Health, Service, port_open

__all__ = ["JOB_SETTINGS", "Flink", "connector_jar", "pyflink_home", "restored_environ",
           "square_job", "submit_to_cluster"]


def pyflink_home() -> Path:
    """The installed PyFlink package: it is also a Flink distribution (bin/, conf/, lib/)."""
    spec = importlib.util.find_spec("pyflink")
    if spec is None or not spec.submodule_search_locations:
        raise StackError(
            "PyFlink is not installed in this Python environment.",
            "run `make lab` (or `pip install -e .`) to install the lab's pinned dependencies.",
        )
    return Path(next(iter(spec.submodule_search_locations)))


def connector_jar(settings: Settings) -> Path:
    """The Flink Kafka SQL connector jar that PyFlink jobs add to their classpath."""
    return (settings.jvm_dir / "flink" /
            f"flink-sql-connector-kafka-{VERSIONS['flink_kafka_connector']}.jar")


# How the lab runs PyFlink jobs, on the mini-cluster and the standalone cluster alike:
# the venv's `python` found on PATH (PATH must start with the venv's bin/: a full path
# to the venv's interpreter makes thread mode load the base interpreter, without the
# venv's packages), and a failing job retried twice, then failed instead of restarting
# forever (the default once checkpointing is on).
JOB_SETTINGS = {
    "python.executable": "python",
    "restart-strategy.type": "fixed-delay",
    "restart-strategy.fixed-delay.attempts": "2",
    "restart-strategy.fixed-delay.delay": "1 s",
}


def _nested(flat: dict[str, str]) -> dict:
    """{"a.b": 1} -> {"a": {"b": 1}}, the shape of Flink's config.yaml."""
    nested: dict = {}
    for key, value in flat.items():
        *parents, leaf = key.split(".")
        node = nested
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = value
    return nested


def _merge(base: dict, override: dict) -> dict:
    merged = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = value
    return merged


class Flink(Service):
    name = "flink"
    title = "Flink"
    needs_jvm = True
    start_timeout_s = 90.0
    rpc_port = 6123

    def __init__(self, *, cluster: bool = False) -> None:
        self.cluster = cluster

    def ports(self, settings: Settings) -> list[int]:
        return [settings.host_port("flink")[1], self.rpc_port]

    def probe(self, settings: Settings) -> Health:
        host, port = settings.host_port("flink")
        if port_open(host, port):
            return self._probe_cluster(settings)
        if self.cluster:
            return Health(False, detail="nothing listening")
        return self._probe_mini_cluster(settings)

    def _probe_cluster(self, settings: Settings) -> Health:
        try:
            config = requests.get(f"{settings.flink}/config", timeout=5).json()
            overview = requests.get(f"{settings.flink}/overview", timeout=5).json()
        except (requests.RequestException, ValueError) as exc:
            return Health(False, detail=f"port open but no Flink REST answer ({exc})")
        managers, slots = overview.get("taskmanagers", 0), overview.get("slots-total", 0)
        detail = f"standalone cluster: {managers} TaskManager(s), {slots} slot(s)"
        return Health(managers > 0, config.get("flink-version", "?"), detail)

    def _probe_mini_cluster(self, settings: Settings) -> Health:
        try:
            from pyflink.version import __version__
        except ImportError:
            return Health(False, detail="PyFlink is not installed (run `make lab`)")
        if not connector_jar(settings).exists():
            return Health(False, __version__, "Kafka connector jar missing (run `make jvm`)")
        if shutil.which("java") is None:
            return Health(False, __version__, "Java missing")
        return Health(True, __version__, "local mini-cluster, started by each job")

    def require(self, settings: Settings) -> None:
        java_bin()
        pyflink_home()

    def prepare(self, settings: Settings) -> None:
        host, port = settings.host_port("flink")
        conf = _conf_dir(settings)
        shutil.copytree(pyflink_home() / "conf", conf, dirs_exist_ok=True)
        base = yaml.safe_load((conf / "config.yaml").read_text())
        lab = {
            "jobmanager": {"bind-host": host, "rpc": {"address": host, "port": self.rpc_port},
                           "memory": {"process": {"size": "1024m"}}},
            "taskmanager": {"bind-host": host, "host": host, "numberOfTaskSlots": 2,
                            "memory": {"process": {"size": "1536m"}}},
            "rest": {"address": host, "bind-address": host, "port": port},
            # `flink run` builds jobs with this very interpreter (PATH: see _script_env).
            "python": {"client": {"executable": sys.executable}},
            "pipeline": {"jars": f"file://{connector_jar(settings)}"},
        }
        config = _merge(_merge(base, lab), _nested(JOB_SETTINGS))
        (conf / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))

    def launches(self, settings: Settings) -> list[Launch]:
        env = {**_script_env(settings), "FLINK_LOG_DIR": str(settings.log_dir / "flink"),
               "FLINK_PID_DIR": str(settings.run_dir / "flink")}
        bin_dir = pyflink_home() / "bin"
        return [Launch(f"flink-{role}", ["bash", str(bin_dir / f"{role}.sh"), "start-foreground"],
                       settings.log_dir / f"flink-{role}.log", env)
                for role in ("jobmanager", "taskmanager")]


def _conf_dir(settings: Settings) -> Path:
    return settings.data_dir / "flink" / "conf"


def _script_env(settings: Settings) -> dict[str, str]:
    """Environment for the wheel's bin/ scripts: the lab's conf dir, venv and java on PATH."""
    # The venv first so Python workers import pyflink; the scripts find `java` on PATH.
    path = [str(Path(sys.executable).parent), str(Path(java_bin()).parent), os.environ["PATH"]]
    return {"FLINK_CONF_DIR": str(_conf_dir(settings)),
            "PATH": os.pathsep.join(path)}


@contextmanager
def restored_environ() -> Iterator[None]:
    """Undo PyFlink's changes to os.environ once a job is done.

    Running a job sets FLINK_CONF_DIR, PYFLINK_GATEWAY_DISABLED, a loopback
    address and more in this process's environment. Every child started
    afterwards would inherit them; a Jupyter kernel that inherits
    PYFLINK_GATEWAY_DISABLED cannot run any PyFlink job at all.
    """
    saved = dict(os.environ)
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


def square_job(values: list[int]) -> list[int]:
    """Square `values` in a real PyFlink job on the local mini-cluster (a smoke test).

    Takes ~10 s, nearly all of it starting the mini-cluster's JVM.
    """
    with restored_environ():  # importing pyflink already sets FLINK_HOME & co.
        from pyflink.common import Configuration, Types
        from pyflink.datastream import StreamExecutionEnvironment

        config = Configuration()
        # The Python workers must import pyflink: run them with this interpreter.
        config.set_string("python.executable", sys.executable)
        env = StreamExecutionEnvironment.get_execution_environment(config)
        env.set_parallelism(1)
        squares = env.from_collection(values, type_info=Types.LONG()).map(
            lambda x: x * x, output_type=Types.LONG())
        with squares.execute_and_collect() as results:
            return sorted(results)


def submit_to_cluster(program: list[str], settings: Settings, *, timeout_s: float = 600.0) -> str:
    """`flink run` a PyFlink program (`["-py", script]` or `["-pym", module, args...]`)
    on the standalone cluster, wait for it, and return its job id."""
    bin_dir = pyflink_home() / "bin"
    host, port = settings.host_port("flink")
    env = {**os.environ, **_script_env(settings)}
    done = subprocess.run(["bash", str(bin_dir / "flink"), "run", "-m", f"{host}:{port}",
                           *program], env=env, capture_output=True, text=True,
                          timeout=timeout_s)
    match = re.search(r"JobID ([0-9a-f]{32})", done.stdout)
    if done.returncode != 0 or match is None:
        tail = "\n".join((done.stdout + done.stderr).strip().splitlines()[-10:])
        command = " ".join(program)
        raise StackError(f"`flink run {command}` failed (exit {done.returncode}):\n{tail}",
                         "start the cluster with `labkit stack up --flink-cluster` and see "
                         "`labkit stack logs flink`.")
    return match.group(1)
