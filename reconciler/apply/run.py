"""Carrying out a plan: saved-plan checks (stale resources, the reviewed item sets), retries of failed
files, resuming interrupted jobs, and `apply_plan` with its convergence check and recorded state."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from reconciler.apply.executor import SCHEMA_UNIT, ApplyResult, Progress, Unit, execute, ignore_progress
from reconciler.apply.verify import DatasetCheck, record, verify_datasets
from reconciler.config.loader import Config
from reconciler.defaults import DEFAULT_CONCURRENCY
from reconciler.encord.client import EncordClient
from reconciler.encord.provider import ApplyContext, EncordProvider
from reconciler.encord.provider_items import RegistrationTally, Tick, resume_jobs
from reconciler.encord.reader import read_live
from reconciler.encord.registrar import DEFAULT_JOBS_IN_FLIGHT, Registrar
from reconciler.engine import Computed, GcsAccess, compute, plan_scope, with_buckets
from reconciler.errors import PlanError
from reconciler.interrupt import GracefulStop
from reconciler.journal import JobJournal
from reconciler.live import LiveState
from reconciler.plan.diff import snapshot
from reconciler.plan.diff_items import FolderWork
from reconciler.plan.model import Change, Kind, Plan, Risk, fingerprint
from reconciler.plan.renames import as_renamed, moved_addresses
from reconciler.registration.desired import (
    desired_digest,
)
from reconciler.state import StateStore


def retry_only(computed: Computed, only: dict[str, set[tuple[str, ...]]]) -> tuple[Computed, list[str]]:
    """`apply --retry-failed`: register the report's files again, link them, and do nothing else.

    Returns the narrowed plan and a note per folder for the report's files that are no longer declared
    (or already registered meanwhile)."""
    notes = []
    for path, keys in sorted(only.items()):
        registering = (
            {entry.urls for _, entry in computed.works[path].register} if path in computed.works else set()
        )
        gone = sorted(keys - registering)
        if gone:
            notes.append(
                f"{path}: {len(gone)} file(s) of the report are registered already or no longer declared, "
                f"e.g. {', '.join(k[0] for k in gone[:3])}"
            )
    works = {
        path: FolderWork(path=path, register=work.register)
        for path, work in computed.works.items()
        if work.register
    }
    changes = []
    for change in computed.plan.changes:
        if change.kind == Kind.FOLDER_ITEMS and change.payload["folder_path"] in works:
            count = len(works[change.payload["folder_path"]].register)
            reason = f"registers again {count} file(s) that failed, from the report"
            changes.append(
                change.model_copy(
                    update={"reason": reason, "diff": [], "payload": {**change.payload, "update": 0}}
                )
            )
        elif change.kind == Kind.DATASET_ITEMS and (
            change.payload.get("link_registered_in") or change.payload.get("select_registered_in")
        ):
            payload = {**change.payload, "link": [], "unlink": []}
            changes.append(change.model_copy(update={"payload": payload, "risk": Risk.SAFE}))
    plan = computed.plan.model_copy(update={"changes": changes})
    return Computed(plan=plan, data=computed.data, works=works, live=computed.live), notes


def check_declared_sets(plan: Plan, computed: Computed) -> None:
    """A saved plan applies only the item sets that were reviewed: their digests must still match."""
    moved = []
    for change in plan.changes:
        if change.kind not in (Kind.FOLDER_ITEMS, Kind.FOLDER_ITEMS_PRUNE) or not change.executable:
            continue
        folder = computed.data.folders.get(change.payload["folder_path"]) if computed.data else None
        if folder is None or desired_digest(folder) != change.payload.get("desired_digest"):
            moved.append(change.address)
    if moved:
        raise PlanError(
            "the saved plan is stale: the declared items changed since it was made (a data source file, "
            f"bucket listing or the config): {', '.join(sorted(set(moved)))}. Run plan again."
        )


def stale_changes(plan: Plan, live: LiveState) -> list[str]:
    """Addresses whose live state moved since the plan was made (per-resource fingerprints)."""
    live = as_renamed(live, plan.renames)
    moved = []
    for change in plan.changes:
        if change.executable and fingerprint(snapshot(live, change.address)) != change.fingerprint:
            moved.append(change.address)
    return moved


async def refuse_if_stale(
    plan: Plan, client: EncordClient, *, concurrency: int = DEFAULT_CONCURRENCY, gcs: GcsAccess | None = None
) -> None:
    live = await read_live(client, plan_scope(plan), concurrency=concurrency)
    buckets = sorted(
        {c.payload["bucket"] for c in plan.changes if c.kind in (Kind.BUCKET_CORS, Kind.BUCKET_IAM)}
    )
    live = await with_buckets(live, gcs, buckets)
    moved = stale_changes(plan, live)
    if moved:
        raise PlanError(
            f"the saved plan is stale: these resources changed since it was made: {', '.join(moved)}. "
            "Run plan again."
        )


def _arrived_since(plan: Plan, differs: list[Change]) -> set[str]:
    """Of what differs after a saved plan's apply, the item sets of folders the plan left alone: the plan
    did not write them, so their declared or live items moved since it was made (new objects in a bucket),
    and the changes that wait on them: news for the next plan. A dataset the plan did change counts too
    when all that is left of it waits on those items (nothing to link or unlink now: only what those
    folders will register). Anything else that differs, the consequences of the plan's own writes
    included, is a failure to converge."""
    own = {c.address for c in plan.changes if c.executable}

    def waits_only_on_arrivals(change: Change) -> bool:
        if change.address not in own:
            return True
        left = change.payload.get("link") or change.payload.get("unlink")
        return change.kind == Kind.DATASET_ITEMS and not left

    arrived = {c.address for c in differs if c.kind == Kind.FOLDER_ITEMS and c.address not in own}
    grew = True
    while grew:  # and what waits on those items (a dataset that links what a folder registers)
        more = {
            c.address for c in differs if arrived.intersection(c.depends_on) and waits_only_on_arrivals(c)
        }
        grew = not more <= arrived
        arrived |= more
    return arrived


@dataclass
class ApplyReport:
    result: ApplyResult
    unsupported: list[Change] = field(default_factory=list)
    not_converged: list[Change] = field(default_factory=list)
    # a saved plan's apply: what differs now but was no change of the plan (new data since it was made)
    new_since_plan: list[Change] = field(default_factory=list)
    recheck: Plan | None = None
    registration: RegistrationTally | None = None
    verification: list[DatasetCheck] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.result.ok and not self.not_converged


async def resume_interrupted(client: EncordClient, journal: JobJournal, tally: RegistrationTally) -> int:
    """Finish polling the jobs an interrupted apply left behind; returns how many there were."""
    pending = journal.pending()
    if pending or journal.unknown():
        await resume_jobs(client, journal, tally, lambda url: url)
    journal.compact()
    return len(pending)


async def apply_plan(
    plan: Plan,
    client: EncordClient,
    *,
    config: Config | None = None,
    concurrency: int = DEFAULT_CONCURRENCY,
    progress: Progress = ignore_progress,
    computed: Computed | None = None,
    journal: JobJournal | None = None,
    gcs: GcsAccess | None = None,
    tick: Tick = lambda tally: None,
    tally: RegistrationTally | None = None,
    targets: list[str] | None = None,
    state: StateStore | None = None,
    guard: Callable[[], Awaitable[None]] | None = None,
    stop: GracefulStop | None = None,
    saved: bool = False,
) -> ApplyReport:
    """Carry out the plan. `guard` (the lock's) is awaited before every change and every request that
    writes; when it raises, nothing more is written and the error propagates. `saved`: the plan is the
    reviewed one, so what differs afterwards outside its changes is news, not a failure to converge."""
    client.write_guard = guard
    provider = EncordProvider(client)
    ctx = ApplyContext(gcs=gcs, selection=config.selection if config is not None else None)
    needs_items = any(
        c.kind in (Kind.FOLDER_ITEMS, Kind.FOLDER_ITEMS_PRUNE) and c.executable for c in plan.changes
    )
    if needs_items:
        if computed is None:
            if config is None:
                raise PlanError(
                    f"the plan registers items, but its configuration ({plan.config_source}, relative to the "
                    "directory the plan was made in) cannot be loaded here to read them: apply from there"
                )
            computed = await compute(config, client, plan.backend, concurrency=concurrency, gcs=gcs)
            check_declared_sets(plan, computed)
            # The item work comes from this read: it must be the state the plan was made against.
            assert computed.live is not None
            moved = stale_changes(plan, computed.live)
            if moved:
                raise PlanError(
                    "the saved plan is stale: these resources changed since it was made: "
                    f"{', '.join(moved)}. Run plan again."
                )
        if journal is None:
            raise PlanError("registering items needs a job journal")
        ctx.registrar = Registrar(
            client,
            journal,
            # below the connection limit, so long-polls never hold every connection
            jobs_in_flight=max(1, min(DEFAULT_JOBS_IN_FLIGHT, concurrency - 1)),
            tick=tick,
            tally=tally or RegistrationTally(),
            stop=stop,
        )
        planned = {
            c.payload["folder_path"] for c in plan.changes if c.kind == Kind.FOLDER_ITEMS and c.executable
        }
        ctx.registrar.expect({path: w for path, w in computed.works.items() if path in planned})
        ctx.data, ctx.works = computed.data, computed.works
        ctx.integration_uuids = {
            i.title: str(i.integration_uuid) for i in await client.list_cloud_integrations()
        }

    async def run_unit(unit: Unit) -> dict[str, str]:
        if guard is not None:
            await guard()  # bucket CORS and IAM are written through GCS, not the client
        if unit.name == SCHEMA_UNIT:
            await provider.apply_schema(unit.changes)
        else:
            for change in unit.changes:
                if guard is not None:
                    await guard()
                await provider.apply(change, ctx)
        return {c.address: ctx.outcomes.pop(c.address) for c in unit.changes if c.address in ctx.outcomes}

    result = await execute(plan, run_unit, concurrency=concurrency, progress=progress)
    if journal is not None:
        journal.compact()
    report = ApplyReport(
        result=result,
        unsupported=[c for c in plan.actionable if c.risk == Risk.UNSUPPORTED],
        registration=ctx.registrar.tally if ctx.registrar else None,
    )
    if config is not None:
        recorded = state.load() if state is not None else None
        if recorded is not None and plan.renames:  # the folders were renamed: so are their protections
            recorded.protected = moved_addresses(recorded.protected, plan.renames)
        targets = targets or plan.targets or None  # a saved plan's targets bound its convergence check
        again = await compute(
            config, client, plan.backend, concurrency=concurrency, gcs=gcs, targets=targets, recorded=recorded
        )
        recheck = again.plan
        if state is not None:
            if guard is not None:
                await guard()  # the recorded state belongs to the lock's holder
            record(state, recorded, recheck, keep=set(result.failed) | set(result.skipped))
        if again.live is not None:
            report.verification = verify_datasets(config, again.live)
        report.recheck = recheck
        failed = set(result.failed) | set(result.skipped)
        differs = [c for c in recheck.changes if c.executable and c.address not in failed]
        arrived = _arrived_since(plan, differs) if saved else set()
        report.not_converged = [c for c in differs if c.address not in arrived]
        report.new_since_plan = [c for c in differs if c.address in arrived]
    return report
