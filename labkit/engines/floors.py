"""The benchmark floors: the simple engine's own stages, with the rest taken away.

    ceiling      its consume loop and decoder, nothing after them: the practical
                 upper bound of a Python engine in this layout
    passthrough  the ceiling plus encoding a feature-log record per message and
                 producing it: the serialization floor any Python engine of this
                 contract pays (no windows, no Redis, no dead letters, no commits)

Not engines, on purpose: they are not in `labkit.engines.ENGINES`, and `labkit
process` does not know them. An engine's run is reconciled (`RunReport`): every
input message became a feature record, a dead letter or a dropped row. A floor's
run cannot be: the ceiling writes nothing and passthrough no dead letters. So a
floor's `run` returns a `FloorRun`, which holds what a benchmark reads of a report
(where the run wrote, its feature records) and makes no claim to balance. Like an
engine, a floor takes some run options (`takes`: what `labkit.bench` gives it) and
refuses any other.

They live beside the simple engine because they run its own code (its consume
loop, its decoder, its batch size, its garbage-collector settings): what they
measure is what the engine runs, so they share its stages (`engines.stages`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar

from .. import clients, serde, topics
from ..features import CardWindow
from ..instruments import Stopwatch
from ..processing import DeadLetter
from ..runs import Outputs, RunOptions
from . import membership, refuse_options
from .guarantees import CONFIRM_TIMEOUT_S
from .runtime import fewer_collections
from .simple import BATCH_SIZE
from .stages import Checked, decode_batch, read_to

__all__ = ["FLOORS", "Floor", "FloorRun"]


@dataclass(frozen=True)
class FloorRun:
    """What a floor's run left: where it wrote (None: nowhere) and the feature records
    there, the two things a benchmark reads of an engine's `RunReport`."""

    floor: str
    outputs: Outputs | None
    feature_records: int


@dataclass(frozen=True)
class Floor:
    """A floor's name, what it measures, the run options it takes, and the measurement:
    `measure(topic, options)` reads `topic` from its beginning to its end offsets and
    returns where it wrote, if anywhere."""

    name: str
    summary: str
    takes: frozenset[str]
    measure: Callable[[str, RunOptions], Outputs | None]
    flink: ClassVar[bool] = False  # it runs in this process, as the simple engine does

    def check(self, options: RunOptions) -> None:
        """Refuse (LabError) any option set that this floor does not take."""
        refuse_options(f"the {self.name} floor", self.takes, options)

    def run(self, topic: str, options: RunOptions) -> FloorRun:
        """Measure `topic` after checking every option given applies to this floor."""
        self.check(options)
        outputs = self.measure(topic, options)
        return FloorRun(self.name, outputs,
                        0 if outputs is None else topics.count(outputs.features))


def _floor(topic: str, partitions: list[int] | None, stopwatch: Stopwatch,
           after_decode: Callable[[list[Checked]], None]) -> None:
    """The simple engine's consume loop and decode stage over `topic`, from the beginning
    to its end offsets, then `after_decode(batch)`: no windows, no Redis, no commits (a
    fresh group that reads everything)."""
    decode = serde.ConfluentDecoder()
    fixed = membership.Fixed(clients.consumer(), topic, partitions, from_beginning=True)
    try:
        fixed.start(lambda starts: starts, lambda _partitions, _lost: None)  # nothing to rebuild
        bounds = {p: (start, fixed.ends[p]) for p, start in fixed.starts.items()}
        with fewer_collections():
            stopwatch.start()
            for batch in read_to(fixed.consumer, bounds, batch_size=BATCH_SIZE,
                                 idle_timeout_s=30.0):
                stopwatch.lap("consume")
                checked = decode_batch(batch, decode)
                stopwatch.lap("decode")
                after_decode(checked)
    finally:
        fixed.close()


def _ceiling(topic: str, options: RunOptions) -> None:
    """The ceiling a Python engine is measured against: the simple engine's consume loop
    and decode stage, with nothing after them (no features, no outputs, no commits)."""
    _floor(topic, options.partitions, options.stopwatch or Stopwatch(), lambda _checked: None)


def _passthrough(topic: str, options: RunOptions) -> Outputs:
    """The serialization floor of the simple engine's contract: consume and decode each
    message as the engine does, encode a feature-log record for it, produce it to the
    feature log of `Outputs(topic, options.tag)` and wait for the broker's
    acknowledgements per batch. No windows, no Redis, no dead letters, no commits.

    Every record is the same shape as the engine's, a real feature record of a
    fresh window with the transaction's own ids and times in it, so encoding
    costs what the engine's does. Any Python engine of this contract pays at
    least this much per message.
    """
    outputs = Outputs(topic, options.tag)
    outputs.create_topics()
    encode = serde.make_encoder("confluent", schema="features.v1", topic=outputs.features)
    deliveries = topics.Deliveries()
    stopwatch = options.stopwatch or Stopwatch()
    template: dict[str, Any] = {}

    def produce(checked: list[Checked]) -> None:
        for key, _value, _source, txn in checked:
            if isinstance(txn, DeadLetter):
                continue
            if not template:  # the first transaction's own features: every field real
                template.update(CardWindow(txn["card_id"]).update(txn))
            record = {**template, "card_id": txn["card_id"], "txn_id": txn["txn_id"],
                      "event_ts": txn["timestamp"], "feature_ts": txn["timestamp"],
                      "last_geo_country": txn["geo_country"], "is_fraud": txn["is_fraud"]}
            deliveries.send(outputs.features, key, encode(record))
        stopwatch.lap("produce")
        deliveries.confirm(timeout_s=CONFIRM_TIMEOUT_S, what="feature records")
        stopwatch.lap("acks")

    _floor(topic, options.partitions, stopwatch, produce)
    return outputs


FLOORS: dict[str, Floor] = {floor.name: floor for floor in (
    Floor("ceiling", "the simple engine's consume loop and decoder, nothing after them",
          frozenset({"partitions", "stopwatch"}), _ceiling),
    Floor("passthrough", "the ceiling plus encoding and producing a feature-log record per "
          "message; its tag names the feature log it writes",
          frozenset({"partitions", "stopwatch", "tag"}), _passthrough),
)}
