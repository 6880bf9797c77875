"""Validation of the organisation's client-metadata schema documents (v2 and legacy)."""

from __future__ import annotations

from typing import Any

from reconciler.emulator.errors import bad_request

_VARIANT_HINTS = frozenset({"number", "varchar", "text", "boolean", "datetime", "uuid"})
_EMBEDDING_API_FIELDS = frozenset(
    {"url", "path", "service_integration", "client_only", "embed_b64_image", "embed_text"}
)
_LEGACY_TYPES = frozenset(
    {"number", "string", "boolean", "datetime", "geospatial", "enum", "embedding", "long_string"}
)
# Allowed fields per `ty`, besides `ty` itself (encord/metadata_schema.py models).
_FIELDS: dict[str, frozenset[str]] = {
    "number": frozenset({"format"}),
    "boolean": frozenset(),
    "varchar": frozenset({"max_length"}),
    "text": frozenset(),
    "datetime": frozenset({"timezone"}),
    "uuid": frozenset(),
    "user": frozenset(),
    "enum": frozenset({"values"}),
    "embedding": frozenset({"size", "api"}),
    "geospatial": frozenset(),
    "variant": frozenset({"hint"}),
    "tombstone": frozenset({"deleted_ty"}),
}


def is_valid_key(key: str) -> bool:
    """Same rule as the SDK: no leading `$`; letters/digits once `-`, `_`, space and `.` are removed."""
    if key == "" or key.startswith("$"):
        return False
    stripped = key
    for char in "-_ .":
        stripped = stripped.replace(char, "")
    return stripped != "" and stripped != "keyframes" and stripped.isalnum()


def _check_option(key: str, option: Any, *, inside_tombstone: bool = False) -> None:
    where = f"metadata key {key!r}"
    if not isinstance(option, dict):
        raise bad_request(f"{where}: option must be an object with a 'ty' field")
    ty = option.get("ty")
    if ty not in _FIELDS or (inside_tombstone and ty == "tombstone"):
        raise bad_request(f"{where}: unknown type {ty!r}")
    unknown = set(option) - {"ty"} - _FIELDS[ty]
    if unknown:
        raise bad_request(f"{where}: unexpected field(s) {sorted(unknown)} for type {ty!r}")
    if ty == "number" and option.get("format", "F64") not in ("F32", "F64"):
        raise bad_request(f"{where}: number format must be 'F32' or 'F64'")
    if ty == "varchar":
        length = option.get("max_length", 8192)
        if not isinstance(length, int) or isinstance(length, bool) or not 0 <= length <= 8192:
            raise bad_request(f"{where}: max_length must be an integer in 0..8192")
    if ty == "datetime" and option.get("timezone", "UTC") != "UTC":
        raise bad_request(f"{where}: timezone must be 'UTC'")
    if ty == "enum":
        values = option.get("values")
        if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
            raise bad_request(f"{where}: enum values must be a list of strings")
        if not 1 <= len(values) <= 256:
            raise bad_request(f"{where}: an enum needs 1 to 256 values, got {len(values)}")
        if len(set(values)) != len(values):
            raise bad_request(f"{where}: enum values must be unique")
    if ty == "embedding":
        size = option.get("size")
        if not isinstance(size, int) or isinstance(size, bool) or not 0 < size <= 4096:
            raise bad_request(f"{where}: embedding size must be an integer in 1..4096")
        api = option.get("api")
        if api is not None and (not isinstance(api, dict) or set(api) - _EMBEDDING_API_FIELDS):
            raise bad_request(f"{where}: embedding api must be null or an object with known fields")
    if ty == "variant" and option.get("hint", "text") not in _VARIANT_HINTS:
        raise bad_request(f"{where}: variant hint must be one of {sorted(_VARIANT_HINTS)}")
    if ty == "tombstone" and option.get("deleted_ty") is not None:
        _check_option(key, option["deleted_ty"], inside_tombstone=True)


def validate_schema(document: Any) -> dict[str, Any]:
    if not isinstance(document, dict):
        raise bad_request("The metadata schema must be a JSON object mapping keys to options")
    for key, option in document.items():
        if not is_valid_key(key):
            raise bad_request(f"{key!r} is an invalid format for a metadata key")
        _check_option(key, option)
    return document


def validate_legacy_schema(document: Any) -> dict[str, str]:
    if not isinstance(document, dict):
        raise bad_request("The metadata schema must be a JSON object mapping keys to type names")
    for key, ty in document.items():
        if not is_valid_key(key):
            raise bad_request(f"{key!r} is an invalid format for a metadata key")
        if ty not in _LEGACY_TYPES:
            raise bad_request(f"metadata key {key!r}: unknown type {ty!r}")
    return document
