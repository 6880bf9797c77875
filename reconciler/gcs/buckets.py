"""Read and write a bucket's CORS rules, IAM bindings and objects, as plain values.

Every function is synchronous and builds its own `Bucket` per call, so callers may run several at once
through `asyncio.to_thread` on one shared client. Google's exceptions become `GcsError` here.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypedDict

import orjson
from google.cloud import storage
from google.cloud.storage.retry import DEFAULT_RETRY

from reconciler.defaults import GCS_PAGE_SIZE
from reconciler.gcs.client import translate_errors
from reconciler.gcs.errors import GcsConflictError

# Unconditional bindings only: a member granted under an IAM condition is not granted outright.
_POLICY_VERSION = 3

# What a listing asks GCS for: only the fields reconciler uses, which keeps pages small.
LISTING_FIELDS = "items(name,size,contentType),nextPageToken"
NAME_FIELDS = "items(name),nextPageToken"

_CORS_KEYS = {
    "origins": "origin",
    "methods": "method",
    "response_headers": "responseHeader",
    "max_age_seconds": "maxAgeSeconds",
}


class CorsRuleData(TypedDict):
    """One CORS rule with the config's field names (`reconciler.config.sources.CorsRule`).

    Lists keep GCS's order. A field GCS leaves out reads as [] (or 0 for `max_age_seconds`), which is
    also what writing an omitted field means.
    """

    origins: list[str]
    methods: list[str]
    response_headers: list[str]
    max_age_seconds: int


@dataclass(frozen=True, slots=True)
class ObjectInfo:
    """One object under a listed prefix. `content_type` is None when GCS stores none."""

    name: str
    size: int
    content_type: str | None


def read_cors(client: storage.Client, bucket: str) -> list[CorsRuleData]:
    with translate_errors(bucket, "read the CORS rules of"):
        live = client.get_bucket(bucket)
        rules: list[dict[str, Any]] = list(live.cors or [])
    return [
        CorsRuleData(
            origins=[str(v) for v in rule.get("origin", [])],
            methods=[str(v) for v in rule.get("method", [])],
            response_headers=[str(v) for v in rule.get("responseHeader", [])],
            max_age_seconds=int(rule.get("maxAgeSeconds", 0)),
        )
        for rule in rules
    ]


def write_cors(client: storage.Client, bucket: str, rules: Sequence[Mapping[str, Any]]) -> None:
    """Replace the bucket's CORS rules with `rules` (an empty list removes them all).

    Each rule has the keys of `CorsRuleData` (a `CorsRule.model_dump()` fits); a missing key means [] or 0.
    """
    wire: list[dict[str, Any]] = []
    for rule in rules:
        unknown = set(rule) - set(_CORS_KEYS)
        if unknown:
            raise ValueError(f"unknown CORS rule keys: {', '.join(sorted(unknown))}")
        wire.append(
            {
                "origin": list(rule.get("origins", [])),
                "method": list(rule.get("methods", [])),
                "responseHeader": list(rule.get("response_headers", [])),
                "maxAgeSeconds": int(rule.get("max_age_seconds", 0)),
            }
        )
    with translate_errors(bucket, "write the CORS rules of"):
        target = client.bucket(bucket)
        target.cors = wire
        target.patch()


def read_iam_bindings(client: storage.Client, bucket: str) -> dict[str, list[str]]:
    """Role -> sorted members, from the bucket's unconditional IAM bindings (roles sorted too)."""
    with translate_errors(bucket, "read the IAM policy of"):
        policy = client.bucket(bucket).get_iam_policy(requested_policy_version=_POLICY_VERSION)
    merged: dict[str, set[str]] = {}
    for binding in policy.bindings:
        if binding.get("condition") or not binding.get("members"):
            continue
        merged.setdefault(str(binding["role"]), set()).update(str(m) for m in binding["members"])
    return {role: sorted(members) for role, members in sorted(merged.items())}


def add_iam_member(client: storage.Client, bucket: str, role: str, member: str) -> None:
    """Grant `role` to `member` on the bucket, leaving every other binding as it is. Idempotent."""
    _edit_iam_member(client, bucket, role, member, add=True)


