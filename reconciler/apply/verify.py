"""After an apply: what to record for the next plan, and each dataset's rows against its folders."""

from __future__ import annotations

from dataclasses import dataclass

from reconciler.config.loader import Config
from reconciler.live import LiveState
from reconciler.plan.diff import desired_items
from reconciler.plan.model import Plan
from reconciler.state import RecordedState, StateStore

__all__ = ["DatasetCheck", "record", "verify_datasets"]


def record(
    store: StateStore, recorded: RecordedState | None, recheck: Plan, keep: set[str] | None = None
) -> None:
    """What this apply left behind: each resource's live digest, and the protections in force. `keep`:
    addresses whose change failed or was skipped; their old digest stays, so drift stays drift."""
    state = recorded or RecordedState()
    old = dict(state.digests)
    if not recheck.targets:
        state.digests = {}  # the whole workspace was read: what is gone is forgotten
    for change in recheck.changes:
        state.digests[change.address] = change.fingerprint
    for address in keep or ():
        if address in old:
            state.digests[address] = old[address]
    state.protected = set(recheck.protected)
    store.save(state)


@dataclass(frozen=True)
class DatasetCheck:
    """After apply: a dataset's data rows against its folders' items (step 9 of Encord's guide)."""

    title: str
    linked: int
    missing: int
    extra: int


def verify_datasets(config: Config, live: LiveState) -> list[DatasetCheck]:
    checks = []
    for ds in config.datasets or []:
        current = live.datasets.get(ds.title)
        if ds.folders is None or current is None:
            continue
        wanted = desired_items(live, [(r.path.strip("/"), r.recursive) for r in ds.folder_refs()])
        linked = set(current.linked_items)
        checks.append(
            DatasetCheck(ds.title, len(linked & wanted), len(wanted - linked), len(linked - wanted))
        )
    return checks
