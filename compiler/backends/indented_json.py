"""`json.dumps(value, indent=2)`, character for character, twice as fast.

Python's json module encodes in C only without `indent`; with it, a generator per nested
value made encoding a 10,000-layer report cost as much as analysing it. This encoder takes
the report's types (dicts, lists, tuples, strings and their subclasses such as symbolic
sizes, numbers, booleans, None) with one call per value and json's C string escaper;
anything else raises TypeError, as json does.

A caller that knows its values can write them itself (`encode` each at its place) and have
them laid out as objects: `objects_text` writes a list of same-keyed ones (a report's layers)
from one template, without encoding the keys again for each.
"""

from __future__ import annotations

from json.encoder import encode_basestring_ascii as _string

_CONSTANTS = {None: "null", True: "true", False: "false"}
_int = int.__repr__


def dumps(value) -> str:
    """The text of json.dumps(value, indent=2) (ensure_ascii; NaN and Infinity as json writes them)."""
    return encode(value, "\n")


def objects_text(rows: list[dict[str, str]], newline: str) -> str:
    """The text of a list of objects at `newline`'s place, each given as its keys and its values'
    JSON text at their place (`encode(value, newline + "    ")`); every row has the first's keys,
    in its order."""
    if not rows:
        return "[]"
    inner = newline + "  "
    template = _template(tuple(rows[0]), inner)
    return "[" + inner + ("," + inner).join([template % tuple(row.values()) for row in rows]) + newline + "]"


def object_text(fields: dict[str, str], newline: str) -> str:
    """The text of one object at `newline`'s place, given as its keys and its values' JSON text
    at their place (`encode(value, newline + "  ")`)."""
    return _template(tuple(fields), newline) % tuple(fields.values())


def _template(keys: tuple, newline: str) -> str:
    """An object's text with `%s` for each value."""
    if not keys:
        return "{}"
    inner = newline + "  "
    return "{" + inner + ("," + inner).join([_key(k).replace("%", "%%") + ": %s" for k in keys]) + newline + "}"


def encode(value, newline: str) -> str:
    """The value's text where json.dumps(…, indent=2) puts it: `newline` is the line break and
    indentation of the line the value starts on ("\n" at the top, "\n  " inside one container…)."""
    kind = type(value)
    if kind is str:
        return _string(value)
    if kind is int:
        return _int(value)
    # strings and ints, most of the values, are encoded in the comprehension, without a call
    if kind is dict:
        if not value:
            return "{}"
        inner = newline + "  "
        return "{" + inner + ("," + inner).join([
            (_string(k) if type(k) is str else _key(k)) + ": "
            + (_string(v) if type(v) is str else _int(v) if type(v) is int else "null" if v is None else encode(v, inner))
            for k, v in value.items()]) + newline + "}"
    if kind is list or kind is tuple:
        if not value:
            return "[]"
        inner = newline + "  "
        return "[" + inner + ("," + inner).join([
            _string(v) if type(v) is str else _int(v) if type(v) is int else encode(v, inner)
            for v in value]) + newline + "]"
    if value is None or value is True or value is False:
        return _CONSTANTS[value]
    if kind is float:
        return _float(value)
    return encode(_plain(value), newline)


def _plain(value):
    """A subclass of a JSON type as that type, which json encodes it as; else TypeError."""
    if isinstance(value, str):
        return str.__str__(value)
    if isinstance(value, int):  # (bool, an int, was handled before)
        return int.__int__(value)
    if isinstance(value, float):
        return float.__float__(value)
    if isinstance(value, dict):
        return dict(value)
    if isinstance(value, (list, tuple)):
        return list(value)
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


def _float(value: float) -> str:
    if value != value:
        return "NaN"
    if value in (float("inf"), float("-inf")):
        return "Infinity" if value > 0 else "-Infinity"
    return float.__repr__(value)


def _key(key) -> str:
    if type(key) is str:
        return _string(key)
    if key is None or key is True or key is False:
        return f'"{_CONSTANTS[key]}"'
    if isinstance(key, str):
        return _string(key)
    if isinstance(key, float):
        return f'"{_float(key)}"'
    if isinstance(key, int):
        return f'"{_int(key)}"'
    raise TypeError(f"keys must be str, int, float, bool or None, not {type(key).__name__}")
