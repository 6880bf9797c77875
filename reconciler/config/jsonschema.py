"""schema.json: the JSON Schema of a configuration file, generated from the pydantic models.

An editor validates the file as written, before `${VAR}` interpolation, so the schema accepts what the CLI
accepts once the environment is known (tests/unit/test_schema_agreement.py holds the two together):

- Every string is checked for well-formed references (`${NAME}`, `${NAME:-default}`, `$$`): a malformed
  `${` is an error whatever the environment (`$defs/Text`, and `$defs/JsonValue` inside client_metadata).
- Where a scalar of another kind may stand (a number, a boolean, a name from a list, null), a string
  holding a reference is accepted too (`$defs/Interpolated`): its value is checked once it is known.
  A string with a reference likewise passes the rules of constrained strings (bucket names, addresses).
- The models' own validators (pydantic cannot see them) are restated: URL and bucket shapes, addresses,
  folder names, metadata key names, "exactly one of json, csv or bucket", which keys need which.

Patterns are ECMA-262 (what editors run) and mean the same under Python's `re`: they end with `$(?!\\n)`
(Python's `$` also matches before a final newline) and spell out white space instead of `\\s` (whose
members differ between the two).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from reconciler.config.backends import _LABEL
from reconciler.config.models import SCALAR_TYPES, TYPE_ALIASES, ConfigFile

SCHEMA_ID = "https://github.com/reconciler/reconciler/schema.json"

TEXT = "#/$defs/Text"
INTERPOLATED = "#/$defs/Interpolated"
JSON_VALUE = "#/$defs/JsonValue"

END = r"$(?!\n)"
"""The end of the text, under ECMA-262 and Python's `re` alike."""
# A reference, and the other pieces of a string, as the loader's scanner reads them (yamlbase._VAR): `$$`
# is a literal `$`, and a `$` followed by `{` must open a well-formed reference.
_REF = r"\$\{[A-Za-z_][A-Za-z0-9_]*(?::-[^}]*)?\}"
_PLAIN = r"[^$]|\$\$|\$(?![{$])"
WELL_FORMED = rf"^(?:{_PLAIN}|{_REF})*$"
HAS_REFERENCE = rf"^(?:{_PLAIN})*{_REF}(?:{_PLAIN}|{_REF})*$"

# What str.isspace() calls white space (folder names must not start or end with it): ECMA's and Python's
# `\s` each differ from it.
_SPACES = r"\t-\r\x1c-\x20\x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000"
NOT_FOLDER_NAME = rf"/|^[{_SPACES}]|[{_SPACES}]$"  # a '/', or white space at either end

# A Unicode letter or digit cannot be named portably (`\p{L}` needs ECMA's u flag and is unknown to
# Python's `re`): where one is allowed, the schema lets any non-ASCII character through and the CLI judges.
_NON_ASCII = r"[^\x00-\x7f]"
_LETTER = rf"[A-Za-z]|{_NON_ASCII}"
CHANGE_ADDRESS = rf"^_*(?:{_LETTER})(?:{_LETTER}|_)*\.[\s\S]"  # <kind>.<name>, the kind letters and _
FORGET_ADDRESS = r"^folder\.[\s\S]*[^/]"  # folder.<path>, the path not only slashes
_KEY_CHAR = rf"[A-Za-z0-9]|{_NON_ASCII}"
METADATA_KEY = rf"^[-_ .]*(?:{_KEY_CHAR})(?:{_KEY_CHAR}|[-_ .])*{END}"
KEYFRAMES = "^[-_ .]*" + "[-_ .]*".join("keyframes") + f"[-_ .]*{END}"  # reserved in any spelling

_HOST = rf"{_LABEL}(?:\.{_LABEL})*\.?|[0-9A-Fa-f.]+(?:%[A-Za-z0-9]+)?"  # models._HOST; `:` starts the port
_IPV6 = r"\[[0-9A-Fa-f:.]+(?:%[A-Za-z0-9]+)?\]"
_PORT = r"0*(?:[0-9]{1,4}|[1-5][0-9]{4}|6[0-4][0-9]{3}|65[0-4][0-9]{2}|655[0-2][0-9]|6553[0-5])"  # 0-65535
DOMAIN = rf"^https?://(?:{_HOST}|{_IPV6})(?::(?:{_PORT})?)?/?{END}"  # scheme, host, port: nothing else
BUCKET_NAME = rf"^[a-z0-9][a-z0-9._-]{{1,220}}[a-z0-9]{END}"
BUCKET_URL = r"^gs://[^/]"  # gs://bucket-name/optional/prefix
GCS_LOCK = rf"^gs://[^/]+/[\s\S]*[^/]{END}"  # gs://bucket/object, the object not ending in `/`
IAM_MEMBER = r"^(?:serviceAccount|user|group|domain|principal|principalSet):"

