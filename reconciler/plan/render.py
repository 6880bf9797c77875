"""Plan renderers: text (rich markup; the CLI's console drops colour off a terminal) and JSON.

The Markdown comment for pull requests is in `reconciler.plan.markdown`.
"""

from __future__ import annotations

import json
from typing import Any

from rich.markup import escape

from reconciler.plan.model import Action, Change, Plan, Risk

_SYMBOL = {Action.CREATE: "+", Action.UPDATE: "~", Action.DELETE: "-", Action.NOOP: " "}
_COLOUR = {Action.CREATE: "green", Action.UPDATE: "yellow", Action.DELETE: "red", Action.NOOP: "dim"}


def _value(value: Any) -> str:
    if value is None:
        return "(none)"
    return json.dumps(value, ensure_ascii=False, sort_keys=True, default=str)


def detail_lines(change: Change) -> list[str]:
    lines: list[str] = []
    if change.action == Action.CREATE and change.after:
        for key, value in change.after.items():
            shown_in_address = key in ("name", "title") and change.address.endswith(str(value))
            if value not in ({}, "", None, []) and not shown_in_address:
                lines.append(f"{key}: {_value(value)}")
    for d in change.diff:
        lines.append(f"{d.field}: {_value(d.before)} → {_value(d.after)}")
    if change.reason:
        lines.append(change.reason)
    # a dataset by rule: items it links (+) and unlinks (-), one a line, each with the rule that decides
    lines += [_membership_line(example) for example in change.payload.get("membership_examples") or ()]
    if change.manual_steps:
        lines.append(f"To do by hand: {change.manual_steps}")
    return lines


def _membership_line(example: Any) -> str:
    """`+ path (rule)`, `+ path (new: rule)` for an item this apply registers, `- path (why)`."""
    if not isinstance(example, dict):
        return str(example)  # a plan saved before the examples were structured
    why = f"new: {example.get('why')}" if example.get("arriving") else example.get("why")
    return f"{'-' if example.get('change') == 'unlink' else '+'} {example.get('path')} ({why})"


def _risk_tag(change: Change) -> str:
    tags = []
    if change.risk != Risk.SAFE:
        tags.append(change.risk.value)
    if change.acknowledged:
        tags.append("acknowledged: left as it is")
    if change.sandbox_only:
        tags.append("sandbox only")
    if change.origin == "drift":
        tags.append("drift: changed in Encord since the last apply")
    elif change.origin == "config":
        tags.append("from the config")
    return f"  ({', '.join(tags)})" if tags else ""


def grouped(plan: Plan, *, allowed: bool = False) -> list[tuple[str, list[Change]]]:
    """Destructive changes first, in their own group; then the rest, in plan order."""
    gated = [c for c in plan.actionable if c.risk == Risk.DESTRUCTIVE]
    rest = [c for c in plan.actionable if c.risk != Risk.DESTRUCTIVE]
    if not gated:
        return [("", rest)] if rest else []
    title = "Destructive changes:" if allowed else "Destructive changes (apply needs --allow-destroy):"
    groups = [(title, gated)]
    return groups + ([("Other changes:", rest)] if rest else [])


def render_text(plan: Plan, *, allow_destroy: bool = False) -> str:
    out: list[str] = [f"Backend: {plan.backend.kind} ({escape(plan.backend.location)})", ""]
    width = max((len(c.address) for c in plan.actionable), default=0)
    for title, changes in grouped(plan, allowed=allow_destroy):
        if title:
            out.append(f"[bold]{escape(title)}[/]")
        out += _text_changes(changes, width)
    if plan.actionable:
        out.append("")
    for warning in plan.warnings:
        out.append(f"[yellow]Warning:[/] {escape(warning)}")
    for error in plan.errors:
        out.append(f"[red]Error:[/] {escape(error)}")
    if plan.warnings or plan.errors:
        out.append("")
    if plan.errors:  # no "No changes" (or any count) for a plan that could not be made whole
        out.append(f"[bold red]Plan failed: {len(plan.errors)} error(s) above.[/]")
    else:
        out.append(f"[bold]{escape(plan.summary_line())}[/]")
    return "\n".join(out)


def _text_changes(changes: list[Change], width: int) -> list[str]:
    out: list[str] = []
    for change in changes:
        unsupported = change.risk == Risk.UNSUPPORTED
        colour = "magenta" if unsupported else _COLOUR[change.action]
        symbol = "!" if unsupported else _SYMBOL[change.action]
        tag = _risk_tag(change)
        tag_colour = {Risk.DESTRUCTIVE: "red", Risk.UNSUPPORTED: "magenta"}.get(change.risk, "dim")
        verb = change.action.value + (f"[{tag_colour}]{escape(tag)}[/]" if tag else "")
        out.append(f"  [{colour}]{symbol} {escape(change.address.ljust(width))}[/]  {verb}")
        for line in detail_lines(change):
            out.append(f"      [dim]{escape(line)}[/]")
    return out


def plan_document(plan: Plan) -> dict[str, Any]:
    """The versioned JSON form; it is also the saved plan file that `apply PLANFILE` reads."""
    doc = plan.model_dump(mode="json")
    doc["changes"] = [c.model_dump(mode="json") for c in plan.actionable]
    doc["summary"] = {**plan.summary_counts(), "no-op": len(plan.changes) - len(plan.actionable)}
    ordered = {k: doc[k] for k in ("format_version", "summary", "created_at", "backend", "config_files")}
    ordered.update({k: v for k, v in doc.items() if k not in ordered})
    return ordered


def render_json(plan: Plan) -> str:
    return json.dumps(plan_document(plan), indent=2, ensure_ascii=False)
