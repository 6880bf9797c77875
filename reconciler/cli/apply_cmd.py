from __future__ import annotations

import argparse
import json
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass, field

from rich.markup import escape

from reconciler.apply.run import ApplyReport, apply_plan, refuse_if_stale, retry_only
from reconciler.apply.verify import record
from reconciler.backend import Workspace, journal_for, open_workspace, sandbox_lock_gcs, state_store_for
from reconciler.cli import output
from reconciler.cli.common import compute_in, concurrency, config_dir, load, resume, run_async
from reconciler.cli.output import check_output_file, read_input_file, write_output_file
from reconciler.cli.planfile import config_of, is_plan_file, load_plan_file, refuse_non_config
from reconciler.cli.progress import RegistrationProgress
from reconciler.config.loader import Config
from reconciler.config.models import EncordBackend, SafetySpec
from reconciler.config.redact import scrub
from reconciler.encord.provider_items import RegistrationTally
from reconciler.engine import Computed
from reconciler.errors import PlanError, ReconcilerError
from reconciler.interrupt import GracefulStop, StopRequested, stopping_gracefully
from reconciler.lock import LEASE_TTL_SECONDS, Lease, LeaseLostError, acquire, lock_location
from reconciler.plan.diff import protected_addresses, protecting
from reconciler.plan.model import Action, BackendRef, Plan
from reconciler.plan.render import render_text
from reconciler.plan.safety import refusals


def _confirm(args: argparse.Namespace) -> None:
    if args.auto_approve:
        return
    if not output.stdin_is_terminal():
        raise ReconcilerError("refusing to apply without --auto-approve: there is no terminal to confirm on")
    output.out("\nDo you want to apply these changes? Only 'yes' is accepted.")
    try:
        answer = input("  Enter a value: ").strip()
    except EOFError:
        raise ReconcilerError("apply cancelled: no answer (end of input)") from None
    if answer != "yes":
        raise ReconcilerError("apply cancelled")


def _retry_set(path: str | None) -> dict[str, set[tuple[str, ...]]] | None:
    """`--retry-failed REPORT`: the entries that failed, by folder, to register again."""
    if path is None:
        return None
    text = read_input_file(path, "--retry-failed")
    try:
        doc = json.loads(text)
        errors = doc["errors"]
        only: dict[str, set[tuple[str, ...]]] = {}
        for err in errors:
            if err["urls"]:
                only.setdefault(str(err["folder"]), set()).add(tuple(str(u) for u in err["urls"]))
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ReconcilerError(
            f"{path}: not a registration report written by `apply --report` ({exc})"
        ) from None
    return only


@dataclass
class Prepared:
    plan: Plan
    config: Config | None
    ref: BackendRef
    token: str | None
    saved: bool
    computed: Computed | None = None
    resumed: RegistrationTally = field(default_factory=RegistrationTally)
    notes: list[str] = field(default_factory=list)
    config_moved: bool = False  # a saved plan's configuration changed since the plan was made


def _load(args: argparse.Namespace) -> Prepared:
    """The configuration or the saved plan to apply, and where its backend is."""
    if is_plan_file(args.target):
        if args.domain:
            raise ReconcilerError("--domain cannot change the backend of a saved plan")
        if args.retry_failed or args.targets:
            raise ReconcilerError("--retry-failed and --target apply a configuration, not a saved plan")
        plan = load_plan_file(args.target)
        config = config_of(plan, args.target)
        token = config.backend.bearer_token if config and isinstance(config.backend, EncordBackend) else None
        moved = config is not None and bool(plan.config_digest) and config.digest != plan.config_digest
        return Prepared(plan, config, plan.backend, token, saved=True, config_moved=moved)
    refuse_non_config(args.target)
    config, ref, token = load(args.target, args.domain)
    declared = (config.integrations, config.schema_keys, config.folders, config.datasets)
    if all(section is None for section in declared) and "(backend)" not in config.locations:
        raise ReconcilerError(
            f"{args.target} declares nothing (no backend, integrations, schema, folders or datasets): "
            "nothing to apply; is it the right file?"
        )
    return Prepared(Plan(backend=ref), config, ref, token, saved=False)


