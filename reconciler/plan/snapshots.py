"""The `before` of each address, read from the live state: shown in the plan, and digested into the
per-resource fingerprint that tells a saved plan which resource moved since."""

from __future__ import annotations

from typing import Any

from reconciler.live import LiveState
from reconciler.plan.diff_buckets import bucket_snapshot
from reconciler.plan.diff_items import contents_digest
from reconciler.plan.model import Change, Kind, fingerprint, parse_address

ENCORD_UI = "the Encord web app (https://app.encord.com, or app.us.encord.com for the US deployment)"


def snapshot(live: LiveState, address: str) -> dict[str, Any] | None:
    kind, name = parse_address(address)
    if kind == Kind.INTEGRATION:
        integ = live.integrations.get(name)
        return None if integ is None else {"title": integ.title, "uuid": integ.uuid}
    if kind == Kind.SCHEMA_KEY:
        key = live.schema_keys.get(name)
        return None if key is None else key.model_dump(exclude_none=True)
    if kind == Kind.FOLDER:
        folder = live.folders.get(name)
        if folder is None:
            return None
        return {
            "uuid": folder.uuid,
            "name": folder.name,
            "description": folder.description,
            "client_metadata": folder.client_metadata,
        }
    if kind in (Kind.BUCKET_CORS, Kind.BUCKET_IAM):
        return bucket_snapshot(live, kind, name)
    if kind in (Kind.FOLDER_ITEMS, Kind.FOLDER_ITEMS_PRUNE):
        return {"digest": contents_digest(live.contents.get(name))}
    ds = live.datasets.get(name)
    if ds is None:
        return None
    if kind == Kind.DATASET_ITEMS:
        return {"linked_items": sorted(ds.linked_items)}
    return {"uuid": ds.uuid, "title": ds.title, "description": ds.description}


def make_change(live: LiveState, **fields: Any) -> Change:
    return Change(fingerprint=fingerprint(snapshot(live, fields["address"])), **fields)
