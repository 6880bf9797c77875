"""An entry's clientMetadata against the organisation's metadata schema (../shared/encord-api.md §4.1).

The schema is given as key -> `{"type": ..., "values": [...] (enum), "size": int (embedding),
"max_length": int (varchar), "deleted": bool}`. A null value passes whatever the type (it unsets the key).
`keyframes` is Encord's own key, outside any schema, and passes unchecked; so does a key outside the
schema whose value is a JSON object (per-frame metadata, for one), since no schema type can declare it.
The shape of a geospatial value, `{"latitude": ..., "longitude": ...}`, is inferred from the SDK, not
confirmed.
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from reconciler.registration.sourcefile import did_you_mean, kind_of

RESERVED_KEYS = frozenset({"keyframes"})
DEFAULT_VARCHAR_LENGTH = 8192
_SHOWN_VALUES = 10


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _number(value: Any, shape: Mapping[str, Any]) -> str | None:
    if not _is_number(value):
        return f"must be a number, got {kind_of(value)}"
    return None if math.isfinite(value) else "must be a finite number"


def _boolean(value: Any, shape: Mapping[str, Any]) -> str | None:
    return None if isinstance(value, bool) else f"must be true or false, got {kind_of(value)}"


def _text(value: Any, shape: Mapping[str, Any]) -> str | None:
    return None if isinstance(value, str) else f"must be a string, got {kind_of(value)}"


def _varchar(value: Any, shape: Mapping[str, Any]) -> str | None:
    if not isinstance(value, str):
        return f"must be a string, got {kind_of(value)}"
    limit = shape.get("max_length", DEFAULT_VARCHAR_LENGTH)
    return f"is {len(value):,} characters; the schema allows {limit:,}" if len(value) > limit else None


def _datetime(value: Any, shape: Mapping[str, Any]) -> str | None:
    wanted = "must be an ISO 8601 date and time, e.g. 2024-05-01T12:00:00Z"
    if not isinstance(value, str):
        return f"{wanted}, got {kind_of(value)}"
    try:
        datetime.fromisoformat(value[:-1] + "+00:00" if value.endswith(("Z", "z")) else value)
    except ValueError:
        return f"{wanted}, got {value!r}"
    return None


def _uuid(value: Any, shape: Mapping[str, Any]) -> str | None:
    wanted = "must be a UUID string"
    if not isinstance(value, str):
        return f"{wanted}, got {kind_of(value)}"
    try:
        uuid.UUID(value)
    except ValueError:
        return f"{wanted}, got {value!r}"
    return None


def _enum(value: Any, shape: Mapping[str, Any]) -> str | None:
    values = [str(v) for v in shape.get("values", ())]
    if isinstance(value, str) and value in values:
        return None
    shown = ", ".join(repr(v) for v in values[:_SHOWN_VALUES]) + (
        ", ..." if len(values) > _SHOWN_VALUES else ""
    )
    hint = did_you_mean(value, values) if isinstance(value, str) else ""
    return f"must be one of {shown}, got {value!r}{hint}"


def _embedding(value: Any, shape: Mapping[str, Any]) -> str | None:
    size = shape.get("size")
    wanted = f"must be a list of {size} numbers"
    if not isinstance(value, list):
        return f"{wanted}, got {kind_of(value)}"
    if not all(_is_number(v) and math.isfinite(v) for v in value):
        return f"{wanted}, and not all are (finite) numbers"
    return f"{wanted}, got {len(value)}" if size is not None and len(value) != size else None


def _geospatial(value: Any, shape: Mapping[str, Any]) -> str | None:
    wanted = 'must be {"latitude": -90..90, "longitude": -180..180}'
    if not isinstance(value, dict):
        return f"{wanted}, got {kind_of(value)}"
    for name, bound in (("latitude", 90), ("longitude", 180)):
        number: Any = value.get(name)
        if not (_is_number(number) and -bound <= number <= bound):
            return f"{wanted}, got {name} {number!r}"
    return None


def _user(value: Any, shape: Mapping[str, Any]) -> str | None:
    return None if isinstance(value, str) else f"must be a string naming a user, got {kind_of(value)}"


_CHECKS: dict[str, Callable[[Any, Mapping[str, Any]], str | None]] = {
    "number": _number,
    "boolean": _boolean,
    "varchar": _varchar,
    "text": _text,
    "datetime": _datetime,
    "uuid": _uuid,
    "enum": _enum,
    "embedding": _embedding,
    "geospatial": _geospatial,
    "user": _user,
}


def value_problem(value: Any, shape: Mapping[str, Any]) -> str | None:
    """What is wrong with `value` for a key of this schema shape ("must be a number, got 'x'"), or None."""
    check = _CHECKS.get(str(shape.get("type")))
    return check(value, shape) if check is not None else None


_TEXT_ANSWERS = 4096  # text values whose answers a checker remembers


class MetadataChecker:
    """Checks clientMetadata objects against one schema; built once per run."""

    def __init__(self, schema: Mapping[str, Mapping[str, Any]]) -> None:
        self.keys = {key: shape for key, shape in schema.items() if not shape.get("deleted")}
        self.deleted = frozenset(key for key, shape in schema.items() if shape.get("deleted"))
        self.names = sorted(self.keys)
        # key -> its check and shape, looked up once; and the answers for text values, which repeat (an
        # enum's few values across a million entries)
        self._checks = {key: (_CHECKS.get(str(shape.get("type"))), shape) for key, shape in self.keys.items()}
        self._text_answers: dict[tuple[str, str], str | None] = {}

    def problems(self, metadata: Mapping[str, Any]) -> list[str]:
        found: list[str] = []
        for key, value in metadata.items():
            known = self._checks.get(key)
            if known is None:
                if key in RESERVED_KEYS or isinstance(value, dict):
                    continue
                if key in self.deleted:
                    found.append(f"clientMetadata key {key!r} was deleted from the metadata schema")
                else:
                    hint = did_you_mean(key, self.names)
                    found.append(f"clientMetadata key {key!r} is not in the metadata schema{hint}")
                continue
            check, shape = known
            if check is None or value is None:
                continue
            if type(value) is str:
                memo = (key, value)
                if memo in self._text_answers:
                    problem = self._text_answers[memo]
                else:
                    problem = check(value, shape)
                    if len(self._text_answers) < _TEXT_ANSWERS:
                        self._text_answers[memo] = problem
            else:
                problem = check(value, shape)
            if problem is not None:
                found.append(f"clientMetadata key {key!r} {problem}")
        return found