async def _prepare(args: argparse.Namespace, prepared: Prepared) -> Prepared:
    """Finish what an interrupted apply left running, then plan (unless the plan was saved)."""
    saved = prepared.saved
    async with open_workspace(prepared.ref, bearer_token=prepared.token) as ws:
        resumed = await resume(ws, prepared.ref, prepared.config, prepared.resumed)
        if resumed:
            output.out(
                f"Resumed {resumed} upload job(s) left running by an interrupted apply: "
                f"{prepared.resumed.done} item(s) registered, {prepared.resumed.failed} failed."
            )
        if not saved:
            assert prepared.config is not None
            only = _retry_set(args.retry_failed)
            computed = await compute_in(ws, prepared.config, prepared.ref, only=only, targets=args.targets)
            if only is not None:
                computed, prepared.notes = retry_only(computed, only)
            prepared.computed, prepared.plan = computed, computed.plan
    return prepared


def _stopping(name: str) -> None:
    output.info(f"[yellow]{name}: stopping after the writes in flight[/] (send it again to stop at once)")


async def _carry_out(args: argparse.Namespace, prepared: Prepared, lease: Lease) -> ApplyReport:
    with stopping_gracefully(_stopping) as stop:

        async def guard() -> None:  # before every write: not stopping, and the lock still ours
            stop.check()
            await lease.guard()

        return await _apply_in(args, prepared, guard, stop, lease)


async def _apply_in(
    args: argparse.Namespace,
    prepared: Prepared,
    guard: Callable[[], Awaitable[None]],
    stop: GracefulStop,
    lease: Lease,
) -> ApplyReport:
    async with open_workspace(prepared.ref, bearer_token=prepared.token) as ws:
        try:
            return await _apply_with(args, prepared, guard, stop, ws)
        except Exception as exc:
            if not lease.lost:
                raise
            # A create on the wire when the run stalled can land after the lock passed on: Encord has no
            # fencing, so look (reads only) and name any object that now exists twice.
            try:
                twins = await ws.client.twins_since(lease.confirmed_at)
            except ReconcilerError as err:
                twins = [f"(could not look for objects created twice: {err})"]
            lost = (
                exc
                if isinstance(exc, LeaseLostError)
                else LeaseLostError(f"lost the lock: {lease.lost_reason}")
            )
            if not twins:
                raise lost from None
            raise LeaseLostError(
                f"{lost}. A create that was on the wire when this run stalled landed after the lock had "
                f"passed on: {'; '.join(twins)}. Keep the one the other apply uses (plan shows it) and "
                "delete the other by hand"
            ) from None


async def _apply_with(
    args: argparse.Namespace,
    prepared: Prepared,
    guard: Callable[[], Awaitable[None]],
    stop: GracefulStop,
    ws: Workspace,
) -> ApplyReport:
    ref = prepared.ref
    if prepared.saved:
        await refuse_if_stale(prepared.plan, ws.client, concurrency=concurrency(ref), gcs=ws)
    output.out("")
    with RegistrationProgress() as bar:
        return await apply_plan(
            prepared.plan,
            ws.client,
            # a retry does only part of the config: no convergence check against all of it
            config=None if args.retry_failed else prepared.config,
            concurrency=concurrency(ref),
            progress=_progress,
            computed=prepared.computed,
            journal=journal_for(ref, config_dir(prepared.config, prepared.plan)),
            gcs=ws,
            tick=bar.tick,
            # A saved plan whose configuration moved on (newer merges): checked on its own changes only,
            # and not recorded, since the newer configuration has not been applied.
            targets=[c.address for c in prepared.plan.actionable] if prepared.config_moved else args.targets,
            state=None
            if prepared.config_moved
            else state_store_for(ref, config_dir(prepared.config, prepared.plan)),
            guard=guard,
            stop=stop,
            saved=prepared.saved,
        )


