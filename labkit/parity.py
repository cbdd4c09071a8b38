"""Do two runs agree? Compare their feature logs record by record, and their Redis contents.

Partitions interleave differently in different engines, so records are lined
up per card (each card's records are in one partition, in order) and compared
field by field; floats may differ by rounding only.
"""

from __future__ import annotations

import json
import math
from collections import defaultdict
from dataclasses import dataclass

from . import serde, topics
from .clients import redis_client
from .processing import Outputs
from .sinks import RedisFeatureSink

__all__ = ["Outcome", "Parity", "compare", "feature_log", "outcome", "redis_snapshot", "unexpected"]

REL_TOL = 1e-9


def feature_log(outputs: Outputs, *, timeout_s: float = 60.0) -> list[dict]:
    """Every feature record a run wrote, decoded, ordered by (partition, offset).

    Partitions are read interleaved in no fixed order; sorting makes the log's
    order reproducible (each card's records stay in order, in one partition).
    """
    records = topics.read(outputs.features, max_messages=10**9, timeout_s=timeout_s)
    records.sort(key=lambda record: (record.partition, record.offset))
    return serde.decode_records(records, serde.ConfluentDecoder())


def redis_snapshot(outputs: Outputs) -> dict[str, dict]:
    """card_id -> feature record, for every card the run left in Redis."""
    sink = RedisFeatureSink(key_prefix=outputs.redis_prefix)
    keys = redis_client().scan_iter(match=f"{outputs.redis_prefix}*", count=1000)
    cards = sorted(key.decode().removeprefix(outputs.redis_prefix) for key in keys)
    return {card: sink.read_features(card) for card in cards}


@dataclass(frozen=True)
class Parity:
    compared: int
    mismatches: int
    max_float_diff: float
    first_mismatch: str = ""

    @property
    def equal(self) -> bool:
        return self.mismatches == 0

    def __str__(self) -> str:
        verdict = "identical" if self.equal else f"{self.mismatches:,} mismatches"
        return (f"{self.compared:,} records compared: {verdict}; largest float difference "
                f"{self.max_float_diff:.3g}" + (f"; first: {self.first_mismatch}"
                                                if self.first_mismatch else ""))


def _by_card(records: list[dict]) -> dict[str, list[dict]]:
    cards: dict[str, list[dict]] = defaultdict(list)
    for record in records:
        cards[record["card_id"]].append(record)
    return cards


def _same(a: object, b: object) -> tuple[bool, float]:
    if isinstance(a, float) and isinstance(b, float):
        return math.isclose(a, b, rel_tol=REL_TOL, abs_tol=REL_TOL), abs(a - b)
    return type(a) is type(b) and a == b, 0.0


def compare(left: list[dict], right: list[dict]) -> Parity:
    """Line both logs up per card and compare every field of every record."""
    a, b = _by_card(left), _by_card(right)
    compared = mismatches = 0
    worst = 0.0
    first = ""
    for card in sorted(a.keys() | b.keys()):
        ours, theirs = a.get(card, []), b.get(card, [])
        if len(ours) != len(theirs):
            mismatches += abs(len(ours) - len(theirs))
            first = first or f"{card}: {len(ours)} vs {len(theirs)} records"
        for x, y in zip(ours, theirs, strict=False):
            compared += 1
            for name in x.keys() | y.keys():
                equal, diff = _same(x.get(name), y.get(name))
                worst = max(worst, diff)
                if not equal:
                    mismatches += 1
                    first = first or f"{card} {x.get('txn_id')}: {name} {x.get(name)!r} vs " \
                                     f"{y.get(name)!r}"
                    break
    return Parity(compared, mismatches, worst, first)


def _canonical(record: dict) -> str:
    """A record as type-strict text: True is not 1, and 1 is not 1.0."""
    return json.dumps(record, sort_keys=True)


def unexpected(run: list[dict], reference: list[dict]) -> list[dict]:
    """Records of `run` that `reference` never wrote (in `run`'s order)."""
    known = {_canonical(record) for record in reference}
    return [record for record in run if _canonical(record) not in known]


@dataclass(frozen=True)
class Outcome:
    """How a run that was interrupted ended, next to an uninterrupted reference run."""

    redis_equal: bool
    records: int  # feature records written, replays included
    distinct: int
    reference: int
    missing: int  # reference records the run never wrote
    unexpected: int  # records the reference never wrote: wrong features

    @property
    def same(self) -> bool:
        """Same Redis and the same set of feature records: only replays may differ."""
        return self.redis_equal and self.missing == 0 and self.unexpected == 0

    def __str__(self) -> str:
        return (f"Redis {'identical' if self.redis_equal else 'DIFFERENT'}; feature log: "
                f"{self.records:,} records ({self.records - self.distinct:,} replayed), "
                f"{self.missing:,} missing, {self.unexpected:,} unexpected vs the "
                f"uninterrupted run's {self.reference:,}")


def outcome(run: Outputs, reference: Outputs) -> Outcome:
    """Compare a run's Redis contents and feature log with a reference run's."""
    ours, theirs = feature_log(run), feature_log(reference)
    mine = {_canonical(record) for record in ours}
    redis = [_canonical(snapshot) for snapshot in (redis_snapshot(run), redis_snapshot(reference))]
    return Outcome(redis_equal=redis[0] == redis[1], records=len(ours), distinct=len(mine),
                   reference=len(theirs), missing=len({_canonical(r) for r in theirs} - mine),
                   unexpected=len(unexpected(ours, theirs)))
