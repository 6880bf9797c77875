"""Safety sits on the plan, not in providers: what an apply must refuse before anything runs.

Two rules, checked on the plan value alone:
- destroy gating: a destructive change (deleting folders or items, unlinking, tombstoning or re-typing a
  schema key, revoking an IAM binding) runs only with `--allow-destroy`;
- thresholds: more than a share of the managed folders, items or dataset links deleted, or updated, once
  enough of them exist, needs `--force` (octoDNS's rule for DNS records: 30%, from 10).
"""

from __future__ import annotations

from dataclasses import dataclass

from reconciler.config.models import SafetySpec, ThresholdSpec
from reconciler.plan.model import Action, Change, Kind, Plan, Risk


def destructive(plan: Plan) -> list[Change]:
    return [c for c in plan.changes if c.executable and c.risk == Risk.DESTRUCTIVE]


@dataclass(frozen=True)
class Breach:
    section: str  # folders | items | dataset_links
    what: str  # deleted | updated
    count: int
    existing: int
    limit_percent: int

    def __str__(self) -> str:
        share = 100 * self.count / self.existing
        return (
            f"{self.count} of {self.existing} managed {self.section.replace('_', ' ')} would be {self.what} "
            f"({share:.0f}%, above the {self.limit_percent}% limit)"
        )


@dataclass(frozen=True)
class Counts:
    existing: int = 0
    deleted: int = 0
    updated: int = 0


def section_counts(plan: Plan) -> dict[str, Counts]:
    """What exists and what would go or change, per section, from the plan's own numbers."""
    folders = [c for c in plan.changes if c.kind == Kind.FOLDER and c.action != Action.CREATE]
    # items that go with a deleted folder, where the plan read them
    with_folders = sum(int(c.payload.get("items") or 0) for c in folders if c.action == Action.DELETE)
    items = [c for c in plan.changes if c.kind == Kind.FOLDER_ITEMS]
    prunes = [c for c in plan.changes if c.kind == Kind.FOLDER_ITEMS_PRUNE and c.executable]
    links = [c for c in plan.changes if c.kind == Kind.DATASET_ITEMS]
    return {
        "folders": Counts(
            existing=len(folders),
            deleted=sum(1 for c in folders if c.action == Action.DELETE),
            updated=sum(1 for c in folders if c.action == Action.UPDATE),
        ),
        "items": Counts(
            existing=sum(int((c.before or {}).get("items", 0)) for c in items) + with_folders,
            deleted=sum(int(c.payload.get("delete", 0)) for c in prunes) + with_folders,
            updated=sum(int(c.payload.get("update", 0)) for c in items if c.executable),
        ),
        "dataset_links": Counts(
            existing=plan.managed_links
            if plan.managed_links is not None
            else sum(int((c.before or {}).get("linked_items", 0)) for c in links),
            deleted=sum(len(c.payload.get("unlink") or []) for c in links if c.executable),
        ),
    }


def breaches(plan: Plan, safety: SafetySpec) -> list[Breach]:
    out: list[Breach] = []
    for section, counts in section_counts(plan).items():
        limits: ThresholdSpec = getattr(safety, section)
        if counts.existing < safety.min_existing:
            continue
        for what, count, limit in (
            ("deleted", counts.deleted, limits.max_delete_percent),
            ("updated", counts.updated, limits.max_update_percent),
        ):
            if count and 100 * count > limit * counts.existing:
                out.append(Breach(section, what, count, counts.existing, limit))
    return out


def refusals(plan: Plan, safety: SafetySpec, *, allow_destroy: bool, force: bool) -> list[str]:
    """Why apply must not start; empty when it may."""
    out: list[str] = []
    gated = destructive(plan)
    if gated and not allow_destroy:
        names = ", ".join(c.address for c in gated)
        out.append(f"{len(gated)} destructive change(s) need --allow-destroy: {names}")
    if not force:
        found = breaches(plan, safety)
        if found:
            out.append(
                "the plan changes more than the safety thresholds allow (--force goes ahead; "
                "`safety:` in the config sets the limits): " + "; ".join(str(b) for b in found)
            )
    return out
