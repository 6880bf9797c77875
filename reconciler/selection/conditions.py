"""Conditions on an item's clientMetadata, typed by the metadata schema (issue 17, the core of selectors).

Pure functions, no I/O. A condition names a schema
key and says what its value must be:

    camera: front                          equal
    camera: {in: [front, front-wide]}      one of
    team: {not: perception}                anything but (an absent key is "anything but" too)
    camera: {not_in: [rear]}               none of
    clip.duration_s: {gt: 10, lte: 60}     a number range (gt, gte, lt, lte)
    captured_at: {gte: 2024-05-01T00:00:00Z, lt: 2024-06-01T00:00:00Z}   a datetime range
    reviewed: {exists: false}              presence

Every condition is checked against the schema before any item is read: an unknown key, an operator the
key's type cannot take (a range on an enum), or a value of the wrong type is a problem naming the key.
A key with dots (`scene.weather`) is looked up as one key of clientMetadata first, then as a path into
nested objects.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from reconciler.registration.metadata_check import value_problem
from reconciler.registration.sourcefile import did_you_mean

_RANGE = ("gt", "gte", "lt", "lte")
_OPERATORS = ("in", "not", "not_in", "exists", *_RANGE)
_RANGED_TYPES = frozenset({"number", "datetime"})
_ABSENT = object()


@dataclass(frozen=True)
class Condition:
    """One checked condition: `test(value)` says whether an item's value (or `_ABSENT`) passes."""

    key: str
    test: Callable[[Any], bool]
    text: str  # how the plan shows it: `camera in [front, front-wide]`

    def holds(self, metadata: Mapping[str, Any]) -> bool:
        return self.test(value_at(metadata, self.key))


def value_at(metadata: Mapping[str, Any], key: str) -> Any:
    """The value under `key`: the key itself, else the dotted path into nested objects; `_ABSENT`."""
    if key in metadata:
        value = metadata[key]
        return _ABSENT if value is None else value  # a null reads as no value, on both sides
    node: Any = metadata
    for part in key.split("."):
        if not isinstance(node, Mapping) or part not in node:
            return _ABSENT
        node = node[part]
    return _ABSENT if node is None else node


def parse_conditions(
    where: Mapping[str, Any], schema: Mapping[str, Mapping[str, Any]]
) -> tuple[list[Condition], list[str]]:
    """The conditions of one `where` mapping, and every problem with them (each names its key)."""
    conditions: list[Condition] = []
    problems: list[str] = []
    names = sorted(schema)
    for key, spec in where.items():
        shape = schema.get(key)
        if shape is None:
            problems.append(f"{key}: not a key of the metadata schema{did_you_mean(key, names)}")
            continue
        condition, problem = _parse_one(key, spec, shape)
        if problem is not None:
            problems.append(f"{key}: {problem}")
        elif condition is not None:
            conditions.append(condition)
    return conditions, problems


def _parse_one(key: str, spec: Any, shape: Mapping[str, Any]) -> tuple[Condition | None, str | None]:
    kind = str(shape.get("type"))
    if isinstance(spec, list) and kind != "embedding":  # an embedding's value is a list
        return None, "a list is not one value; to match any of several, write {in: [...]}"
    if not isinstance(spec, Mapping):  # `key: value`, equality
        problem = _value_problem(spec, shape)
        if problem:
            return None, problem
        wanted = _comparable(spec, kind)
        return Condition(key, lambda v: _comparable(v, kind) == wanted, f"{key} = {spec!r}"), None
    unknown = [op for op in spec if op not in _OPERATORS]
    if unknown:
        return None, f"unknown operator {unknown[0]!r}; one of: {', '.join(_OPERATORS)}"
    if not spec:
        return None, "an empty condition; give a value or an operator"
    tests: list[Callable[[Any], bool]] = []
    texts: list[str] = []
    for op, operand in spec.items():
        test, problem = _operator(op, operand, kind, shape)
        if problem:
            return None, f"{op}: {problem}"
        assert test is not None
        tests.append(test)
        texts.append(f"{key} {op.replace('_', ' ')} {operand!r}")
    empty = _selects_nothing(spec, kind)
    if empty:
        return None, empty
    return Condition(key, lambda v: all(t(v) for t in tests), " and ".join(texts)), None