def run(args: argparse.Namespace) -> int:
    """Two applies never interleave: the lock is held from the first read to the last write."""
    check_output_file(args.report, "--report")
    prepared = _load(args)
    where = lock_location(
        prepared.ref, config_dir(prepared.config, prepared.plan), prepared.ref.options.get("lock")
    )
    ttl = float(prepared.ref.options.get("lock_ttl_seconds") or LEASE_TTL_SECONDS)
    # A gs:// lock on a sandbox bucket: the sandbox's GCS serves it, for the whole run.
    with sandbox_lock_gcs(prepared.ref), acquire(where, ttl=ttl) as lease:
        took_over = getattr(lease, "took_over", None)
        if took_over is not None:
            output.info(
                f"[yellow]note:[/] took over the expired lock {escape(where)} of "
                f"{escape(took_over.describe())}; that run is gone or stalled, and stops before its next "
                "write"
            )
        try:
            return _run_locked(args, prepared, lease)
        except StopRequested as exc:
            pending = journal_for(prepared.ref, config_dir(prepared.config, prepared.plan)).pending()
            jobs = (
                f"; {len(pending)} upload job(s) still running are journaled, and the next apply resumes them"
                if pending
                else ""
            )
            output.error(f"interrupted: {exc}; the changes made before it stay{jobs}")
            return 130
        except LeaseLostError as exc:
            raise LeaseLostError(
                f"apply stopped: {exc}. No write was started after that; the changes before it stay. "
                "Another apply may hold the lock now: plan again once it is done"
            ) from None


def _run_locked(args: argparse.Namespace, prepared: Prepared, lease: Lease) -> int:
    prepared = run_async(_prepare(args, prepared))
    plan = prepared.plan
    # A value that came from the environment is never echoed in an error or warning.
    shown = plan.model_copy(
        update={"errors": [scrub(e) for e in plan.errors], "warnings": [scrub(w) for w in plan.warnings]}
    )
    output.out(render_text(shown, allow_destroy=args.allow_destroy))
    for note in prepared.notes:
        output.info(f"[yellow]note:[/] {escape(note)}")
    if plan.errors:
        raise PlanError("the plan has errors (above); nothing was applied")
    if not [c for c in plan.actionable if c.executable]:
        if prepared.computed is not None and not args.retry_failed:
            # Nothing to change, but what is live now (and what is protected) is worth recording.
            store = state_store_for(prepared.ref, config_dir(prepared.config, plan))
            record(store, store.load(), plan)
        _write_report(args.report, [prepared.resumed])
        return 1 if prepared.resumed.failed else 0
    if prepared.saved:
        refuse_protected_deletes(prepared)
    safety = prepared.config.safety if prepared.config is not None else SafetySpec()
    refused = refusals(plan, safety, allow_destroy=args.allow_destroy, force=args.force)
    if refused:
        raise PlanError("nothing was applied: " + "\n".join(refused))
    if not prepared.saved:  # a saved plan is the approval, as in Terraform
        _confirm(args)  # outside the event loop, so Ctrl-C and Ctrl-D act at once
    lease.confirm()  # still ours after the prompt, or stop before writing anything
    report = run_async(_carry_out(args, prepared, lease))
    tallies = [prepared.resumed] + ([report.registration] if report.registration else [])
    _write_report(args.report, tallies)
    if args.retry_failed:
        output.out("[dim]Only the files in the report were registered again; run plan to see the rest.[/]")
    if prepared.config_moved:
        output.out(
            "[yellow]The configuration changed since this plan was made (newer merges):[/] the check after "
            "apply looked at this plan's own changes, and the recorded state was left for the apply of the "
            "newer configuration. Run plan to review what the newer configuration changes."
        )
    return _report(report, args.report)


def refuse_protected_deletes(prepared: Prepared) -> None:
    """A saved plan may predate a protection (another pull request protected a folder since)."""
    plan = prepared.plan
    recorded = state_store_for(prepared.ref, config_dir(prepared.config, plan)).load()
    if prepared.config is not None:
        protected = protected_addresses(prepared.config, recorded, plan.renames)
    else:
        protected = recorded.protected if recorded else set()
    blocked = [
        f"{c.address} (protected: {guard})"
        for c in plan.changes
        if c.executable and c.action == Action.DELETE and (guard := protecting(c.address, protected))
    ]
    if blocked:
        raise PlanError(
            "the saved plan deletes what is protected now: " + ", ".join(blocked) + ". Run plan again."
        )


