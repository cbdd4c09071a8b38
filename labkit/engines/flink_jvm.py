"""The flink-jvm engine: the Flink engine's job with the Avro decoded in the JVM.

Flink's avro-confluent classes (`DecodeTransactions`, jvm/src) turn each message
into the transaction's fields before Python sees it, so Python runs only the
checks and the per-card update; undecodable messages still reach the
dead-letter topic with their original bytes (`labkit.engines.flink_job`).
Everything else, outputs and options included, is the flink engine's.
"""

from __future__ import annotations

from ..runs import RunOptions, RunReport
from . import flink

__all__ = ["run"]


def run(topic: str, options: RunOptions) -> RunReport:
    """The flink engine's run with the Avro decoded in the JVM."""
    return flink.run_job(topic, options, decode_in_jvm=True)