def remove_iam_member(client: storage.Client, bucket: str, role: str, member: str) -> None:
    """Take `role` from `member` on the bucket, leaving every other binding as it is. Idempotent."""
    _edit_iam_member(client, bucket, role, member, add=False)


def iter_objects(
    client: storage.Client, bucket: str, prefix: str, page_size: int = GCS_PAGE_SIZE
) -> Iterator[list[ObjectInfo]]:
    """Every object whose name starts with `prefix`, one page (at most `page_size`) at a time.

    Follows page tokens to the end (one cursor); empty pages are skipped. Each page is fetched when asked
    for. `reconciler.gcs.listing` lists the same names faster, as ranges side by side.
    """
    token: str | None = None
    while True:
        items, token = list_page(client, bucket, prefix, page_size=page_size, token=token)
        if items:
            yield [object_info(item) for item in items]
        if token is None:
            return


def list_page(
    client: storage.Client,
    bucket: str,
    prefix: str,
    *,
    page_size: int = GCS_PAGE_SIZE,
    start: str | None = None,
    end: str | None = None,
    token: str | None = None,
    fields: str = LISTING_FIELDS,
) -> tuple[list[dict[str, Any]], str | None]:
    """One page of GCS's object listing (names from `start` inclusive to `end` exclusive), as GCS's own
    JSON items, and the token of the next page (None: this was the last).

    Through the client's own connection, so credentials, retries (the library's default: 429, 5xx,
    resets) and errors are the library's, but without the `Blob` `list_blobs` builds per object, which
    was most of the CPU of listing a million objects.
    """
    params: dict[str, Any] = {"projection": "noAcl", "fields": fields, "maxResults": page_size}
    optional = {"prefix": prefix or None, "startOffset": start, "endOffset": end, "pageToken": token}
    params.update({key: value for key, value in optional.items() if value is not None})
    with translate_errors(bucket, "list objects in"):
        raw = client._connection.api_request(
            method="GET", path=f"/b/{bucket}/o", query_params=params, retry=DEFAULT_RETRY, expect_json=False
        )
    answer = orjson.loads(raw) if raw else {}  # orjson: a third of json's time on a million names
    return list(answer.get("items", ())), answer.get("nextPageToken")


def object_info(item: dict[str, Any]) -> ObjectInfo:
    return ObjectInfo(
        name=item["name"], size=int(item.get("size") or 0), content_type=item.get("contentType")
    )


def _edit_iam_member(client: storage.Client, bucket: str, role: str, member: str, *, add: bool) -> None:
    doing = "grant an IAM role on" if add else "revoke an IAM role on"
    for attempt in (1, 2):
        try:
            with translate_errors(bucket, doing):
                target = client.bucket(bucket)
                policy = target.get_iam_policy(requested_policy_version=_POLICY_VERSION)
                if not _apply_edit(policy.bindings, role, member, add=add):
                    return
                # The policy carries the etag it was read with, so a concurrent edit fails with 412.
                target.set_iam_policy(policy)
                return
        except GcsConflictError as exc:
            if attempt == 2:
                raise GcsConflictError(
                    f"cannot {doing} bucket {bucket!r}: its IAM policy changed while being edited, twice; "
                    "run again",
                    bucket=bucket,
                    status=exc.status,
                ) from exc


def _apply_edit(bindings: list[dict[str, Any]], role: str, member: str, *, add: bool) -> bool:
    """Edit `bindings` in place; False when there is nothing to change."""
    plain = [b for b in bindings if b.get("role") == role and not b.get("condition")]
    present = any(member in b.get("members", ()) for b in plain)
    if add == present:
        return False
    if add:
        if plain:
            plain[0]["members"] = set(plain[0].get("members", ())) | {member}
        else:
            bindings.append({"role": role, "members": {member}})
        return True
    for binding in plain:
        binding["members"] = set(binding.get("members", ())) - {member}
    # to_api_repr drops bindings left without members.
    return True
