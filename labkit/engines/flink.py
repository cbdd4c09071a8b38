"""The Flink engine: run `flink_job` on the local mini-cluster or the standalone cluster.

PyFlink is imported only when a job runs, so the rest of labkit works without it.
On the cluster a job can also run in the background (`submit`), to be followed
(`wait_for_checkpoint`, `wait_for_job`) while something breaks underneath it.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable
from pathlib import Path

from ..errors import LabError
from ..processing import Outputs, RunReport, reconcile
from ..settings import get_settings
from ..stack.flink import (
    checkpoint_counts,
    connector_jar,
    job_state,
    restored_environ,
    submit_to_cluster,
)

__all__ = ["run", "submit", "wait_for_checkpoint", "wait_for_job"]

ENDED = {"FINISHED", "FAILED", "CANCELED"}


def run(topic: str, *, tag: str = "", group: str | None = None, cluster: bool = False,
        parallelism: int = 1) -> RunReport:
    """Process `topic` from the beginning to the end offsets seen at start; reconcile.

    `parallelism` subtasks share the cards (keyed by card_id); the standalone
    cluster has 2 slots. In thread mode all of a TaskManager's Python runs under
    one interpreter lock, so more subtasks in one TaskManager add little speed.
    """
    outputs = Outputs(topic, tag)
    outputs.create_topics()
    group = group or outputs.group("flink")
    if cluster:
        wait_for_job(submit(topic, tag=tag, group=group, parallelism=parallelism))
        return reconcile("flink (standalone cluster)", outputs)
    with restored_environ():
        os.environ["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"
        try:
            from pyflink.common import Configuration
            from pyflink.datastream import StreamExecutionEnvironment

            from . import flink_job
        except ImportError as exc:
            raise LabError(f"PyFlink is not importable ({exc}).",
                           "run `make lab` to install the lab's pinned apache-flink.") from None
        config = flink_job.configure(Configuration(), str(connector_jar(get_settings())))
        env = StreamExecutionEnvironment.get_execution_environment(config)
        flink_job.execute(env, outputs, group, parallelism)
    return reconcile("flink", outputs)


def submit(topic: str, *, tag: str = "", group: str | None = None, parallelism: int = 1) -> str:
    """Start the job on the standalone cluster in the background; return its job id."""
    outputs = Outputs(topic, tag)
    outputs.create_topics()
    # -j puts the connector on the client's classpath too: the planner needs its
    # table factory while building the job, before anything reaches the cluster.
    return submit_to_cluster(["-j", str(connector_jar(get_settings())),
                              "-pym", "labkit.engines.flink_job", "--topic", topic, "--tag", tag,
                              "--group", group or outputs.group("flink"),
                              "--parallelism", str(parallelism)],
                             get_settings(), detached=True)


def _wait(job_id: str, done: Callable[[str], bool], what: str, timeout_s: float) -> str:
    """Poll the job until `done(state)`; raise if it ends otherwise or time runs out."""
    deadline = time.monotonic() + timeout_s
    while not done(state := job_state(job_id)):
        if state in ENDED:
            raise LabError(f"Flink job {job_id} ended {state} before {what}.",
                           f"see its exceptions in the web UI ({get_settings().flink}) "
                           "or `labkit stack logs flink`.")
        if time.monotonic() > deadline:
            raise LabError(f"Flink job {job_id} is {state}, still not {what} after "
                           f"{timeout_s:.0f} s.", "check `labkit stack status` and the web UI.")
        time.sleep(0.2)
    return state


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
