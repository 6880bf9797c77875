"""Folders and items written straight into an emulator's store, for tests that measure its reads."""

from __future__ import annotations

import uuid
from typing import Any

from reconciler.emulator.store import Store, now_iso


def add_folder(store: Store, name: str, parent: str | None = None) -> str:
    folder = str(uuid.uuid4())
    stamp = now_iso()
    with store.tx() as tx:
        tx.add_folder(
            {
                "uuid": folder,
                "parent": parent,
                "name": name,
                "description": "",
                "client_metadata": {},
                "owner": "o",
                "created_at": stamp,
                "last_edited_at": stamp,
                "synced_dataset_hash": None,
            }
        )
    return folder


def item_row(
    folder: str, name: str, item_type: str = "image", metadata: dict[str, Any] | None = None
) -> dict[str, Any]:
    return {
        "uuid": str(uuid.uuid4()),
        "parent": folder,
        "item_type": item_type,
        "name": name,
        "url": f"gs://b/{uuid.uuid4().hex}.jpg",
        "client_metadata": metadata or {},
        "owner": "o",
        "created_at": now_iso(),
        "last_edited_at": now_iso(),
        "storage_location": "gcp",
        "integration_hash": None,
        "media": {"mimeType": "image/jpeg", "width": 4, "height": 3},
    }
