"""Media metadata (imageMetadata, videoMetadata, ...) checked in Encord's terms, before any request.

The terms are the pinned SDK's models (reconciler/encord/upload_wire.py): which fields each object needs
and their types. A key may be spelt as the SDK's model names it (`file_size`) or as it goes on the wire
(`fileSize`); apply sends camelCase, with numbers as numbers, as the SDK does.

Stricter than the SDK on purpose, because a declaration is reviewed once and then trusted:
- an unknown key is a problem (the SDK drops it silently, so a typo such as `widht` would vanish);
- numbers must be JSON numbers (the SDK also takes `"30"` and `true`, which are almost always mistakes);
- sizes, dimensions, rates and counts must be positive, a file size and a duration not negative.
"""

from __future__ import annotations

import math
from typing import Any

from pydantic import ValidationError

from reconciler.encord.upload_wire import MEDIA_MODELS, snake_to_camel
from reconciler.registration.entry import MEDIA_KEYS
from reconciler.registration.sourcefile import did_you_mean, kind_of

_POSITIVE = frozenset({"width", "height", "fps", "sample_rate", "bit_depth", "num_channels", "num_pages"})
_NOT_NEGATIVE = frozenset({"file_size", "duration"})
_TYPE_WORDS = {
    "int_type": "a whole number",
    "int_from_float": "a whole number",
    "float_type": "a number",
    "string_type": "a string",
}


def _shown(value: Any) -> str:
    if (isinstance(value, str) and 0 < len(value) <= 40) or type(value) in (int, float):
        return repr(value)
    return kind_of(value)


def _spellings(data_type: str) -> dict[str, str]:
    """Every accepted spelling of the type's media keys -> the SDK's field name."""
    names = MEDIA_MODELS[data_type].model_fields
    return {**{name: name for name in names}, **{snake_to_camel(name): name for name in names}}


def media_problems(data_type: str, media: dict[str, Any]) -> list[str]:
    """What is wrong with one entry's media metadata, each as `<key>: message` (empty when none)."""
    if data_type not in MEDIA_MODELS:
        return []
    media_key = MEDIA_KEYS[data_type]
    model = MEDIA_MODELS[data_type]
    spellings = _spellings(data_type)
    wire_names = [snake_to_camel(name) for name in model.model_fields]
    problems: list[str] = []
    by_name: dict[str, Any] = {}
    for key, value in media.items():
        name = spellings.get(key)
        if name is None:
            problems.append(f"{media_key}: unknown key {key!r}{did_you_mean(key, wire_names)}")
        elif name in by_name:
            problems.append(f"{media_key}: {snake_to_camel(name)} is given twice (two spellings)")
        else:
            by_name[name] = value
    missing = [snake_to_camel(name) for name in model.model_fields if name not in by_name]
    if missing:
        problems.append(
            f"{media_key}: missing {', '.join(missing)} (Encord needs all of {', '.join(wire_names)})"
        )
    try:
        model.model_validate(by_name, strict=True)
    except ValidationError as error:
        for found in error.errors():
            if found["type"] == "missing":
                continue
            field = str(found["loc"][0])
            wanted = _TYPE_WORDS.get(found["type"], found["msg"])
            problems.append(
                f"{media_key}.{snake_to_camel(field)}: must be {wanted}, got {_shown(by_name[field])}"
            )
    for name, value in by_name.items():
        if type(value) not in (int, float):
            continue
        wire = f"{media_key}.{snake_to_camel(name)}"
        if not math.isfinite(value):
            problems.append(f"{wire}: must be a finite number")
        elif name in _POSITIVE and value <= 0:
            problems.append(f"{wire}: must be greater than 0, got {value}")
        elif name in _NOT_NEGATIVE and value < 0:
            problems.append(f"{wire}: must not be negative, got {value}")
    return problems