_DEFS: dict[str, Any] = {
    "Text": {
        "type": "string",
        "pattern": WELL_FORMED,
        "description": "Text; ${NAME} and ${NAME:-default} are replaced by environment variables and $$ is "
        "a literal $. Any other ${ is an error.",
    },
    "Interpolated": {
        "type": "string",
        "pattern": HAS_REFERENCE,
        "description": "A value given by ${NAME} or ${NAME:-default}: checked once the environment is "
        "known (reconciler validate). Unquoted, a value that reads as a number, boolean or null is one.",
    },
    "JsonValue": {
        "type": ["string", "number", "boolean", "null", "array", "object"],
        "pattern": WELL_FORMED,
        "items": {"$ref": JSON_VALUE},
        "additionalProperties": {"$ref": JSON_VALUE},
        "description": "Any JSON value (YAML dates are not: quote them).",
    },
}

_ANNOTATIONS = ("title", "description", "default", "examples")
# Where a schema holds schemas: by name, in one, or in a list.
_SCHEMA_MAPS = ("$defs", "properties", "patternProperties")
_SCHEMA_ONE = ("items", "additionalProperties", "propertyNames", "not", "if", "then", "else")
_SCHEMA_LISTS = ("anyOf", "oneOf", "allOf", "prefixItems")


def config_json_schema() -> dict[str, Any]:
    schema: dict[str, Any] = {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": SCHEMA_ID,
        **_interpolation(ConfigFile.model_json_schema()),
    }
    schema["title"] = "reconciler configuration"
    _restate_validators(schema["properties"], schema["$defs"])
    schema["$defs"].update(_DEFS)
    return schema


def _is_scalar(node: dict[str, Any]) -> bool:
    """A scalar that is no free text: a number, a boolean, null, or a name from a list."""
    return "enum" in node or "const" in node or node.get("type") in ("integer", "number", "boolean", "null")


def _interpolation(node: dict[str, Any], branch: bool = False) -> dict[str, Any]:
    """The pydantic schema `node` with `${...}` accepted where a scalar may stand and every string checked.
    A `branch` of a union is left to its union, which accepts a reference once for all its branches."""
    node = dict(node)
    for key in _SCHEMA_MAPS:
        if key in node:
            node[key] = {name: _interpolation(sub) for name, sub in node[key].items()}
    for key in _SCHEMA_ONE:
        if isinstance(node.get(key), dict):
            node[key] = _interpolation(node[key])
    for key in _SCHEMA_LISTS:
        if key in node:
            node[key] = [_interpolation(sub, branch=key in ("anyOf", "oneOf")) for sub in node[key]]
    if "discriminator" in node:
        # pydantic's `oneOf` for a discriminated union: an interpolated `kind` or `type` would match more
        # than one branch, and otherwise their `const`s keep them apart.
        del node["discriminator"]
        node["anyOf"] = node.pop("oneOf")
    if "anyOf" in node:
        branches: list[dict[str, Any]] = []
        for sub in node["anyOf"]:  # a union within a union is flattened
            branches.extend(sub["anyOf"] if set(sub) == {"anyOf"} else [sub])
        if any(_is_scalar(b) for b in branches) and not any(b.get("$ref") == TEXT for b in branches):
            branches.append({"$ref": INTERPOLATED})
        node["anyOf"] = branches
    elif node.get("type") == "string" and not _is_scalar(node):
        del node["type"]
        node = {"$ref": TEXT, **node}
    elif _is_scalar(node) and not branch:
        annotations = {key: node.pop(key) for key in _ANNOTATIONS if key in node}
        node = {"anyOf": [node, {"$ref": INTERPOLATED}], **annotations}
    return node


def _rule(node: dict[str, Any], *alternatives: dict[str, Any]) -> None:
    """Constrain the string `node` (a `$defs/Text`): it follows one of `alternatives` (each with the node's
    length limits) or holds a reference, checked once the environment is known."""
    assert node.get("$ref") == TEXT and "anyOf" not in node, node
    lengths = {key: node.pop(key) for key in ("minLength", "maxLength") if key in node}
    node["anyOf"] = [*({**lengths, **rule} for rule in alternatives), {"$ref": INTERPOLATED}]


