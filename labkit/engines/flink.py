"""The Flink engine: run `flink_job` on the local mini-cluster or the standalone cluster.

PyFlink is imported only when a job runs, so the rest of labkit works without it.
On the cluster a job can also run in the background (`submit`), to be followed
(`labkit.stack.flink_jobs.wait_for_checkpoint`, `wait_for_job`) while something
breaks underneath it.
"""

from __future__ import annotations

from collections.abc import Mapping

from ..runs import Outputs, RunOptions, RunReport, reconcile
from ..settings import get_settings
from ..stack import flink_settings
from ..stack.flink_jobs import pyflink_job, submit_to_cluster, wait_for_job
from ..stack.jvm import connector_jar
from . import flink_follow
from .flink_tables import format_end_offsets

__all__ = ["run", "run_job", "submit"]


def run(topic: str, options: RunOptions) -> RunReport:
    """The flink engine: `run_job` with the Avro decoded in Python."""
    return run_job(topic, options, decode_in_jvm=False)


def run_job(topic: str, options: RunOptions, *, decode_in_jvm: bool) -> RunReport:
    """Process `topic` from the beginning to the end offsets seen at start; reconcile.

    `decode_in_jvm` is the flink-jvm engine: Avro decoded before Python (`flink_job`).

    With `options.until_end` False (mini-cluster only), follow the topic until the
    outputs hold `options.max_messages` records, then cancel the job (`flink_follow`).
    `options.parallelism` subtasks share the cards (keyed by card_id); the
    standalone cluster (`options.cluster`) has 2 slots. In thread mode all of a
    TaskManager's Python runs under one interpreter lock, so more subtasks in one
    TaskManager add little speed.
    """
    flink_follow.check(options)
    engine = "flink-jvm" if decode_in_jvm else "flink"
    outputs = Outputs(topic, options.tag)
    outputs.create_topics()
    group = options.group or outputs.group(engine)
    if options.cluster:
        wait_for_job(submit(topic, tag=options.tag, group=group,
                            parallelism=options.parallelism, decode_in_jvm=decode_in_jvm))
        return reconcile(f"{engine} (standalone cluster)", outputs)
    with pyflink_job():
        from pyflink.datastream import StreamExecutionEnvironment

        from . import flink_job

        job = flink_settings.feature_job(get_settings(), decode_in_jvm=decode_in_jvm)
        env = StreamExecutionEnvironment.get_execution_environment(
            flink_settings.configuration(job, options.flink_settings))
        if options.until_end:
            flink_job.execute(env, outputs, group, options.parallelism,
                              decode_in_jvm=decode_in_jvm)
        else:
            flink_follow.follow(flink_job.start(env, outputs, group, options.parallelism,
                                                decode_in_jvm=decode_in_jvm),
                                outputs, options)
    return reconcile(engine, outputs)


def submit(topic: str, *, tag: str = "", group: str | None = None, parallelism: int = 1,
           decode_in_jvm: bool = False, end_offsets: Mapping[int, int] | None = None) -> str:
    """Start the job on the standalone cluster in the background; return its job id.

    It reads to the end offsets seen at start, or with `end_offsets` ({partition:
    offset}) up to those, waiting for what has not arrived yet (`faults.staged_copy`).
    """
    outputs = Outputs(topic, tag)
    outputs.create_topics()
    # -j puts the connector on the client's classpath too: the planner needs its
    # table factory while building the job, before anything reaches the cluster.
    return submit_to_cluster(["-j", str(connector_jar(get_settings())),
                              "-pym", "labkit.engines.flink_job", "--topic", topic, "--tag", tag,
                              "--group", group or outputs.group("flink"),
                              "--parallelism", str(parallelism),
                              *(["--decode-in-jvm"] if decode_in_jvm else []),
                              *(["--end-offsets", format_end_offsets(end_offsets)]
                                if end_offsets else [])],
                             get_settings(), detached=True)
