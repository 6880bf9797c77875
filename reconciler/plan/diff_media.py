"""Declared media metadata (imageMetadata, videoMetadata, ...) against what Encord holds for the item.

Encord takes media metadata only when it registers a file (the item update has no field for it), so a
difference cannot be applied: it is one `unsupported` change per folder, `folder_items_media.<path>`, with
a few examples and what to do by hand. Only the fields Encord reports on an item are compared (a PDF's
page count is not reported, so it is not compared), and only where the source declares media metadata.
"""

from __future__ import annotations

from typing import Any

from reconciler.encord.upload_wire import MEDIA_MODELS
from reconciler.live import LiveEntry
from reconciler.plan.model import Action, Change, FieldDiff, Kind, Risk, address_of
from reconciler.registration.entry import MEDIA_KEYS, Entry

EXAMPLES = 5
MANUAL_STEPS = (
    "Encord keeps the media metadata given when a file is registered, and its API cannot change it. To "
    "register these files again with the declared values, delete the items (in Encord, or by taking them "
    "out of the source with `prune: true` and applying), then put them back and apply; a deleted item's "
    "dataset rows and labels go with it. Or declare the values Encord holds."
)


def declared_media(entry: Entry) -> dict[str, Any]:
    """The entry's media metadata as it goes on the wire (camelCase, numbers as numbers)."""
    if entry.media is None or entry.type not in MEDIA_MODELS:
        return {}
    model = MEDIA_MODELS[entry.type].model_validate(entry.media)
    return model.model_dump(by_alias=True)


def media_differences(entry: Entry, live: LiveEntry) -> list[tuple[str, Any, Any]]:
    """(field, live value, declared value) for each declared field Encord reports differently."""
    if entry.media is None or not live.media:
        return []
    found = []
    for name, wanted in declared_media(entry).items():
        held = live.media.get(name)
        if held is None:
            continue
        same = held == wanted if isinstance(wanted, str) else float(held) == float(wanted)
        if not same:
            found.append((f"{MEDIA_KEYS[entry.type]}.{name}", held, wanted))
    return found


def media_change(
    path: str, differing: list[tuple[Entry, list[tuple[str, Any, Any]]]], fingerprint: str | None
) -> Change:
    diff = [
        FieldDiff(field=f"{entry.urls[0]}: {field}", before=held, after=wanted)
        for entry, found in differing[:EXAMPLES]
        for field, held, wanted in found
    ]
    examples = [entry.urls[0] for entry, _ in differing[:EXAMPLES]]
    return Change(
        address=address_of(Kind.FOLDER_ITEMS_MEDIA, path),
        kind=Kind.FOLDER_ITEMS_MEDIA,
        action=Action.UPDATE,
        risk=Risk.UNSUPPORTED,
        before={"items": len(differing)},
        after={"items": len(differing)},
        diff=diff,
        fingerprint=fingerprint,  # the folder's items as read: what the recorded state compares
        reason=f"the media metadata of {len(differing)} item(s) differs from what Encord holds. "
        + MANUAL_STEPS,
        payload={
            "folder_path": path,
            "items": len(differing),
            "examples": examples,
        },
    )
