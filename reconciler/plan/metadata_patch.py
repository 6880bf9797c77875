"""clientMetadata changes that converge whether Encord merges or replaces the document on PATCH.

The SDK's docstring says an item's metadata update will "merge or overwrite, depending on API semantics";
which one Encord does is UNCONFIRMED (../shared/encord-api.md §6). So a key that goes is sent as an
explicit null, and a key whose value is null counts as absent when comparing: replaced, the document
holds the null; merged, the key is set to null; either way the next plan sees the key gone. A key
declared as null is the same as a key not declared.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def present(metadata: Mapping[str, Any] | None) -> dict[str, Any]:
    """The keys that hold a value (a null value is no value)."""
    return {key: value for key, value in (metadata or {}).items() if value is not None}


def metadata_patch(declared: Mapping[str, Any], live: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """The document to send, or None when the two already agree: the declared keys, and a null for
    every key the live document holds that the declaration drops."""
    if declared == live:  # the common case, a million times over: equal documents, nulls and all
        return None
    wanted = present(declared)
    if wanted == present(live):
        return None
    gone = {key: None for key, value in (live or {}).items() if value is not None and key not in wanted}
    return {**wanted, **gone}
