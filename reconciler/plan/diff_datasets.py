"""Pure diff of datasets and the items they hold: links follow the folders each dataset names."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from reconciler.config.loader import Config
from reconciler.live import FolderIndex, LiveDataset, LiveState
from reconciler.plan.diff_items import FolderWork
from reconciler.plan.diff_selection import (
    Incoming,
    ItemPaths,
    RuledMembership,
    incoming_selected,
    ruled_memberships,
)
from reconciler.plan.model import (
    Action,
    Change,
    FieldDiff,
    Kind,
    Risk,
    address_of,
)
from reconciler.plan.snapshots import ENCORD_UI, make_change, snapshot
from reconciler.selection.membership import EXAMPLES
from reconciler.selection.rules import Candidate, Rule


def _in_refs(folder_path: str, refs: list[tuple[str, bool]]) -> bool:
    return any(folder_path == p or (rec and folder_path.startswith(p + "/")) for p, rec in refs)


def desired_items(
    live: LiveState,
    folder_paths: list[tuple[str, bool]],
    pruned: frozenset[str] = frozenset(),
    index: FolderIndex | None = None,
) -> set[str]:
    """Storage item UUIDs in the given folders (and their live subfolders when recursive)."""
    index = index or FolderIndex(live.folder_items)
    items: set[str] = set()
    for folder_path in index.paths_in(folder_paths):
        items.update(live.folder_items.get(folder_path, ()))
    return items - pruned


def _ruled_registering(config: Config, title: str, works: dict[str, FolderWork]) -> list[str]:
    """Folders a dataset's rules (or its split's) draw from where this apply registers new items."""
    rules, _split = config.selection.rules_for(title)
    refs = [f for rule in rules for f in rule.folders]
    return sorted(path for path, w in works.items() if w.register and _in_refs(path, refs))


def _kept_hosted(
    title: str,
    current: LiveDataset | None,
    to_unlink: list[str],
    paths: ItemPaths,
    warnings: list[str] | None,
) -> set[str]:
    """Items Encord stores itself are never unlinked: removing such a data unit deletes its file (Encord's
    docs, dataset remove-data), and nothing reconciler plans may lose data. Named in a warning instead."""
    kept = set(to_unlink) & set(current.hosted_items) if current is not None else set()
    if kept and warnings is not None:
        shown = ", ".join(paths.get(u, u) for u in sorted(kept)[:EXAMPLES])
        warnings.append(
            f"dataset {title!r}: {len(kept)} item(s) it should no longer hold are stored by Encord itself "
            f"(CORD_STORAGE), where removing a data unit deletes its file; reconciler leaves them linked. "
            f"Remove them in the Encord web app if that is meant: e.g. {shown}"
        )
    return kept


def _examples(
    to_link: list[str],
    to_unlink: list[str],
    arriving: Incoming,
    cite: dict[str, str],
    rules: RuledMembership | None,
    pruned: frozenset[str],
    paths: ItemPaths,
    rule_set: tuple[Rule, ...] = (),
) -> list[dict[str, Any]]:
    """Up to EXAMPLES items linked and unlinked, by path, each with the rule that decides it (`why`);
    `arriving`: an item this apply registers, matched by what its source declares."""

    def first(uuids: list[str]) -> list[str]:
        return (
            sorted(uuids, key=lambda u: paths.get(u, u))[:EXAMPLES]
            if len(uuids) > EXAMPLES
            else sorted(uuids, key=lambda u: paths.get(u, u))
        )

    def why(uuid: str) -> str:
        if uuid in pruned:
            return "pruned"
        if rules is None:
            return "not in its folders"
        return rules.leaving.get(uuid) or paths.no_longer_selected(uuid, rule_set)

    out: list[dict[str, Any]] = [
        {"change": "link", "path": paths.get(u, u), "why": cite[u]} for u in first(to_link)
    ]
    out += [
        {"change": "link", "path": shown, "why": cite_, "arriving": True}
        for shown, cite_ in arriving.chosen[:EXAMPLES]
    ]
    return out + [{"change": "unlink", "path": paths.get(u, u), "why": why(u)} for u in first(to_unlink)]


def dataset_changes(
    config: Config,
    live: LiveState,
    created_folders: set[str],
    works: dict[str, FolderWork],
    sandbox: bool = False,
    warnings: list[str] | None = None,
) -> list[Change]:
    out: list[Change] = []
    declared = {d.title: d for d in config.datasets or []}
    index = FolderIndex(live.folder_items)
    all_pruned = frozenset(uuid for w in works.values() for uuid, _ in w.delete)
    registering_in = {path for path, w in works.items() if w.register}
    live = _as_updated(live, works)  # rules see the titles and metadata this apply writes
    updated_in = {u.uuid: path for path, work in works.items() for u in work.update}
    ruled = ruled_memberships(config, live, all_pruned, registering_in) if config.selection else {}
    paths = ItemPaths(live)
    for membership in ruled.values():
        (warnings if warnings is not None else []).extend(membership.warnings)
    for title, spec in declared.items():
        address = address_of(Kind.DATASET, title)
        current = live.datasets.get(title)
        after = {"title": title, "description": spec.description}
        if current is None:
            out.append(
                make_change(
                    live,
                    address=address,
                    kind=Kind.DATASET,
                    action=Action.CREATE,
                    after=after,
                    payload=dict(after),
                )
            )
        else:
            before = snapshot(live, address)
            if current.description != spec.description:
                out.append(
                    make_change(
                        live,
                        address=address,
                        kind=Kind.DATASET,
                        action=Action.UPDATE,
                        risk=Risk.UNSUPPORTED,
                        before=before,
                        after=after,
                        diff=[
                            FieldDiff(field="description", before=current.description, after=spec.description)
                        ],
                        reason="Encord's API cannot change a dataset's title or description",
                        manual_steps=f"In {ENCORD_UI}: Datasets > {title} > Settings, set the description to "
                        f"{spec.description!r}.",
                    )
                )
            else:
                out.append(
                    make_change(
                        live,
                        address=address,
                        kind=Kind.DATASET,
                        action=Action.NOOP,
                        before=before,
                        after=after,
                    )
                )
        rules = ruled.get(title)
        if spec.folders is None and rules is None:
            continue
        refs = [(r.path.strip("/"), r.recursive) for r in spec.folder_refs()]
        pruned = frozenset(uuid for path, w in works.items() if _in_refs(path, refs) for uuid, _ in w.delete)
        wanted = desired_items(live, refs, pruned, index) if refs else set()
        cite = dict.fromkeys(wanted, "folders")
        if rules is not None:
            cite = {**rules.chosen, **cite}
            wanted |= rules.chosen.keys()
        linked = dict(current.linked_items) if current else {}
        to_link = sorted(wanted - linked.keys())
        to_unlink = sorted(set(linked) - wanted)
        kept = _kept_hosted(title, current, to_unlink, paths, warnings)
        to_unlink = [u for u in to_unlink if u not in kept]
        # Items registered by this apply are linked once their jobs finish.
        registering = sorted(path for path, w in works.items() if w.register and _in_refs(path, refs))
        incoming = sum(len(works[path].register) for path in registering)
        ruled_registering = _ruled_registering(config, title, works) if rules is not None else []
        arriving = (
            incoming_selected(config, title, works, ruled_registering, warnings)
            if ruled_registering
            else Incoming()
        )
        if not arriving.chosen and not arriving.uncertain:
            ruled_registering = []  # none of them is for this dataset
        notes = rules.notes if rules is not None else []
        if not to_link and not to_unlink and not registering and not ruled_registering and not notes:
            continue
        # A link or unlink that an item update causes (its new metadata or title) waits for that update.
        updating = sorted({updated_in[u] for u in (*to_link, *to_unlink) if u in updated_in})
        folder_deps = [
            address_of(Kind.FOLDER, p) for p, _ in refs if address_of(Kind.FOLDER, p) in created_folders
        ] + [
            address_of(Kind.FOLDER_ITEMS, p)
            for p in dict.fromkeys(registering + ruled_registering + updating)
        ]
        reasons = []
        if to_link and rules is not None:
            reasons.append(f"links {len(to_link)} item(s) its rules select")
        elif to_link:
            reasons.append(f"links {len(to_link)} item(s) from {', '.join(p for p, _ in refs)}")
        if incoming:
            reasons.append(f"links the {incoming} item(s) registered in {', '.join(registering)}")
        leaving = [u for u in to_unlink if u in pruned or u in all_pruned]
        moving = [u for u in to_unlink if rules is not None and u in rules.leaving and u not in leaving]
        if moving:
            reasons.append(f"unlinks {len(moving)} item(s) that leave this part of its split")
        if len(leaving) + len(moving) < len(to_unlink):
            what = "no rule selects" if rules is not None else "are not in its folders"
            reasons.append(f"unlinks {len(to_unlink) - len(leaving) - len(moving)} item(s) that {what}")
        if leaving:
            reasons.append(f"unlinks {len(leaving)} item(s) that prune deletes from its folders")
        if to_unlink:
            reasons.append(
                "their data units leave the dataset, with any labels on them in projects that use it"
            )
        if ruled_registering:
            count = sum(len(works[path].register) for path in ruled_registering)
            about = "about " if arriving.uncertain else ""
            reasons.append(
                f"links {about}{len(arriving.chosen)} of the {count} item(s) this apply registers in "
                f"{', '.join(ruled_registering)}: those its rules select (matched again once they exist)"
            )
            incoming += len(arriving.chosen)
        reasons += notes
        rule_set, split = config.selection.rules_for(title)
        examples = _examples(to_link, to_unlink, arriving, cite, rules, all_pruned, paths, rule_set)
        out.append(
            make_change(
                live,
                address=address_of(Kind.DATASET_ITEMS, title),
                kind=Kind.DATASET_ITEMS,
                action=Action.UPDATE,
                risk=Risk.DESTRUCTIVE if to_unlink else Risk.SAFE,
                before={"linked_items": len(linked)},
                after={"linked_items": len(wanted) + incoming},
                diff=[FieldDiff(field="linked_items", before=len(linked), after=len(wanted) + incoming)],
                reason="; ".join(reasons),
                depends_on=([] if current else [address]) + folder_deps,
                payload={
                    "title": title,
                    "dataset_uuid": current.uuid if current else None,
                    "link": to_link,
                    "unlink": sorted(linked[u] for u in to_unlink),
                    "link_registered_in": registering,
                    **(
                        {
                            "membership_examples": examples,
                            "select_registered_in": ruled_registering,
                            **({"split": split.name} if split else {}),
                            **({"moves_in": rules.moves_in} if rules.moves_in else {}),
                        }
                        if rules is not None
                        else {}
                    ),
                },
            )
        )
    for title in sorted(live.datasets):
        if title in declared or not config.prune.datasets:
            continue
        out.append(_dataset_delete(live, title, sandbox))
    return out


def _as_updated(live: LiveState, works: dict[str, FolderWork]) -> LiveState:
    """The live candidates with the titles and clientMetadata this apply's item updates give them."""
    updates = {u.uuid: u.entry for work in works.values() for u in work.update}
    if not updates or not live.candidates:
        return live

    def updated(item: Candidate) -> Candidate:
        entry = updates.get(item.uuid)
        if entry is None:
            return item
        metadata = entry.client_metadata if entry.client_metadata is not None else item.metadata
        return replace(item, title=entry.title or item.title, metadata=metadata)

    candidates = {path: [updated(i) for i in items] for path, items in live.candidates.items()}
    return live.model_copy(update={"candidates": candidates})


