"""Flink: PyFlink's local mini-cluster by default, or a standalone cluster on request.

Jobs normally run in a mini-cluster inside the Python process that submits
them, so there is nothing to start. `labkit stack up --flink-cluster` starts a
real JobManager and TaskManager from the scripts inside the PyFlink wheel,
with the REST API and web UI on the LAB_FLINK port.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import requests
import yaml

from ..errors import StackError
from ..settings import VERSIONS, Settings, get_settings
from . import process
from .jvm import java_bin
from .process import Launch
from .service import Health, Service, port_open

__all__ = ["JOB_SETTINGS", "Flink", "avro_confluent_jar", "checkpoint_counts",
           "connector_jar", "job_state", "kill_taskmanager", "pyflink_home", "restored_environ",
           "square_job", "start_taskmanager", "submit_to_cluster"]

TASKMANAGER = "flink-taskmanager"  # the name its PID file is tracked under


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


def avro_confluent_jar(settings: Settings) -> Path:
    """Flink's `avro-confluent` SQL format (with its registry client), for Flink SQL jobs.

    Version 2.2.0: Maven Central has no 2.2.1 of this artifact (see pom.xml).
    """
    return settings.jvm_dir / "flink" / "flink-sql-avro-confluent-registry-2.2.0.jar"


# How the lab runs PyFlink jobs, on the mini-cluster and the standalone cluster alike:
# the venv's `python` found on PATH (PATH must start with the venv's bin/: a full path
# to the venv's interpreter makes thread mode load the base interpreter, without the
# venv's packages), and a failing job restarted from its last checkpoint a bounded
# number of times, then failed instead of restarting forever (the default once
# checkpointing is on). 5 attempts 5 s apart: a killed TaskManager costs one attempt,
# and the restarted job then waits for slots until a new TaskManager registers; the
# spare attempts cover failures while the new one starts. A job that keeps failing
# for a real reason still fails, after ~25 s.
# Not thread mode, which only the mini-cluster uses: on a standalone TaskManager each
# job loads PyFlink's embedded interpreter (pemja) in its own class loader, and on
# Java 17 any job after the first fails with `NoSuchFieldException: loadedLibraryNames`.
JOB_SETTINGS = {
    "python.executable": "python",
    "restart-strategy.type": "fixed-delay",
    "restart-strategy.fixed-delay.attempts": "5",
    "restart-strategy.fixed-delay.delay": "5 s",
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


def submit_to_cluster(program: list[str], settings: Settings, *, detached: bool = False,
                      timeout_s: float = 600.0) -> str:
    """`flink run` a PyFlink program (`["-py", script]` or `["-pym", module, args...]`)
    on the standalone cluster and return its job id: once the job has ended, or, if
    `detached`, as soon as the cluster has accepted it (follow it with `job_state`)."""
    bin_dir = pyflink_home() / "bin"
    host, port = settings.host_port("flink")
    env = {**os.environ, **_script_env(settings)}
    done = subprocess.run(["bash", str(bin_dir / "flink"), "run", "-m", f"{host}:{port}",
                           *(["-d"] if detached else []), *program], env=env,
                          capture_output=True, text=True, timeout=timeout_s)
    match = re.search(r"JobID ([0-9a-f]{32})", done.stdout)
    if done.returncode != 0 or match is None:
        tail = "\n".join((done.stdout + done.stderr).strip().splitlines()[-10:])
        command = " ".join(program)
        raise StackError(f"`flink run {command}` failed (exit {done.returncode}):\n{tail}",
                         "start the cluster with `labkit stack up --flink-cluster` and see "
                         "`labkit stack logs flink`.")
    return match.group(1)


def _rest(path: str, settings: Settings) -> dict:
    """GET one resource of the JobManager's REST API."""
    try:
        answer = requests.get(f"{settings.flink}{path}", timeout=5)
        answer.raise_for_status()
        return answer.json()
    except (requests.RequestException, ValueError) as exc:
        raise StackError(f"The Flink JobManager at {settings.flink} did not answer {path} "
                         f"({exc}).", "start the cluster with `labkit stack up "
                         "--flink-cluster`.") from None


def job_state(job_id: str, settings: Settings | None = None) -> str:
    """The job's state on the standalone cluster: RUNNING, RESTARTING, FINISHED, FAILED..."""
    return _rest(f"/jobs/{job_id}", settings or get_settings())["state"]


def checkpoint_counts(job_id: str, settings: Settings | None = None) -> dict[str, int]:
    """The job's checkpoints so far: `completed`, `failed`, `in_progress`, `total`, and
    `restored` (how many times the job restarted from one)."""
    return _rest(f"/jobs/{job_id}/checkpoints", settings or get_settings())["counts"]


def _taskmanager_ids(settings: Settings) -> set[str]:
    """Ids of the TaskManagers the JobManager lists (a dead one stays listed until its
    heartbeat times out)."""
    return {manager["id"] for manager in _rest("/taskmanagers", settings)["taskmanagers"]}


def kill_taskmanager(settings: Settings | None = None, *, timeout_s: float = 10.0) -> int:
    """SIGKILL the standalone cluster's TaskManager (the one labkit tracks); return its PID.

    A crash, not a shutdown: no chance to finish anything, as when a machine dies.
    Running jobs fail and restart from their last completed checkpoint once a
    TaskManager is back (`start_taskmanager`).
    """
    settings = settings or get_settings()
    pid = process.running_pid(TASKMANAGER, settings.run_dir)
    if pid is None:
        raise StackError("No TaskManager started by labkit is running.",
                         "start one with `start_taskmanager()` (or `labkit stack up "
                         "--flink-cluster`).")
    # Its own process group: the JVM and the Python it runs, nothing else.
    os.killpg(pid, signal.SIGKILL)
    deadline = time.monotonic() + timeout_s
    while process.running_pid(TASKMANAGER, settings.run_dir) is not None:
        if time.monotonic() > deadline:
            raise StackError(f"TaskManager (pid {pid}) still runs {timeout_s:.0f} s after "
                             "SIGKILL.", f"check it with `ps -p {pid}`.")
        with contextlib.suppress(ChildProcessError):  # reap it if we started it
            os.waitpid(pid, os.WNOHANG)
        time.sleep(0.1)
    return pid


def start_taskmanager(settings: Settings | None = None, *, timeout_s: float = 90.0) -> int:
    """Start a TaskManager for the standalone cluster, tracked like `stack up`'s; return its
    PID once it has registered with the JobManager."""
    settings = settings or get_settings()
    if process.running_pid(TASKMANAGER, settings.run_dir) is not None:
        raise StackError("A TaskManager started by labkit is already running.",
                         "kill it first (`kill_taskmanager()`) if you want a fresh one.")
    known = _taskmanager_ids(settings)
    launch = next(launch for launch in Flink(cluster=True).launches(settings)
                  if launch.name == TASKMANAGER)
    pid = process.start(launch, settings.run_dir)
    deadline = time.monotonic() + timeout_s
    while not _taskmanager_ids(settings) - known:
        if process.running_pid(TASKMANAGER, settings.run_dir) is None:
            raise StackError(f"The new TaskManager exited during start-up; see "
                             f"{launch.log}.", "read the log; too little memory is usual.")
        if time.monotonic() > deadline:
            raise StackError(f"The new TaskManager did not register within {timeout_s:.0f} s.",
                             f"read {launch.log}.")
        time.sleep(0.5)
    return pid
