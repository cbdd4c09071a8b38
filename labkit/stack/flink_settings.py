"""Flink job settings, in one place: which settings each of the lab's Flink jobs runs with.

Every Flink `Configuration` labkit builds comes from `configuration` here, and
every Flink setting a job gets is named here (tests/unit/test_flink_settings.py
checks that no other module builds one). What applies to which job:

- `JOB_SETTINGS`: every job with Python operators, and the standalone cluster's
  defaults (`cluster_defaults`, its config.yaml), so jobs run alike on both;
- `lab_job`: those settings plus the jars a job loads (`pipeline.jars`): the
  smoke test (`stack.flink_jobs.square_job`, no jars) and notebook 08's job;
- `feature_job`: the flink and flink-jvm engines' job (`engines.flink_job`), on
  the mini-cluster or submitted to the cluster;
- `event_time_job`: `labkit.event_time`'s job, with its watermark interval;
- `sql_job`: the flink-sql engine's job, pure SQL, so no Python settings.

A run's own settings (a benchmark's `RunOptions.flink_settings`) go on top, as
`configuration`'s `extra`. PyFlink is imported only inside `configuration`.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from ..settings import Settings
from .jvm import avro_confluent_jar, connector_jar, labkit_flink_jar

if TYPE_CHECKING:  # PyFlink loads only when a job runs
    from pyflink.common import Configuration

__all__ = ["JOB_SETTINGS", "cluster_defaults", "configuration", "event_time_job", "feature_job",
           "lab_job", "sql_job"]

# No leaked-class-loader check: when a bounded job ends, the Kafka source's admin-client
# thread can still log through the job's closed class loader, and the check turns that into
# a log4j error printed into whatever cell or test ran the job.
_QUIET_END = {"classloader.check-leaked-classloader": "false"}

# How the lab runs PyFlink jobs, on the mini-cluster and the standalone cluster alike:
# - Python in thread mode, inside the TaskManager's JVM: no separate Python worker, and
#   no serialization of every record to it and back (see `labkit.stack.flink`).
# - The venv's `python` found on PATH (PATH must start with the venv's bin/, as
#   `flink_jobs.pyflink_job` and `flink.script_env` make it: a full path to the venv's
#   interpreter makes thread mode load the base interpreter, without the venv's packages).
# - No leaked-class-loader check (`_QUIET_END`).
# - A failing job restarted from its last checkpoint a bounded number of times, then
#   failed instead of restarting forever (the default once checkpointing is on). 5
#   attempts 5 s apart: a killed TaskManager costs one attempt, and the restarted job
#   then waits for slots until a new TaskManager registers; the spare attempts cover
#   failures while the new one starts. A job that keeps failing for a real reason still
#   fails, after ~25 s.
JOB_SETTINGS = {
    "python.execution-mode": "thread",
    "python.executable": "python",
    **_QUIET_END,
    "restart-strategy.type": "fixed-delay",
    "restart-strategy.fixed-delay.attempts": "5",
    "restart-strategy.fixed-delay.delay": "5 s",
}


def _jars(*paths: Path | str) -> dict[str, str]:
    """`pipeline.jars`: the jars Flink loads into a job, as file URLs."""
    return {"pipeline.jars": ";".join(f"file://{path}" for path in paths)}


def lab_job(*jar_paths: Path | str) -> dict[str, str]:
    """A job as the lab runs every job with Python operators: `JOB_SETTINGS`, and the jars
    it loads, if any (the smoke test reads no Kafka, so it needs none)."""
    return {**(_jars(*jar_paths) if jar_paths else {}), **JOB_SETTINGS}


def _decoder_jars(settings: Settings) -> tuple[Path, Path]:
    """What decoding in the JVM adds to a job: Flink's avro-confluent format (the decoder
    and its registry client) and labkit-flink.jar (the lab's functions over it)."""
    return avro_confluent_jar(settings), labkit_flink_jar(settings)


def feature_job(settings: Settings, *, decode_in_jvm: bool,
                submitted: bool = False) -> dict[str, str]:
    """The flink and flink-jvm engines' job: the lab's settings, the Kafka connector and,
    with `decode_in_jvm`, the decoder's jars.

    `submitted`: started by `flink run -j <connector>` (`engines.flink.submit`), whose
    job already loads the connector. Setting `pipeline.jars` replaces the list `flink run`
    made, so only a job that needs more jars sets it, the connector among them. The
    other settings are set on the job all the same, so they hold even on a cluster
    started with older defaults.
    """
    more = _decoder_jars(settings) if decode_in_jvm else ()
    if submitted and not more:
        return dict(JOB_SETTINGS)
    return lab_job(connector_jar(settings), *more)


def event_time_job(settings: Settings, *, watermark_interval_ms: int) -> dict[str, str]:
    """`labkit.event_time`'s job: the lab's settings, the Kafka connector, and how often its
    watermark generators emit."""
    return {**lab_job(connector_jar(settings)),
            "pipeline.auto-watermark-interval": f"{watermark_interval_ms} ms"}


def sql_job(settings: Settings, *, name: str, parallelism: int,
            cluster: bool) -> dict[str, str]:
    """The flink-sql engine's job, named `name`: the connector and the decoder's jars (it
    decodes with the lab's JVM functions), `parallelism` subtasks, and on the standalone
    `cluster` a plain remote submission (nothing Python to run remotely).

    Not `JOB_SETTINGS`: no Python runs, and no restart strategy of its own: on the
    mini-cluster a job that fails, fails at once (a poison pill would fail every restart
    the same way); on the cluster its defaults (`cluster_defaults`) apply.
    """
    host, port = settings.host_port("flink")
    remote = {"execution.target": "remote", "rest.address": host, "rest.port": str(port)}
    return {**_QUIET_END, **_jars(connector_jar(settings), *_decoder_jars(settings)),
            "parallelism.default": str(parallelism), "pipeline.name": name,
            **(remote if cluster else {})}


def cluster_defaults(settings: Settings) -> dict[str, str]:
    """The standalone cluster's settings for every job it runs (its config.yaml): the
    lab's `JOB_SETTINGS` and the Kafka connector, as on the mini-cluster."""
    return {
        # `flink run` builds jobs with this very interpreter (PATH: see `flink.script_env`).
        "python.client.executable": sys.executable,
        **_jars(connector_jar(settings)),
        # pemja, the embedded interpreter's bridge, from the cluster's lib/ (see
        # `labkit.stack.flink`), never from the copy each job ships.
        "classloader.parent-first-patterns.additional": "pemja.",
        **JOB_SETTINGS,
    }


def configuration(job: Mapping[str, str],
                  extra: Mapping[str, str] | None = None) -> Configuration:
    """A PyFlink Configuration holding a job's settings (`feature_job`, `sql_job`, ...),
    then a run's own `extra` ones (`RunOptions.flink_settings`), which win."""
    from pyflink.common import Configuration

    config = Configuration()
    for key, value in {**job, **(extra or {})}.items():
        config.set_string(key, value)
    return config
