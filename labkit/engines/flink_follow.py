"""Followed Flink runs: no end offsets; stop once the outputs hold `max_messages` records.

A bounded job (`scan.bounded.mode = latest-offset`) ends by itself at the end
offsets seen at start. A followed one (`until_end=False`) would run forever, so
the engine starts it in the background and hands its JobClient to `follow`,
which counts the run's outputs (`Outputs.answers`) on the brokers and cancels
the job once they hold `max_messages` records (or after a timeout, with a
LabError). Both Flink engines use it; it imports no PyFlink (the job client
comes from the engine).
Only on the local mini-cluster: a job on the standalone cluster is submitted
by `flink run`, which gives this process no job client to cancel.
"""

from __future__ import annotations

from typing import Any

from .. import topics
from ..errors import LabError
from ..polling import until
from ..runs import Outputs, RunOptions

__all__ = ["OUTPUT_TIMEOUT_S", "START_TIMEOUT_S", "check", "follow", "wait_running"]

START_TIMEOUT_S = 60.0  # a mini-cluster job is running within ~10-20 s on this machine
# From the job running to the last output: followed runs are short measured loads
# (a benchmark's seconds of traffic), so a job that stops producing is not waited on long.
OUTPUT_TIMEOUT_S = 120.0


def check(options: RunOptions) -> None:
    """Refuse (LabError) what only the mini-cluster does (followed runs, settings) on the
    cluster, and a followed run with no count to stop at."""
    if options.cluster and options.flink_settings:
        raise LabError("`flink_settings` apply to the local mini-cluster only: the standalone "
                       "cluster's settings are its config.yaml "
                       "(`labkit.stack.flink_settings.cluster_defaults`).",
                       "drop `cluster`, or drop `flink_settings`.")
    if options.until_end:
        return
    if options.cluster:
        raise LabError("A followed Flink run (until_end=False) on the standalone cluster is "
                       "not supported: `flink run` gives labkit no job client to cancel it with.",
                       "drop `cluster` (the local mini-cluster follows), or run bounded.")
    if not options.max_messages:
        raise LabError("A followed Flink run (until_end=False) has no end of its own: it stops "
                       "once its outputs hold `max_messages` records.",
                       "pass max_messages=N, or run bounded (until_end=True).")


def _held(outputs: Outputs) -> int:
    """Feature records, dead letters and late rows: every input message the run has answered."""
    return sum(topics.count(topic) for topic in outputs.answers)


def _running(job_client: Any) -> bool:
    return job_client.get_job_status().result().name == "RUNNING"


def wait_running(job_client: Any, what: str) -> None:
    """Wait until the job (`what`, for the error) is RUNNING, at most START_TIMEOUT_S."""
    until(lambda: _running(job_client), timeout_s=START_TIMEOUT_S, what=f"{what} was running",
          fix="check the mini-cluster's log (PyFlink prints it to this process).")


def follow(job_client: Any, outputs: Outputs, options: RunOptions) -> None:
    """Wait until the job runs (then call `options.started`), then until its outputs hold
    `options.max_messages` records; cancel the job in every case."""
    try:
        wait_running(job_client, f"the Flink job over {outputs.input!r}")
        if options.started is not None:
            options.started()
        until(lambda: _held(outputs) >= options.max_messages, timeout_s=OUTPUT_TIMEOUT_S,
              interval_s=0.2, what=f"{' and '.join(map(repr, outputs.answers))} held "
                                   f"{options.max_messages:,} records",
              fix="check that the input gets that many messages, and the job's log.")
    finally:
        job_client.cancel().result()