def _write_report(path: str | None, tallies: list[RegistrationTally]) -> None:
    """Per-file results of this run, resumed jobs included: what `--retry-failed` reads back."""
    if not path:
        return
    doc = {
        "format_version": 1,
        "registered": sum(t.done for t in tallies),
        "failed": sum(t.failed for t in tallies),
        "jobs": [job for t in tallies for job in t.jobs],
        "errors": [asdict(e) for t in tallies for e in t.errors],
    }
    write_output_file(path, json.dumps(doc, indent=2) + "\n", "--report")


def _progress(address: str, status: str, detail: str) -> None:
    if status == "applied":
        output.out(f"  [green]✓[/] {escape(address)}  [dim]{escape(detail)}[/]")
    elif status == "failed":
        output.out(f"  [red]✗ {escape(address)}[/]: {escape(detail)}")
    else:
        output.out(f"  [yellow]- {escape(address)}[/]: skipped ({escape(detail)})")


SHOW_ERRORS = 20


def _registration(report: ApplyReport, report_path: str | None) -> None:
    tally = report.registration
    if tally is None or not tally.jobs:
        return
    output.out(
        f"  Registration: {tally.done} item(s) registered or already present, {tally.failed} failed, "
        f"in {len(tally.jobs)} upload job(s)."
    )
    for err in tally.errors[:SHOW_ERRORS]:
        urls = ", ".join(err.urls) or "(whole job)"
        output.out(f"    [red]✗[/] {escape(err.where)}: {escape(urls)}: {escape(err.error)}")
    if len(tally.errors) > SHOW_ERRORS:
        output.out(f"    ... and {len(tally.errors) - SHOW_ERRORS} more")
    if tally.errors:
        where = report_path or "a file (apply --report FILE)"
        output.out(
            f"  Every failure is in {escape(where)}; `reconciler apply --retry-failed REPORT` registers "
            "only those again."
        )


def _verification(report: ApplyReport) -> None:
    for check in report.verification:
        colour = "green" if not check.missing and not check.extra else "red"
        output.out(
            f"  [{colour}]dataset {escape(check.title)}[/]: {check.linked} linked, {check.missing} missing, "
            f"{check.extra} extra"
        )


def _report(report: ApplyReport, report_path: str | None = None) -> int:
    result = report.result
    _registration(report, report_path)
    _verification(report)
    for change in report.unsupported:
        output.out(
            f"  [magenta]! {escape(change.address)}[/]: not applied: {escape(change.manual_steps or '')}"
        )
    for change in report.not_converged:
        output.out(f"  [red]≠ {escape(change.address)}[/]: still differs after apply ({change.action.value})")
    for change in report.new_since_plan:
        output.out(
            f"  [yellow]~ {escape(change.address)}[/]: changed since this plan was made, beyond what it "
            f"applied ({change.action.value}): the next plan shows it"
        )
    output.out("")
    failed_files = report.registration.failed if report.registration else 0
    ok = report.ok and not failed_files
    counts = [f"{len(result.applied)} applied"]
    counts += [f"{len(result.failed)} failed"] if result.failed or ok else []
    counts += [f"{len(result.skipped)} skipped"] if result.skipped or ok else []
    counts += [f"{failed_files} file(s) failed to register"] if failed_files else []
    counts += [f"{len(report.not_converged)} did not converge"] if report.not_converged else []
    counts.append(f"{len(report.unsupported)} left to do by hand")
    output.out(f"[bold]Apply {'complete' if ok else 'failed'}: {', '.join(counts)}.[/]")
    if report.not_converged:
        output.out(f"[red]{len(report.not_converged)} change(s) did not converge: run plan to see them.[/]")
    return 0 if ok else 1
