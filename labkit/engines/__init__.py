"""Engines: thin adapters that move messages through `labkit.processing`.

`simple` is a confluent-kafka consumer loop; `flink` a PyFlink DataStream job.
Both call `processing.handle` for every message and write the same outputs,
so their feature logs and Redis contents can be compared record by record.
"""

from . import simple

__all__ = ["simple"]
