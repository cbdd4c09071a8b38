"""Chapter 03 exercises: schema evolution (notebooks/03_schema_evolution.ipynb).

Write each function, then grade them against the live registry: `make check CH=03`.
Schemas are JSON objects (dicts), as `lk.schemas.load("transactions.v2")` returns them,
or lab schema names such as "transactions.v2" (`lk.schemas.available("transactions")`).
"""

from __future__ import annotations


def backward_not_forward(old: dict) -> dict:
    """A next version of `old` that is BACKWARD compatible but not FORWARD compatible.

    Input: a record schema (the grader passes transactions.v1 and transactions.v2).
    Output: the new schema, a dict: a record with the same name and namespace. Build it
    from a copy (`copy.deepcopy(old)`); the grader keeps its own copy of `old`.

    The grader registers `old` under a fresh subject and asks the registry whether your
    schema may follow it: under BACKWARD the answer must be yes, under FORWARD no.

    Hint: BACKWARD means a reader with the new schema reads data written with the old one;
    FORWARD means a reader with the old schema reads data written with the new one. Find a
    change that only one of those two readers survives (notebook 03, sections 3 and 4).
    """
    raise NotImplementedError("return a new version of `old`: BACKWARD yes, FORWARD no")


def forward_not_backward(old: dict) -> dict:
    """A next version of `old` that is FORWARD compatible but not BACKWARD compatible.

    Input and output as in `backward_not_forward`; the grader checks the opposite verdicts:
    under FORWARD the registry must accept your schema, under BACKWARD refuse it.

    Hint: which reader needs a value that the other writer never wrote?
    """
    raise NotImplementedError("return a new version of `old`: FORWARD yes, BACKWARD no")


def is_backward_compatible(old: str, new: str) -> bool:
    """May schema `new` follow schema `old` under BACKWARD? Decide by decoding, with fastavro.

    Input: two names from `lk.schemas.available("transactions")`.
    Output: True when every record written with `old` can be read with `new` as the
    reader schema, False when Avro's schema resolution fails on any of them.

    The grader asks the registry the same question for every ordered pair of the lab's
    transaction schemas and compares its verdicts with yours.

    Hint: `lk.generate.transactions(n, schema=old)` makes records shaped like `old`;
    write each with `fastavro.schemaless_writer` and the old schema, read it back with
    `fastavro.schemaless_reader(buffer, old_schema, new_schema)` (schemas parsed with
    `fastavro.parse_schema`). An enum symbol the reader lacks fails only on the records
    that carry it, so use enough records (notebook 03, section 3).
    """
    raise NotImplementedError("write the old schema's records, read them with the new one")
