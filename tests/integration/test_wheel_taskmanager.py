"""A TaskManager that has only the wheel runs the Flink engine's job.

A remote TaskManager (compose's, or a real cluster's) has no source tree: the
job's Python operators must import labkit from the project's wheel. Here the
standalone cluster's TaskManager is replaced by one whose jobs run with the
Python of `wheel_venv` (labkit from the wheel alone; conftest.py), and the
flink-jvm engine's job runs on it: Python in thread mode inside the
TaskManager, the Avro decoded in the JVM by the lab's own jar shipped with the
job. Its outputs must equal the simple engine's. The usual TaskManager is back
afterwards. (This is also the test of the Flink engines on the standalone
cluster; notebook 06 runs the flink engine there, through a crash.)
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

import labkit as lk
from labkit import engines, parity
from labkit.runs import Outputs
from labkit.stack import process
from labkit.stack.flink import TASKMANAGER, kill_taskmanager, start_taskmanager

pytestmark = pytest.mark.integration

SHAPE = {"n_cards": 100, "bad_share": 0.005, "late_share": 0.02}


@pytest.fixture
def wheel_taskmanager(wheel_venv: Path) -> Iterator[int]:
    """The cluster's TaskManager, replaced by one running jobs with `wheel_venv`'s Python;
    its PID. A fresh JVM: no module a previous job imported is loaded in it."""
    kill_taskmanager()
    try:
        yield start_taskmanager(python_bin=wheel_venv / "bin")
    finally:
        if process.running_pid(TASKMANAGER, lk.settings.get_settings().run_dir) is not None:
            kill_taskmanager()
        start_taskmanager()


def _first_python_on_path(pid: int) -> Path:
    """The `python` a process would start (jobs run `python` found on PATH)."""
    environ = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    path = next(entry for entry in environ if entry.startswith(b"PATH=")).decode()[5:]
    for folder in path.split(os.pathsep):
        if (Path(folder) / "python").exists():
            return Path(folder) / "python"
    raise AssertionError(f"no python on the TaskManager's PATH: {path}")


def test_a_taskmanager_with_only_the_wheel_runs_the_job(wheel_venv, wheel_taskmanager, tmp_path):
    python = _first_python_on_path(wheel_taskmanager)
    assert python.parent == wheel_venv / "bin"
    where = subprocess.run([str(python), "-c", "import labkit; print(labkit.__file__)"],
                           cwd=tmp_path, capture_output=True, text=True, check=True)
    assert Path(where.stdout.strip()).is_relative_to(wheel_venv)

    topic = lk.topics.fresh_topic("it-wheel-tm", partitions=2)
    lk.generate.produce(topic, 3_000, fmt="confluent", **SHAPE)
    report = engines.run("flink-jvm", topic, tag=".wheel", cluster=True)
    assert report.balanced, str(report)
    assert report.dead_letters.get("undecodable", 0) > 0  # the contract's checks ran there
    engines.run("simple", topic, tag=".simple")
    result = parity.compare(parity.feature_log(Outputs(topic, ".wheel")),
                            parity.feature_log(Outputs(topic, ".simple")))
    assert result.compared == report.feature_records
    assert result.equal, str(result)
