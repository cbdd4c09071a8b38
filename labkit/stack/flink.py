"""Flink, the service: PyFlink's local mini-cluster by default, or a standalone cluster.

Jobs normally run in a mini-cluster inside the Python process that submits
them, so there is nothing to start. `labkit stack up --flink-cluster` starts a
real JobManager and TaskManager from the scripts inside the PyFlink wheel,
with the REST API and web UI on the LAB_FLINK port. This module starts, stops
and probes them (and kills a TaskManager on purpose); running jobs on them is
`labkit.stack.flink_jobs`, and the settings those jobs run with (the cluster's
defaults among them) are `labkit.stack.flink_settings`.

Both run Python operators in thread mode: inside the TaskManager's JVM, through
the embedded interpreter (pemja) that `flink-python` loads. On the cluster that
needs `flink-python` in the cluster's own lib/ (`_lib_dir`): `flink run -pym`
also ships it inside every job, and a job that loaded pemja from its own class
loader would hold the native library, so that every later job on the same
TaskManager failed to load it (`NoSuchFieldException: loadedLibraryNames` on
Java 17). Loaded once from lib/, pemja serves every job. The price: the
TaskManager keeps one Python interpreter for its whole life, so modules a job
imported (labkit among them) stay loaded for the next job; after changing
labkit's code, restart the cluster (`labkit stack down`, then `up`).
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import shutil
import signal
import sys
from pathlib import Path

import requests
import yaml

from ..errors import StackError
from ..polling import until
from ..settings import Settings, get_settings
from . import process
from .flink_settings import cluster_defaults
from .jvm import connector_jar, java_bin
from .process import Launch
from .service import Health, Service, port_open

__all__ = ["TASKMANAGER", "Flink", "kill_taskmanager", "pyflink_home", "rest_get", "script_env",
           "start_taskmanager"]

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
        """The standalone cluster's REST and RPC ports; a mini-cluster listens on none."""
        return [settings.host_port("flink")[1], self.rpc_port] if self.cluster else []

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
        # The servers' own settings; the jobs' are `cluster_defaults`.
        lab = {
            "jobmanager": {"bind-host": host, "rpc": {"address": host, "port": self.rpc_port},
                           "memory": {"process": {"size": "1024m"}}},
            "taskmanager": {"bind-host": host, "host": host, "numberOfTaskSlots": 2,
                            "memory": {"process": {"size": "1536m"}}},
            "rest": {"address": host, "bind-address": host, "port": port},
            # A heartbeat every 2 s, not 10: a killed TaskManager refuses the next two at
            # once (heartbeat.rpc-failure-threshold), so its jobs restart within seconds
            # instead of after the 50 s heartbeat timeout, which stays for hung ones.
            "heartbeat": {"interval": 2000},
        }
        config = _merge(_merge(base, lab), _nested(cluster_defaults(settings)))
        (conf / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))

    def launches(self, settings: Settings, *, python_bin: Path | None = None) -> list[Launch]:
        """The JobManager and TaskManager; `python_bin`: see `script_env`."""
        _fill_lib_dir(settings)
        env = {**script_env(settings, python_bin=python_bin),
               "FLINK_LOG_DIR": str(settings.log_dir / "flink"),
               "FLINK_PID_DIR": str(settings.run_dir / "flink")}
        bin_dir = pyflink_home() / "bin"
        return [Launch(f"flink-{role}", ["bash", str(bin_dir / f"{role}.sh"), "start-foreground"],
                       settings.log_dir / f"flink-{role}.log", env)
                for role in ("jobmanager", "taskmanager")]


def _conf_dir(settings: Settings) -> Path:
    return settings.data_dir / "flink" / "conf"


def _lib_dir(settings: Settings) -> Path:
    """The cluster's lib/: the wheel's own jars plus `flink-python` (thread mode)."""
    return settings.data_dir / "flink" / "lib"


def _fill_lib_dir(settings: Settings) -> None:
    """Links to every jar of the wheel's lib/ and to opt/flink-python: the scripts put
    whatever FLINK_LIB_DIR holds on the JobManager's and TaskManagers' class path."""
    lib = _lib_dir(settings)
    shutil.rmtree(lib, ignore_errors=True)
    lib.mkdir(parents=True)
    home = pyflink_home()
    for jar in [*(home / "lib").glob("*.jar"), *(home / "opt").glob("flink-python-*.jar")]:
        (lib / jar.name).symlink_to(jar)


def script_env(settings: Settings, *, python_bin: Path | None = None) -> dict[str, str]:
    """Environment for the wheel's bin/ scripts: the lab's conf dir, venv and java on PATH.

    `python_bin`: the bin/ folder of the venv whose `python` runs the jobs' Python
    (default: this process's venv).
    """
    # The venv first so jobs' Python imports pyflink; the scripts find `java` on PATH.
    python_bin = python_bin or Path(sys.executable).parent
    path = [str(python_bin), str(Path(java_bin()).parent), os.environ["PATH"]]
    return {"FLINK_CONF_DIR": str(_conf_dir(settings)), "FLINK_LIB_DIR": str(_lib_dir(settings)),
            "PATH": os.pathsep.join(path)}


def rest_get(path: str, settings: Settings) -> dict:
    """GET one resource of the JobManager's REST API."""
    try:
        answer = requests.get(f"{settings.flink}{path}", timeout=5)
        answer.raise_for_status()
        return answer.json()
    except (requests.RequestException, ValueError) as exc:
        raise StackError(f"The Flink JobManager at {settings.flink} did not answer {path} "
                         f"({exc}).", "start the cluster with `labkit stack up "
                         "--flink-cluster`.") from None


def _taskmanager_ids(settings: Settings) -> set[str]:
    """Ids of the TaskManagers the JobManager lists (a dead one stays listed until its
    heartbeat times out)."""
    return {manager["id"] for manager in rest_get("/taskmanagers", settings)["taskmanagers"]}


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

    def gone() -> bool:
        with contextlib.suppress(ChildProcessError):  # reap it if we started it
            os.waitpid(pid, os.WNOHANG)
        return process.running_pid(TASKMANAGER, settings.run_dir) is None

    until(gone, timeout_s=timeout_s, what=f"the TaskManager (pid {pid}) exited after SIGKILL",
          fix=f"check it with `ps -p {pid}`.", error=StackError)
    return pid


def start_taskmanager(settings: Settings | None = None, *, timeout_s: float = 90.0,
                      python_bin: Path | None = None) -> int:
    """Start a TaskManager for the standalone cluster, tracked like `stack up`'s; return its
    PID once it has registered with the JobManager.

    `python_bin`: the bin/ folder of the venv whose Python the TaskManager runs jobs
    with (default: this process's venv).
    """
    settings = settings or get_settings()
    if process.running_pid(TASKMANAGER, settings.run_dir) is not None:
        raise StackError("A TaskManager started by labkit is already running.",
                         "kill it first (`kill_taskmanager()`) if you want a fresh one.")
    known = _taskmanager_ids(settings)
    launch = next(launch for launch in Flink(cluster=True).launches(settings,
                                                                     python_bin=python_bin)
                  if launch.name == TASKMANAGER)
    pid = process.start(launch, settings.run_dir)

    def registered() -> bool:
        if process.running_pid(TASKMANAGER, settings.run_dir) is None:
            raise StackError(f"The new TaskManager exited during start-up; see "
                             f"{launch.log}.", "read the log; too little memory is usual.")
        return bool(_taskmanager_ids(settings) - known)

    until(registered, timeout_s=timeout_s, what="the new TaskManager registered",
          fix=f"read {launch.log}.", interval_s=0.5, error=StackError)
    return pid