def managed_link_count(config: Config, live: LiveState) -> int:
    """Data rows linked now in the declared datasets whose items the config manages (by folders, rules
    or a split), whether or not this plan changes them."""
    total = 0
    for spec in config.datasets or []:
        current = live.datasets.get(spec.title)
        if current is not None and (spec.managed or config.selection.rules_for(spec.title)[1] is not None):
            total += len(current.linked_items)
    return total


def _dataset_delete(live: LiveState, title: str, sandbox: bool) -> Change:
    """The sandbox is the user's own and deletes a dataset (its data rows go, its storage items stay);
    Encord's API cannot, so there it is a manual step and the hint says how to stop listing it."""
    address = address_of(Kind.DATASET, title)
    current = live.datasets[title]
    common = {
        "address": address,
        "kind": Kind.DATASET,
        "action": Action.DELETE,
        "before": snapshot(live, address),
    }
    if sandbox:
        rows = len(current.linked_items)
        return make_change(
            live,
            **common,
            risk=Risk.DESTRUCTIVE,
            reason=f"not in the configuration: deletes the dataset and its {rows} data row(s) (the storage "
            "items stay in their folders)",
            payload={"title": title, "uuid": current.uuid, "rows": rows},
        )
    return make_change(
        live,
        **common,
        risk=Risk.UNSUPPORTED,
        reason="not in the configuration; Encord's API cannot delete datasets",
        manual_steps=f"Delete it in {ENCORD_UI}: Datasets > {title} > Delete; or declare it under `datasets` "
        "to keep it; or set `prune: {datasets: false}` so that undeclared datasets are left alone and not "
        "listed",
    )
