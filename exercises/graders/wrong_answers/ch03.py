"""Plausible wrong answers to chapter 03's exercises: each is the reference solution with one
function replaced, and `exercises/graders/ch03.py` must fail it with `fails_with` in its line."""

from __future__ import annotations

import copy
import json

import labkit as lk
from labkit.check import wrong_answer

solution = lk.check.load("03", solutions=True)


def _with_field(old: dict, field: dict) -> dict:
    new = copy.deepcopy(old)
    new["fields"].append(field)
    return new


@wrong_answer("backward_not_forward", fails_with="'FORWARD': True")
def adds_a_field_with_a_default(old: dict) -> dict:
    """Adds an optional field: both readers cope, so FORWARD accepts it too (FULL)."""
    return _with_field(old, {"name": "channel", "type": ["null", "string"], "default": None})


@wrong_answer("backward_not_forward", fails_with="'BACKWARD': False")
def the_other_direction(old: dict) -> dict:
    """Adds a field without a default: the answer to forward_not_backward."""
    return solution.forward_not_backward(old)


@wrong_answer("backward_not_forward", fails_with="'FORWARD': True")
def removes_the_last_field(old: dict) -> dict:
    """Removes the last field, whatever it is: after v2 it has a default, so FORWARD holds."""
    new = copy.deepcopy(old)
    new["fields"].pop()
    return new


@wrong_answer("backward_not_forward", fails_with="must be a record schema (a dict)")
def returns_json_text(old: dict) -> str:
    """Returns the schema as JSON text instead of a dict."""
    return json.dumps(solution.backward_not_forward(old))


@wrong_answer("forward_not_backward", fails_with="'BACKWARD': True")
def adds_an_optional_field(old: dict) -> dict:
    """Adds a field with a default: the new reader fills it in old data, so BACKWARD holds."""
    return _with_field(old, {"name": "channel", "type": "string", "default": "web"})


@wrong_answer("forward_not_backward", fails_with="'FORWARD': False")
def removes_a_required_field(old: dict) -> dict:
    """Removes a field without a default: the answer to backward_not_forward."""
    return solution.backward_not_forward(old)


@wrong_answer("forward_not_backward", fails_with="'FORWARD': False")
def renames_a_field(old: dict) -> dict:
    """Renames a required field without an alias: neither reader finds it."""
    new = copy.deepcopy(old)
    field = next(field for field in new["fields"] if "default" not in field)
    field["name"] += "_renamed"
    return new


@wrong_answer("is_backward_compatible", fails_with="under BACKWARD: expected False, got True")
def too_few_records(old: str, new: str) -> bool:
    """Tries 5 records: none carries the currency the new schema dropped."""
    return solution._read_back(lk.generate.transactions(5, schema=old), writer=old, reader=new)


@wrong_answer("is_backward_compatible", fails_with="under BACKWARD")
def reader_and_writer_swapped(old: str, new: str) -> bool:
    """Writes with `new` and reads with `old`: that is FORWARD, not BACKWARD."""
    return solution._read_back(lk.generate.transactions(300, schema=new), writer=new, reader=old)


@wrong_answer("is_backward_compatible", fails_with="under BACKWARD")
def same_field_names(old: str, new: str) -> bool:
    """Compares the field names instead of decoding: types, defaults and symbols unseen."""
    names = [{field["name"] for field in lk.schemas.load(name)["fields"]} for name in (old, new)]
    return names[1] <= names[0]
