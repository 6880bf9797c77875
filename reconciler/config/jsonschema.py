"""schema.json: the JSON Schema of a configuration file, generated from the pydantic models."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from reconciler.config.models import SCALAR_TYPES, TYPE_ALIASES, ConfigFile

SCHEMA_ID = "https://github.com/reconciler/reconciler/schema.json"


def config_json_schema() -> dict[str, Any]:
    schema = ConfigFile.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["$id"] = SCHEMA_ID
    schema["title"] = "reconciler configuration"
    # `caption: text` is shorthand for `caption: {type: text}`; pydantic cannot see the before-validator.
    keys = schema["$defs"]["MetadataSchemaSpec"]["properties"]["keys"]
    shorthand = {"type": "string", "enum": sorted([*SCALAR_TYPES, *TYPE_ALIASES])}
    keys["additionalProperties"] = {"anyOf": [shorthand, keys["additionalProperties"]]}
    keys["propertyNames"] = {"minLength": 1, "not": {"pattern": r"^\$"}}
    return schema


def render_schema() -> str:
    return json.dumps(config_json_schema(), indent=2, sort_keys=False) + "\n"


def schema_objects() -> Iterator[dict[str, Any]]:
    """Every object in the models' JSON Schema, depth first: what "did you mean" and redaction read."""
    stack: list[Any] = [ConfigFile.model_json_schema()]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            yield node
            stack.extend(reversed(list(node.values())))
        elif isinstance(node, list):
            stack.extend(reversed(node))
