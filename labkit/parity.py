"""Do two runs agree? Compare their feature logs record by record, and their Redis contents.

Partitions interleave differently in different engines, so records are lined
up per card (each card's records are in one partition, in order) and compared
field by field; floats may differ by rounding only (`same`). The Flink SQL
variant computes a subset of the contract differently; `compare_sql` checks
it on the events where the two must agree.
"""

from __future__ import annotations

import json
import math
from collections import Counter, defaultdict
from dataclasses import dataclass, field

from . import serde, topics
from .clients import REDIS_UNREACHABLE, redis_client, redis_unavailable
from .features import FEATURE_NAMES
from .runs import Outputs
from .sinks import RedisFeatureSink

__all__ = ["SQL_COMPARED", "Outcome", "Parity", "SqlParity", "compare", "compare_sql",
           "feature_log", "outcome", "redis_snapshot", "same", "sql_rows", "unexpected"]

# The contract's features the Flink SQL variant computes the same way (for in-order
# events): all but the fields that identify a record and its clock.
SQL_COMPARED = tuple(name for name in FEATURE_NAMES
                     if name not in ("card_id", "txn_id", "event_ts", "feature_ts"))
# Two engines sum the same exact integers but may divide and take roots in another
# order (the JVM's SQRT vs Python's math.sqrt): a few ulps apart, far below this.
REL_TOL = 1e-9


def feature_log(outputs: Outputs, *, timeout_s: float = 60.0) -> list[dict]:
    """Every feature record a run wrote, decoded, ordered by (partition, offset).

    Partitions are read interleaved in no fixed order; sorting makes the log's
    order reproducible (each card's records stay in order, in one partition).
    """
    return serde.decode_records(topics.read_all(outputs.features, timeout_s=timeout_s),
                                serde.ConfluentDecoder())


def redis_snapshot(outputs: Outputs) -> dict[str, dict]:
    """card_id -> feature record, for every card the run left in Redis."""
    sink = RedisFeatureSink(key_prefix=outputs.redis_prefix)
    try:
        keys = list(redis_client().scan_iter(match=f"{outputs.redis_prefix}*", count=1000))
    except REDIS_UNREACHABLE as exc:
        raise redis_unavailable(exc, f"listing {outputs.redis_prefix}* keys") from None
    cards = sorted(key.decode().removeprefix(outputs.redis_prefix) for key in keys)
    return {card: sink.read_features(card) for card in cards}


@dataclass(frozen=True)
class Parity:
    """How two feature logs compare, record by record (`compare`)."""

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


def same(a: object, b: object) -> tuple[bool, float]:
    """(equal?, how far apart): floats up to rounding, anything else exactly, type included.

    A float and an int compare as numbers: JSON (the SQL variant's output) writes
    2.0 as 2. A bool is never a number here.
    """
    numbers = (int, float)
    if (isinstance(a, float) or isinstance(b, float)) and not isinstance(a, bool) \
            and not isinstance(b, bool) and isinstance(a, numbers) and isinstance(b, numbers):
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
                equal, diff = same(x.get(name), y.get(name))
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


def sql_rows(outputs: Outputs, *, timeout_s: float = 60.0) -> list[dict]:
    """The Flink SQL variant's rows (JSON), ordered by (partition, offset)."""
    return [json.loads(record.value)
            for record in topics.read_all(outputs.features, timeout_s=timeout_s)]


@dataclass(frozen=True)
class SqlParity:
    """How the SQL rows agree with the contract on the events that arrived in order."""

    in_order: int  # contract records with event_ts == feature_ts
    compared: int  # of those, how many have a SQL row
    matched: dict[str, int] = field(default_factory=dict)  # feature -> equal values
    mismatched: dict[str, int] = field(default_factory=dict)  # feature -> different values
    first_mismatch: str = ""

    @property
    def equal(self) -> bool:
        return self.compared == self.in_order and not any(self.mismatched.values())

    def __str__(self) -> str:
        differing = {name: n for name, n in self.mismatched.items() if n}
        verdict = ("every feature equal" if not differing else
                   ", ".join(f"{name} {n:,}" for name, n in differing.items()) + " differ")
        return (f"{self.compared:,} of {self.in_order:,} in-order events have a SQL row: "
                f"{verdict}" + (f"; first: {self.first_mismatch}" if self.first_mismatch else ""))


def compare_sql(sql: Outputs | list[dict], reference: Outputs | list[dict]) -> SqlParity:
    """Compare the SQL variant's rows with a contract run's feature log, feature by feature.

    Each side is a run's `Outputs` or what it wrote (`sql_rows`, `feature_log`).
    Only events that arrived in order count (the contract's event_ts ==
    feature_ts): for the others the two compute different things (see
    `labkit.engines.flink_sql`).
    """
    rows = {row["txn_id"]: row for row in (sql_rows(sql) if isinstance(sql, Outputs) else sql)}
    log = feature_log(reference) if isinstance(reference, Outputs) else reference
    in_order = [record for record in log if record["event_ts"] == record["feature_ts"]]
    matched: Counter[str] = Counter()
    mismatched: Counter[str] = Counter()
    first = ""
    for record in in_order:
        row = rows.get(record["txn_id"])
        if row is None:
            continue
        for name in SQL_COMPARED:
            if same(record[name], row[name])[0]:
                matched[name] += 1
            else:
                mismatched[name] += 1
                first = first or (f"{record['card_id']} {record['txn_id']}: {name} "
                                  f"{record[name]!r} (contract) vs {row[name]!r} (SQL)")
    compared = sum(record["txn_id"] in rows for record in in_order)
    return SqlParity(len(in_order), compared, {name: matched[name] for name in SQL_COMPARED},
                     {name: mismatched[name] for name in SQL_COMPARED}, first)
