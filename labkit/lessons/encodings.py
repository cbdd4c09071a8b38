"""Four ways to store a feature value in a Redis hash, side by side (notebook 02).

Redis keeps bytes, so each way is a pair: value -> text, and text (plus, for
the schema-typed way, the field's declared type) -> value. Only JSON per field
gives back every value with its type; the table `compare` builds shows where
each of the others loses something. `RedisFeatureSink` uses the JSON pair.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import pandas as pd
import redis as redis_py

from ..sinks import decode_field, encode_field

__all__ = ["ENCODINGS", "Encoding", "compare", "stored"]


class Encoding(NamedTuple):
    encode: Callable[[Any], str]
    decode: Callable[[str, str], Any]  # (stored text, declared type such as "int" or "str?")


# The original quick fix (problems/02-redis-type-compatibility.md): words for bool and None.
_WORDS = {True: "true", False: "false", None: "null"}
_WORDS_READ = {"true": True, "false": False, "null": None}


def _words_encode(value: Any) -> str:
    # `value in dict` would match 1 == True, so look booleans and None up by identity.
    if value is None or isinstance(value, bool):
        return _WORDS[value]
    return str(value)


def _typed_decode(text: str, declared: str) -> Any:
    kind, optional = declared.rstrip("?"), declared.endswith("?")
    if optional and text == "null":  # an optional field needs a sentinel for None
        return None
    if kind == "bool":
        return text == "true"
    return {"int": int, "float": float, "str": str}[kind](text)


ENCODINGS: dict[str, Encoding] = {
    "str()": Encoding(str, lambda text, _declared: text),
    "original fix: true/false/null": Encoding(_words_encode,
                                              lambda text, _declared: _WORDS_READ.get(text, text)),
    "schema-typed": Encoding(_words_encode, _typed_decode),
    "JSON per field": Encoding(lambda value: encode_field("value", value),
                               lambda text, _declared: decode_field(text.encode())),
}


def _round_trips(a: Any, b: Any) -> bool:
    """Read back exactly: same type and value (lossless), no tolerance."""
    return type(a) is type(b) and a == b


def compare(features: dict[str, Any], declared: dict[str, str]) -> pd.DataFrame:
    """One row per feature: what was written, then what each encoding reads back (✗ if lost)."""
    rows = []
    for name, value in features.items():
        row = {"feature": name, "written": repr(value)}
        for label, encoding in ENCODINGS.items():
            back = encoding.decode(encoding.encode(value), declared[name])
            row[label] = f"{back!r}" + ("" if _round_trips(back, value) else "  ✗")
        rows.append(row)
    return pd.DataFrame(rows).set_index("feature")


def stored(client: redis_py.Redis, features: dict[str, Any], declared: dict[str, str], *,
           key_prefix: str) -> pd.DataFrame:
    """Each encoding on a live Redis: one row per (feature, encoding) (notebook 02).

    The record is written once per encoding, as the hash `<key_prefix><encoding>`;
    `stored_bytes` is what Redis keeps for the field (HSTRLEN) and `lossless`
    whether HGET and the encoding's decoder give back the same type and value.
    """
    rows = []
    for label, encoding in ENCODINGS.items():
        key = f"{key_prefix}{label}"
        client.delete(key)
        client.hset(key, mapping={name: encoding.encode(value) for name, value in features.items()})
        for name, value in features.items():
            back = encoding.decode(client.hget(key, name).decode(), declared[name])
            rows.append({"feature": name, "encoding": label,
                         "stored_bytes": client.hstrlen(key, name),
                         "lossless": _round_trips(back, value)})
    return pd.DataFrame(rows)
