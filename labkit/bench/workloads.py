"""What a benchmark runs on: fresh seeded workloads, produced before any clock starts,
and a steady offered load sent from another process while an engine runs."""

from __future__ import annotations

import subprocess
import sys

from .. import generate, topics
from ..errors import LabError

__all__ = ["WORKLOAD_SHAPE", "finish_load", "start_load", "workload"]

# The cards, late share and jitter of every benchmark workload (notebook 05 quotes it).
WORKLOAD_SHAPE = {"n_cards": 1000, "late_share": 0.01, "jitter_ms": 10 * 60 * 1000}


def workload(events: int, *, partitions: int = 2, seed: int = generate.LAB_SEED,
             progress: bool = False) -> str:
    """A fresh topic holding `events` seeded Confluent-Avro transactions over 1,000 cards."""
    topic = topics.fresh_topic(f"bench-{events}", partitions=partitions)
    generate.produce(topic, events, seed=seed, fmt="confluent", progress=progress,
                     **WORKLOAD_SHAPE)
    return topic


def start_load(topic: str, events: int, rate: float) -> subprocess.Popen:
    """A `labkit generate --rate` process sending `events` to `topic` at `rate` events/s."""
    return subprocess.Popen(
        [sys.executable, "-m", "labkit", "generate", "--topic", topic, "--count", str(events),
         "--rate", str(rate), "--format", "confluent"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


def finish_load(producer: subprocess.Popen) -> None:
    """Wait for the load generator; a LabError if it failed."""
    _, err = producer.communicate()
    if producer.returncode != 0:
        raise LabError(f"The load generator failed: {err.strip()[-500:]}",
                       "run `labkit generate` by hand to see why.")
