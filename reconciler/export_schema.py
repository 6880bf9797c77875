"""A metadata schema inferred from the clientMetadata a workspace holds, for `export` when the organisation
has none (a workspace built with the SDK alone usually has none).

Per key, from every non-null value: the most specific type that takes them all, in this order: boolean,
number, embedding (lists of numbers, all of one length), geospatial (`{latitude, longitude}`), uuid,
datetime, enum (strings, at most ENUM_MAX_DISTINCT distinct values, each seen twice on average), varchar
(strings up to 8,192 characters), text (longer strings). A key whose values are all other objects
(per-frame metadata, for one) needs no schema and is left out; a key no type takes (mixed types, lists of
other things) is left out and named, as is a key Encord would refuse; `keyframes` is Encord's own key.
The result passes the same checks plan makes.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from typing import Any

from reconciler.config.models import EMBEDDING_MAX, metadata_key_problem
from reconciler.registration.metadata_check import DEFAULT_VARCHAR_LENGTH, RESERVED_KEYS, MetadataChecker

ENUM_MAX_DISTINCT = 10


def _candidates(values: list[Any]) -> list[dict[str, Any]]:
    """Shapes to try for these values, most specific first."""
    shapes: list[dict[str, Any]] = [{"type": "boolean"}, {"type": "number"}]
    lengths = {len(v) for v in values if isinstance(v, list)}
    if len(lengths) == 1 and 1 <= (size := lengths.pop()) <= EMBEDDING_MAX:
        shapes.append({"type": "embedding", "size": size})
    shapes += [{"type": "geospatial"}, {"type": "uuid"}, {"type": "datetime"}]
    if all(isinstance(v, str) for v in values):
        distinct = sorted(set(values))
        if len(distinct) <= min(ENUM_MAX_DISTINCT, len(values) // 2) and all(distinct):
            shapes.append({"type": "enum", "values": distinct})
    shapes += [{"type": "varchar", "max_length": DEFAULT_VARCHAR_LENGTH}, {"type": "text"}]
    return shapes


def _geospatial(values: list[Any]) -> bool:
    return not MetadataChecker({"g": {"type": "geospatial"}}).problems({"g": values[0]})


def _declared(shape: dict[str, Any]) -> Any:
    """A shape as the config declares it."""
    if shape["type"] == "enum":
        return {"type": "enum", "values": shape["values"]}
    if shape["type"] == "embedding":
        return {"type": "embedding", "size": shape["size"]}
    return shape["type"]


def infer_schema(metadata: Iterable[Mapping[str, Any]]) -> tuple[dict[str, Any], list[str]]:
    """(key -> the type to declare, the keys left out with the reason); keys in sorted order."""
    values: dict[str, list[Any]] = defaultdict(list)
    for document in metadata:
        for key, value in document.items():
            if value is not None:
                values[key].append(value)
    keys: dict[str, Any] = {}
    left: list[str] = []
    for key in sorted(values):
        if key in RESERVED_KEYS:
            continue
        problem = metadata_key_problem(key)
        if problem is not None:
            left.append(f"{key} ({problem})")
            continue
        if all(isinstance(value, dict) for value in values[key]) and not _geospatial(values[key]):
            continue  # objects (per-frame metadata): no schema type declares them, and none needs to
        for shape in _candidates(values[key]):
            checker = MetadataChecker({key: shape})
            if all(not checker.problems({key: value}) for value in values[key]):
                keys[key] = _declared(shape)
                break
        else:
            left.append(f"{key} (its values fit no schema type: objects, lists or mixed types)")
    return keys, left