def _selects_nothing(spec: Mapping[str, Any], kind: str) -> str | None:
    """A condition whose operators (each valid) leave no value: a mistake, said offline."""
    low = [(op, spec[op]) for op in ("gt", "gte") if op in spec]
    high = [(op, spec[op]) for op in ("lt", "lte") if op in spec]
    for low_op, low_value in low:
        for high_op, high_value in high:
            lo, hi = _comparable(low_value, kind), _comparable(high_value, kind)
            if lo > hi or (lo == hi and (low_op, high_op) != ("gte", "lte")):
                bounds = f"{low_op} {low_value!r} and {high_op} {high_value!r}"
                return f"{bounds} leave no value: this selects nothing"
    if "in" in spec and "not_in" in spec:
        left = {_comparable(v, kind) for v in spec["in"]} - {_comparable(v, kind) for v in spec["not_in"]}
        if not left:
            return "every value of `in` is also in `not_in`: this selects nothing"
    return None


def _operator(
    op: str, operand: Any, kind: str, shape: Mapping[str, Any]
) -> tuple[Callable[[Any], bool] | None, str | None]:
    if op == "exists":
        if not isinstance(operand, bool):
            return None, "must be true or false"
        return (lambda v: (v is not _ABSENT) == operand), None
    if op in ("in", "not_in"):
        if not isinstance(operand, list) or not operand:
            return None, "must be a non-empty list of values"
        for value in operand:
            problem = _value_problem(value, shape)
            if problem:
                return None, problem if repr(value) in problem else f"{value!r} {problem}"
        wanted = {_comparable(v, kind) for v in operand}
        if op == "in":
            return (lambda v: v is not _ABSENT and _comparable(v, kind) in wanted), None
        return (lambda v: v is _ABSENT or _comparable(v, kind) not in wanted), None
    if op == "not":
        if isinstance(operand, list):
            return None, "takes one value; to leave out several, write not_in: [...]"
        problem = _value_problem(operand, shape)
        if problem:
            return None, problem
        unwanted = _comparable(operand, kind)
        return (lambda v: v is _ABSENT or _comparable(v, kind) != unwanted), None
    # a range
    if kind not in _RANGED_TYPES:
        return None, f"a range needs a number or datetime key; this one is {kind}"
    problem = _value_problem(operand, shape)
    if problem:
        return None, problem
    bound = _comparable(operand, kind)
    compare: Callable[[Any, Any], bool] = {
        "gt": operator.gt,
        "gte": operator.ge,
        "lt": operator.lt,
        "lte": operator.le,
    }[op]

    def in_range(v: Any) -> bool:
        value = _comparable(v, kind)
        return value is not None and compare(value, bound)

    return in_range, None


def _value_problem(value: Any, shape: Mapping[str, Any]) -> str | None:
    if isinstance(value, datetime):  # YAML reads an unquoted timestamp as a datetime
        value = value.isoformat()
    return value_problem(value, shape)


def _comparable(value: Any, kind: str) -> Any:
    """A value in the form conditions compare: datetimes as aware datetimes (UTC when naive), numbers
    as floats; anything that does not fit the key's type compares as None (never in range, never equal
    to a checked value)."""
    if value is _ABSENT or value is None:
        return None
    if kind == "datetime":
        if isinstance(value, datetime):
            return value if value.tzinfo else value.replace(tzinfo=UTC)
        if not isinstance(value, str):
            return None
        text = value[:-1] + "+00:00" if value.endswith(("Z", "z")) else value
        try:
            parsed = datetime.fromisoformat(text)
        except ValueError:
            return None
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    if kind == "number":
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
            return None
        return float(value)
    return value
