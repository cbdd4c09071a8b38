"""Running PyFlink jobs: on the local mini-cluster or the standalone cluster, and following them.

`pyflink_job()` is the one way into PyFlink (it says how to install it when it
is missing, undoes what PyFlink does to os.environ, and turns a job's failure
into a LabError: its root cause in one line, the whole Java error in a log
file); `submit_to_cluster` runs `flink run` against the standalone cluster;
`job_state`, `checkpoint_counts`, `records_per_subtask`, `wait_for_checkpoint`
and `wait_for_job` follow a job there through the JobManager's REST API.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from ..errors import LabError, StackError
from ..polling import until
from ..settings import REPO_ROOT, Settings, get_settings
from . import flink_settings
from .flink import pyflink_home, rest_get, script_env

__all__ = ["ENDED", "checkpoint_counts", "job_state", "pyflink_job", "records_per_subtask",
           "restored_environ", "root_cause", "square_job", "submit_to_cluster",
           "wait_for_checkpoint", "wait_for_job"]

ENDED = {"FINISHED", "FAILED", "CANCELED"}


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


@contextmanager
def pyflink_job() -> Iterator[None]:
    """Where a job is built and run in this process: PyFlink importable, os.environ restored.

    The venv's bin/ goes first on PATH: the job settings run Python workers as
    `python` found on PATH (see `flink_settings.JOB_SETTINGS`).
    """
    with restored_environ():
        os.environ["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"
        try:
            import pyflink  # noqa: F401  (only to check it imports)
            from py4j.protocol import Py4JJavaError
            from pyflink.util.exceptions import JavaException
        except ImportError as exc:
            raise LabError(f"PyFlink is not importable ({exc}).",
                           "run `make lab` to install the lab's pinned apache-flink.") from None
        try:
            yield
        except (Py4JJavaError, JavaException) as failure:
            raise _failed(str(failure)) from None


def root_cause(java_error: str) -> str:
    """The innermost cause of a Java error's text (its last "Caused by:" line, else its
    first line), without the exception class's package: what went wrong, in one line.
    An innermost cause with no message of its own ("EOFException") keeps the one it
    caused, which says what was being done."""
    lines = [line.strip() for line in java_error.splitlines() if line.strip()]
    causes = [_unqualified(line.removeprefix("Caused by: ")) for line in lines
              if line.startswith("Caused by:")] or [_unqualified(lines[0] if lines
                                                                 else "no error text")]
    root = causes[-1]
    if ":" not in root and len(causes) > 1:
        root = f"{causes[-2]} ({root})"
    return root if len(root) <= 300 else root[:297] + "..."


def _unqualified(cause: str) -> str:
    """java.io.IOException: ... -> IOException: ..."""
    return re.sub(r"^(?:[a-z_$][\w$]*\.)+(?=[A-Z])", "", cause)


def _failed(java_error: str) -> LabError:
    """A job's failure as a LabError; its whole Java error appended to a log file, since
    the one line of the LabError leaves the rest out."""
    log = get_settings().log_dir / "flink-job-errors.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("a") as out:
        out.write(f"--- {time.strftime('%Y-%m-%d %H:%M:%S')}\n{java_error}\n")
    shown = log.relative_to(REPO_ROOT) if log.is_relative_to(REPO_ROOT) else log
    return LabError(f"The Flink job failed: {root_cause(java_error)}",
                    f"the whole Java error is at the end of {shown} (in the lab's folder); "
                    "check the stack with `labkit stack status`.")


def square_job(values: list[int]) -> list[int]:
    """Square `values` in a real PyFlink job on the local mini-cluster (a smoke test).

    It runs with the lab's job settings (`flink_settings.lab_job`: Python in thread
    mode, bounded restarts, ...), so it checks what every lab job needs; a job that
    keeps failing is reported once its restarts are spent (~25 s). Takes ~10 s, nearly
    all of it starting the mini-cluster's JVM.
    """
    with pyflink_job():
        from pyflink.common import Types
        from pyflink.datastream import StreamExecutionEnvironment

        env = StreamExecutionEnvironment.get_execution_environment(
            flink_settings.configuration(flink_settings.lab_job()))
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
    env = {**os.environ, **script_env(settings)}
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


def job_state(job_id: str, settings: Settings | None = None) -> str:
    """The job's state on the standalone cluster: RUNNING, RESTARTING, FINISHED, FAILED..."""
    return rest_get(f"/jobs/{job_id}", settings or get_settings())["state"]


def checkpoint_counts(job_id: str, settings: Settings | None = None) -> dict[str, int]:
    """The job's checkpoints so far: `completed`, `failed`, `in_progress`, `total`, and
    `restored` (how many times the job restarted from one)."""
    return rest_get(f"/jobs/{job_id}/checkpoints", settings or get_settings())["counts"]


def records_per_subtask(job_id: str, operator: str,
                        settings: Settings | None = None) -> list[int]:
    """How many records each subtask of the job's vertex named `operator...` has read, in
    subtask order: how evenly `keyBy` spread the keys (Flink hashes each key to a key
    group, and each subtask owns a range of key groups)."""
    settings = settings or get_settings()
    vertices = rest_get(f"/jobs/{job_id}", settings)["vertices"]
    vertex = next((v for v in vertices if v["name"].startswith(operator)), None)
    if vertex is None:
        raise LabError(f"Flink job {job_id} has no operator named {operator!r}...",
                       f"pick one of: {'; '.join(v['name'] for v in vertices)}.")
    subtasks = rest_get(f"/jobs/{job_id}/vertices/{vertex['id']}", settings)["subtasks"]
    return [subtask["metrics"]["read-records"] for subtask in subtasks]


def _wait(job_id: str, done: Callable[[str], bool], what: str, timeout_s: float) -> str:
    """Poll the job until `done(state)`; raise if it ends otherwise or time runs out."""
    def reached() -> str:
        state = job_state(job_id)
        if done(state):
            return state
        if state in ENDED:
            why = f": {root_cause(error)}" if (error := _job_error(job_id)) else ""
            raise LabError(f"Flink job {job_id} ended {state} before {what}{why}.",
                           f"see its exceptions in the web UI ({get_settings().flink}) "
                           "or `labkit stack logs flink`.")
        return ""

    return until(reached, timeout_s=timeout_s, what=f"Flink job {job_id} is {what}",
                 fix="check `labkit stack status` and the web UI.", interval_s=0.2)


def _job_error(job_id: str) -> str:
    """The Java error that ended the job, newest first in its exception history ('' if none)."""
    history = rest_get(f"/jobs/{job_id}/exceptions", get_settings()).get("exceptionHistory", {})
    entries = history.get("entries") or [{}]
    return entries[0].get("stacktrace", "")


def wait_for_checkpoint(job_id: str, *, after: int = 0, timeout_s: float = 60.0) -> int:
    """Block until the job has completed more than `after` checkpoints; return how many.

    A completed checkpoint is where a failed job restarts from: its source offsets,
    windows and not-yet-confirmed Redis writes.
    """
    _wait(job_id, lambda _state: checkpoint_counts(job_id)["completed"] > after,
          f"completing checkpoint {after + 1}", timeout_s)
    return checkpoint_counts(job_id)["completed"]


def wait_for_job(job_id: str, *, timeout_s: float = 600.0) -> None:
    """Block until the job has FINISHED (restarts included); raise if it failed."""
    _wait(job_id, lambda state: state == "FINISHED", "finishing", timeout_s)
