"""Graders for chapter 03: the registry's own verdicts are the expected answers."""

from __future__ import annotations

import copy
import json
from types import ModuleType

from confluent_kafka.schema_registry import Schema
from confluent_kafka.schema_registry.error import SchemaRegistryError

import labkit as lk
from labkit.check import Wrong, grader

BASES = ("transactions.v1", "transactions.v2")


def _registered(old: str | dict) -> str:
    """A fresh subject holding `old` (a schema name or a schema as a dict) as its only version."""
    subject = f"ch03-{lk.topics.run_id()}-value"
    text = lk.schemas.text(old) if isinstance(old, str) else json.dumps(old)
    lk.clients.registry_client().register_schema(subject, Schema(text, "AVRO"))
    return subject


def _accepts(subject: str, new: dict, mode: str) -> bool:
    """The registry's verdict: may `new` follow the subject's latest version under `mode`?"""
    registry = lk.clients.registry_client()
    registry.set_compatibility(subject_name=subject, level=mode)
    try:
        return registry.test_compatibility(subject, Schema(json.dumps(new), "AVRO"))
    except SchemaRegistryError as exc:
        raise Wrong(f"the registry cannot read your schema (HTTP {exc.http_status_code}: "
                    f"{exc.error_message[:200]})") from None


def _one_way(make: object, base: str, *, yes: str, no: str) -> None:
    """`make(old)` must be accepted under mode `yes` and refused under mode `no`."""
    old = lk.schemas.load(base)
    new = make(copy.deepcopy(old))  # type: ignore[operator]
    if not isinstance(new, dict) or new.get("type") != "record":
        raise Wrong(f"after {base}: the new schema must be a record schema (a dict)",
                    expected="{'type': 'record', ...}", got=type(new).__name__)
    subject = _registered(old)
    verdicts = {mode: _accepts(subject, new, mode) for mode in (yes, no)}
    if verdicts != {yes: True, no: False}:
        raise Wrong(f"after {base}: the registry's verdicts on your schema",
                    expected={yes: True, no: False}, got=verdicts)


@grader("backward_not_forward",
        hint="removing something, or renaming with an alias, helps only one of the two readers")
def grade_backward_not_forward(module: ModuleType) -> None:
    for base in BASES:
        _one_way(module.backward_not_forward, base, yes="BACKWARD", no="FORWARD")


@grader("forward_not_backward",
        hint="a new field that old data cannot fill: what does a new reader do without a default?")
def grade_forward_not_backward(module: ModuleType) -> None:
    for base in BASES:
        _one_way(module.forward_not_backward, base, yes="FORWARD", no="BACKWARD")


@grader("is_backward_compatible",
        hint="the writer is `old`, the reader is `new`; a few records miss the rare currencies")
def grade_is_backward_compatible(module: ModuleType) -> None:
    names = lk.schemas.available("transactions")
    for old in names:
        subject = _registered(old)
        for new in names:
            if new == old:
                continue
            expected = _accepts(subject, lk.schemas.load(new), "BACKWARD")
            got = module.is_backward_compatible(old, new)
            if got is not expected:
                raise Wrong(f"may {new} follow {old} under BACKWARD", expected=expected, got=got)