def _text(node: dict[str, Any]) -> dict[str, Any]:
    """The string branch of a nullable string (`anyOf: [Text, null]`)."""
    return next(branch for branch in node["anyOf"] if branch.get("$ref") == TEXT)


def _restate_validators(props: dict[str, Any], defs: dict[str, Any]) -> None:
    """What the models' validators check, in JSON Schema terms (pydantic's schema cannot see them)."""
    for backend in ("SandboxBackend", "EncordBackend"):
        defs[backend]["required"] = ["kind"]  # the union's discriminator: asked for even for the default
        _rule(_text(defs[backend]["properties"]["lock"]), {"pattern": GCS_LOCK}, {"not": {"pattern": "://"}})
    _rule(defs["EncordBackend"]["properties"]["domain"], {"pattern": DOMAIN})

    integration = defs["IntegrationSpec"]
    _rule(_text(integration["properties"]["bucket"]), {"pattern": BUCKET_NAME})
    integration["allOf"] = [
        {  # a bucket is managed for gcp integrations only
            "if": {"required": ["bucket"], "properties": {"bucket": {"type": "string"}}},
            "then": {"properties": {"provider": {"anyOf": [{"const": "gcp"}, {"$ref": INTERPOLATED}]}}},
        },
        {  # CORS rules and an IAM binding need the bucket
            "if": {"properties": {"bucket": {"type": "null"}}},
            "then": {"properties": {"iam": {"type": "null"}, "cors": {"not": {"type": "array"}}}},
        },
    ]
    _rule(defs["IamBindingSpec"]["properties"]["member"], {"pattern": IAM_MEMBER})

    values = defs["EnumKeySpec"]["properties"]["values"]
    values["uniqueItems"] = True
    values["items"]["minLength"] = 1

    # `caption: text` is shorthand for `caption: {type: text}`; pydantic cannot see the before-validator.
    keys = defs["MetadataSchemaSpec"]["properties"]["keys"]
    shorthand = {"type": "string", "enum": sorted([*SCALAR_TYPES, *TYPE_ALIASES])}
    keys["additionalProperties"]["anyOf"][:0] = [shorthand]
    keys["additionalProperties"]["anyOf"].append({"$ref": INTERPOLATED})
    keys["propertyNames"] = {  # models.metadata_key_problem; a key is never interpolated
        "pattern": METADATA_KEY,
        "not": {"type": "string", "pattern": KEYFRAMES},  # a key YAML reads as a number is no word
        "description": "Letters, digits, spaces, '-', '_' and '.', not starting with '$'; not 'keyframes' "
        "in any spelling.",
    }

    folder = defs["FolderSpec"]
    name = folder["properties"]["name"]
    _rule(name, {"not": {"pattern": NOT_FOLDER_NAME}})
    name["description"] = "No '/' (nest folders with `children`), no white space at either end."
    folder["properties"]["client_metadata"]["additionalProperties"] = {"$ref": JSON_VALUE}
    folder["if"] = {"required": ["prune"], "properties": {"prune": {"const": True}}}
    folder["then"] = {"required": ["data"], "properties": {"data": {"type": "array"}}}  # data: [] empties

    source = defs["DataSourceSpec"]
    _rule(_text(source["properties"]["bucket"]), {"pattern": BUCKET_URL})
    source["oneOf"] = [  # exactly one of json, csv and bucket is given, and not empty
        {"required": [key], "properties": {key: {"type": "string", "minLength": 1}}}
        for key in ("json", "csv", "bucket")
    ]
    source["if"] = {"properties": {"bucket": {"type": "null"}}}
    source["then"] = {  # only a bucket listing takes these
        "properties": {key: False for key in ("include", "exclude", "types", "title", "metadata", "groups")}
    }

    ref = defs["DatasetSpec"]["properties"]["folders"]["anyOf"][0]["items"]["anyOf"][0]
    ref["minLength"] = 1  # a folder path, or {path, recursive}

    _rule(props["forget"]["anyOf"][0]["items"], {"pattern": FORGET_ADDRESS})
    _rule(props["acknowledge"]["anyOf"][0]["items"], {"pattern": CHANGE_ADDRESS})


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
