from __future__ import annotations

import argparse
import json
from dataclasses import asdict
from pathlib import Path

from pydantic import ValidationError
from rich.markup import escape

from reconciler.backend import journal_for, open_workspace
from reconciler.cli import output
from reconciler.cli.common import compute_in, concurrency, config_dir, load, resume, run_async
from reconciler.cli.progress import RegistrationProgress
from reconciler.config.loader import Config, load_config
from reconciler.encord.provider_items import RegistrationTally
from reconciler.engine import ApplyReport, apply_plan, refuse_if_stale
from reconciler.errors import ConfigError, PlanError, ReconcilerError
from reconciler.plan.model import FORMAT_VERSION, Plan
from reconciler.plan.render import render_text


def _is_plan_file(target: str) -> bool:
    path = Path(target)
    if not path.is_file() or path.suffix not in (".json", ".plan", ""):
        return False
    return path.read_text(encoding="utf-8", errors="replace").lstrip().startswith("{")


def load_plan_file(path: str) -> Plan:
    try:
        doc = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise ReconcilerError(f"{path}: not a readable plan file: {exc}") from None
    version = doc.get("format_version") if isinstance(doc, dict) else None
    if version != FORMAT_VERSION:
        raise ReconcilerError(
            f"{path}: plan format_version {version!r} is not {FORMAT_VERSION}; run plan again"
        )
    doc.pop("summary", None)
    try:
        return Plan.model_validate(doc)
    except ValidationError as exc:
        raise ReconcilerError(f"{path}: not a valid plan file ({exc.error_count()} problem(s))") from None


def _confirm(args: argparse.Namespace) -> None:
    if args.auto_approve:
        return
    if not output.stdin_is_terminal():
        raise ReconcilerError("refusing to apply without --auto-approve: there is no terminal to confirm on")
    output.out("\nDo you want to apply these changes? Only 'yes' is accepted.")
    answer = input("  Enter a value: ").strip()
    if answer != "yes":
        raise ReconcilerError("apply cancelled")


def _retry_set(path: str | None) -> dict[str, set[tuple[str, ...]]] | None:
    """`--retry-failed REPORT`: the entries that failed, by folder, to register again."""
    if path is None:
        return None
    try:
        doc = json.loads(Path(path).read_text(encoding="utf-8"))
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


async def _session(args: argparse.Namespace) -> int:
    saved = _is_plan_file(args.target)
    config: Config | None
    if saved:
        if args.domain:
            raise ReconcilerError("--domain cannot change the backend of a saved plan")
        if args.retry_failed:
            raise ReconcilerError("--retry-failed applies a configuration, not a saved plan")
        plan: Plan | None = load_plan_file(args.target)
        assert plan is not None
        ref, token, config = plan.backend, None, _config_of(plan)
    else:
        config, ref, token = load(args.target, args.domain)
        plan = None
    tally = RegistrationTally()
    async with open_workspace(ref, bearer_token=token) as ws:
        resumed = await resume(ws, ref, config, tally)
        if resumed:
            output.out(
                f"Resumed {resumed} upload job(s) left running by an interrupted apply: "
                f"{tally.done} item(s) registered, {tally.failed} failed."
            )
        computed = None
        if plan is None:
            assert config is not None
            computed = await compute_in(ws, config, ref, only=_retry_set(args.retry_failed))
            plan = computed.plan
        output.out(render_text(plan))
        if plan.errors:
            raise PlanError("the plan has errors (above); nothing was applied")
        if not [c for c in plan.actionable if c.executable]:
            _write_report(args.report, tally)
            return 1 if tally.failed else 0
        _confirm(args)
        if saved:
            await refuse_if_stale(plan, ws.client, concurrency=concurrency(ref), gcs=ws)
        output.out("")
        with RegistrationProgress() as bar:
            report = await apply_plan(
                plan,
                ws.client,
                config=config,
                concurrency=concurrency(ref),
                progress=_progress,
                computed=computed,
                journal=journal_for(ref, config_dir(config, plan)),
                gcs=ws,
                tick=bar.tick,
                tally=tally,
            )
    _write_report(args.report, tally)
    return _report(report, args.report)


def _write_report(path: str | None, tally: RegistrationTally) -> None:
    if not path:
        return
    doc = {
        "format_version": 1,
        "registered": tally.done,
        "failed": tally.failed,
        "jobs": tally.jobs,
        "errors": [asdict(e) for e in tally.errors],
    }
    Path(path).write_text(json.dumps(doc, indent=2) + "\n", encoding="utf-8")


def _progress(address: str, status: str, detail: str) -> None:
    if status == "applied":
        output.out(f"  [green]✓[/] {escape(address)}  [dim]{escape(detail)}[/]")
    elif status == "failed":
        output.out(f"  [red]✗ {escape(address)}[/]: {escape(detail)}")
    else:
        output.out(f"  [yellow]- {escape(address)}[/]: skipped ({escape(detail)})")


def run(args: argparse.Namespace) -> int:
    return run_async(_session(args))


def _config_of(plan: Plan) -> Config | None:
    """The saved plan's config, to check convergence afterwards; None when it is gone or no longer loads."""
    if not plan.config_source or not Path(plan.config_source).exists():
        return None
    try:
        return load_config(plan.config_source)
    except ConfigError:
        return None


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
    output.out("")
    failed_files = report.registration.failed if report.registration else 0
    ok = report.ok and not failed_files
    summary = (
        f"Apply {'complete' if ok else 'failed'}: {len(result.applied)} applied, "
        f"{len(result.failed)} failed, {len(result.skipped)} skipped, "
        f"{len(report.unsupported)} left to do by hand."
    )
    output.out(f"[bold]{summary}[/]")
    if report.not_converged:
        output.out(f"[red]{len(report.not_converged)} change(s) did not converge: run plan to see them.[/]")
    return 0 if ok else 1
