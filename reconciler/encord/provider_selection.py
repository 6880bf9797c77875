"""At apply: the items this apply registered that a dataset's rules (or its split) select.

They did not exist when the plan was made, so the plan says how many it registers and where, and the
rules are evaluated here, once their upload jobs are done: one listing of each folder involved (with
clientMetadata only when a rule's `where` or the split's `group_by` needs it). Deterministic like the
plan: a split places an item by its hash, whatever else arrives.
"""

from __future__ import annotations

from uuid import UUID

from reconciler.config.selection_check import Selection
from reconciler.encord.client import EncordClient
from reconciler.encord.reader import facts_candidate
from reconciler.selection.rules import Candidate


async def selected_new_items(
    client: EncordClient,
    selection: Selection,
    title: str,
    folder_path: str,
    folder_uuid: str,
    skip: frozenset[str] = frozenset(),
    only: frozenset[str] | None = None,
) -> list[str]:
    """Uuids of the folder's items that dataset `title` should hold by its rules (less `skip`; of `only`,
    when given)."""
    rules, split = selection.rules_for(title)
    if not rules:
        return []
    group_by = split.group_by if split is not None else None
    metadata = any(r.conditions for r in rules) or group_by is not None
    items: list[Candidate] = []
    async for page in client.iter_item_facts(UUID(folder_uuid), metadata=metadata):
        for fact in page:
            if fact.get("isTombstone") or fact.get("isPlaceholder") or fact["uuid"] in skip:
                continue
            if only is not None and fact["uuid"] not in only:
                continue
            items.append(facts_candidate(fact, folder_path, metadata))
    held, _unplaced = selection.members(title, items)  # the plan warned about the unplaced ones
    return sorted(held)
