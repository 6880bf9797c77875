from __future__ import annotations

import argparse
import json
from pathlib import Path

from pydantic import ValidationError
from rich.markup import escape

from reconciler.backend import open_client
from reconciler.cli import output
from reconciler.cli.common import compute_plan, concurrency, load, run_async
from reconciler.config.loader import Config, load_config
from reconciler.engine import ApplyReport, apply_plan, refuse_if_stale
from reconciler.errors import ConfigError, PlanError, ReconcilerError
from reconciler.plan.model import FORMAT_VERSION, BackendRef, Plan
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


async def _apply(
    plan: Plan, ref: BackendRef, token: str | None, config: Config | None, check_stale: bool
) -> ApplyReport:
    async with open_client(ref, bearer_token=token) as client:
        if check_stale:
            await refuse_if_stale(plan, client, concurrency=concurrency(ref))
        output.out("")
        return await apply_plan(plan, client, config=config, concurrency=concurrency(ref), progress=_progress)


def _progress(address: str, status: str, detail: str) -> None:
    if status == "applied":
        output.out(f"  [green]✓[/] {escape(address)}  [dim]{escape(detail)}[/]")
    elif status == "failed":
        output.out(f"  [red]✗ {escape(address)}[/]: {escape(detail)}")
    else:
        output.out(f"  [yellow]- {escape(address)}[/]: skipped ({escape(detail)})")


def run(args: argparse.Namespace) -> int:
    config: Config | None
    if _is_plan_file(args.target):
        plan = load_plan_file(args.target)
        ref, token = plan.backend, None
        if args.domain:
            raise ReconcilerError("--domain cannot change the backend of a saved plan")
        config = _config_of(plan)
        check_stale = True
    else:
        config, ref, token = load(args.target, args.domain)
        plan = compute_plan(config, ref, token)
        check_stale = False
    output.out(render_text(plan))
    if plan.errors:
        raise PlanError("the plan has errors (above); nothing was applied")
    if not [c for c in plan.actionable if c.executable]:
        return 0
    _confirm(args)
    report = run_async(_apply(plan, ref, token, config, check_stale))
    return _report(report)


def _config_of(plan: Plan) -> Config | None:
    """The saved plan's config, to check convergence afterwards; None when it is gone or no longer loads."""
    if not plan.config_source or not Path(plan.config_source).exists():
        return None
    try:
        return load_config(plan.config_source)
    except ConfigError:
        return None


def _report(report: ApplyReport) -> int:
    result = report.result
    for change in report.unsupported:
        output.out(
            f"  [magenta]! {escape(change.address)}[/]: not applied: {escape(change.manual_steps or '')}"
        )
    for change in report.not_converged:
        output.out(f"  [red]≠ {escape(change.address)}[/]: still differs after apply ({change.action.value})")
    output.out("")
    summary = (
        f"Apply {'complete' if report.ok else 'failed'}: {len(result.applied)} applied, "
        f"{len(result.failed)} failed, {len(result.skipped)} skipped, "
        f"{len(report.unsupported)} left to do by hand."
    )
    output.out(f"[bold]{summary}[/]")
    if report.not_converged:
        output.out(f"[red]{len(report.not_converged)} change(s) did not converge: run plan to see them.[/]")
    return 0 if report.ok else 1
