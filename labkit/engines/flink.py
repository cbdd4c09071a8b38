"""The Flink engine: run `flink_job` on the local mini-cluster or the standalone cluster.

PyFlink is imported only when a job runs, so the rest of labkit works without it.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from ..errors import LabError
from ..processing import Outputs, RunReport, reconcile
from ..settings import get_settings
from ..stack.flink import connector_jar, restored_environ, submit_to_cluster

__all__ = ["run"]


def run(topic: str, *, tag: str = "", group: str | None = None,
        cluster: bool = False) -> RunReport:
    """Process `topic` from the beginning to the end offsets seen at start; reconcile."""
    outputs = Outputs(topic, tag)
    outputs.create_topics()
    group = group or outputs.group("flink")
    if cluster:
        # -j puts the connector on the client's classpath too: the planner needs its
        # table factory while building the job, before anything reaches the cluster.
        submit_to_cluster(["-j", str(connector_jar(get_settings())),
                           "-pym", "labkit.engines.flink_job", "--topic", topic,
                           "--tag", tag, "--group", group], get_settings())
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
        flink_job.execute(env, outputs, group)
    return reconcile("flink", outputs)
