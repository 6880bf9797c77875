"""Plan and apply, end to end: read the live workspace, diff, execute, check convergence."""

from __future__ import annotations

from dataclasses import dataclass, field

from reconciler.apply.executor import SCHEMA_UNIT, ApplyResult, Progress, Unit, execute, ignore_progress
from reconciler.config.loader import Config
from reconciler.encord.client import EncordClient
from reconciler.encord.provider import ApplyContext, EncordProvider, ReadScope, read_live
from reconciler.errors import PlanError
from reconciler.live import LiveState
from reconciler.plan.diff import plan_changes, snapshot
from reconciler.plan.model import BackendRef, Change, Kind, Plan, Risk, fingerprint, parse_address


def read_scope(config: Config) -> ReadScope:
    item_folders: list[tuple[str, bool]] = []
    titles: set[str] = set()
    for ds in config.datasets or []:
        if ds.folders is not None:
            titles.add(ds.title)
            item_folders += [(r.path.strip("/"), r.recursive) for r in ds.folder_refs()]
    return ReadScope(
        integrations=config.integrations is not None,
        schema=config.schema_keys is not None,
        folders=config.folders is not None,
        datasets=config.datasets is not None,
        item_folders=tuple(sorted(set(item_folders))),
        dataset_items_for=frozenset(titles),
    )


def plan_scope(plan: Plan) -> ReadScope:
    """What to read to check a saved plan against the live workspace."""
    kinds = {c.kind for c in plan.changes}
    return ReadScope(
        integrations=Kind.INTEGRATION in kinds,
        schema=Kind.SCHEMA_KEY in kinds,
        folders=Kind.FOLDER in kinds,
        datasets=bool(kinds & {Kind.DATASET, Kind.DATASET_ITEMS}),
        dataset_items_for=frozenset(
            parse_address(c.address)[1] for c in plan.changes if c.kind == Kind.DATASET_ITEMS
        ),
    )


async def make_plan(
    config: Config, client: EncordClient, backend: BackendRef, *, concurrency: int = 8
) -> Plan:
    live = await read_live(client, read_scope(config), concurrency=concurrency)
    return plan_changes(config, live, backend)


def stale_changes(plan: Plan, live: LiveState) -> list[str]:
    """Addresses whose live state moved since the plan was made (per-resource fingerprints)."""
    moved = []
    for change in plan.changes:
        if change.executable and fingerprint(snapshot(live, change.address)) != change.fingerprint:
            moved.append(change.address)
    return moved


async def refuse_if_stale(plan: Plan, client: EncordClient, *, concurrency: int = 8) -> None:
    live = await read_live(client, plan_scope(plan), concurrency=concurrency)
    moved = stale_changes(plan, live)
    if moved:
        raise PlanError(
            f"the saved plan is stale: these resources changed since it was made: {', '.join(moved)}. "
            "Run plan again."
        )


@dataclass
class ApplyReport:
    result: ApplyResult
    unsupported: list[Change] = field(default_factory=list)
    not_converged: list[Change] = field(default_factory=list)
    recheck: Plan | None = None

    @property
    def ok(self) -> bool:
        return self.result.ok and not self.not_converged


async def apply_plan(
    plan: Plan,
    client: EncordClient,
    *,
    config: Config | None = None,
    concurrency: int = 8,
    progress: Progress = ignore_progress,
) -> ApplyReport:
    provider = EncordProvider(client)
    ctx = ApplyContext()

    async def run_unit(unit: Unit) -> None:
        if unit.name == SCHEMA_UNIT:
            await provider.apply_schema(unit.changes)
        else:
            for change in unit.changes:
                await provider.apply(change, ctx)

    result = await execute(plan, run_unit, concurrency=concurrency, progress=progress)
    report = ApplyReport(
        result=result, unsupported=[c for c in plan.actionable if c.risk == Risk.UNSUPPORTED]
    )
    if config is not None:
        recheck = await make_plan(config, client, plan.backend, concurrency=concurrency)
        report.recheck = recheck
        failed = set(result.failed) | set(result.skipped)
        report.not_converged = [c for c in recheck.changes if c.executable and c.address not in failed]
    return report
