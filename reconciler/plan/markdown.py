"""The plan as a pull-request comment: summary and destructive changes first, the rest grouped by risk
and kind in collapsible sections, and never longer than a GitHub comment can hold."""

from __future__ import annotations

from collections import defaultdict

from reconciler.plan.model import Action, Change, Plan, Risk
from reconciler.plan.render import detail_lines

MAX_CHARS = 60_000  # a GitHub comment holds 65,536; the rest is headroom for the note and a wrapper
_EMOJI = {Action.CREATE: "➕", Action.UPDATE: "✏️", Action.DELETE: "🗑️", Action.NOOP: ""}  # noqa: RUF001
_RISK_TITLE = {Risk.SAFE: "Safe", Risk.UNSUPPORTED: "Unsupported: to do by hand in Encord"}
_HEADER = ["| | Address | Action | Details |", "|---|---|---|---|"]


def _md(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ").replace("<", "&lt;")


def _row(change: Change) -> str:
    emoji = "⚠️" if change.risk == Risk.UNSUPPORTED else _EMOJI[change.action]
    details = "<br>".join(_md(line) for line in detail_lines(change) if not line.startswith("To do by hand"))
    action = change.action.value + (" (sandbox only)" if change.sandbox_only else "")
    if change.origin is not None:
        action += " · 🌀 drift" if change.origin == "drift" else " · config"
    return f"| {emoji} | `{_md(change.address)}` | {action} | {details} |"


def _sections(plan: Plan) -> list[tuple[str, list[Change], bool]]:
    """(title, changes, open) per section: destructive first and open, then by risk and kind, folded."""
    sections: list[tuple[str, list[Change], bool]] = []
    gated = [c for c in plan.actionable if c.risk == Risk.DESTRUCTIVE]
    if gated:
        title = f"⛔ Destructive: {len(gated)} change(s); apply needs --allow-destroy"
        sections.append((title, gated, True))
    groups: dict[tuple[Risk, str], list[Change]] = defaultdict(list)
    for change in plan.actionable:
        if change.risk != Risk.DESTRUCTIVE:
            groups[(change.risk, change.kind.value)].append(change)
    for (risk, kind), changes in sorted(groups.items(), key=lambda kv: (kv[0][0] != Risk.SAFE, kv[0][1])):
        counts: dict[str, int] = defaultdict(int)
        for change in changes:
            counts[change.action.value] += 1
        summary = ", ".join(f"{n} {action}" for action, n in sorted(counts.items()))
        sections.append((f"{_RISK_TITLE[risk]} · {kind}: {summary}", changes, False))
    return sections


CUT_NOTE_CHARS = 3_000  # kept free for the note that names what a cut comment leaves out
_CUT_NAMED = 40  # addresses the note names; the rest are counted by kind


def _cut_note(left_out: list[Change], max_chars: int, full_plan: str | None) -> list[str]:
    """What a cut comment leaves out: how many of each kind and action, and the first addresses by name
    (destructive and registrations first), so no change goes unmentioned."""
    where = (
        f" in `{_md(full_plan)}`" if full_plan else " (`reconciler plan --format json`, or `plan --out FILE`)"
    )
    counts: dict[str, int] = defaultdict(int)
    for change in left_out:
        counts[f"{change.kind.value} {change.action.value}"] += 1
    ranked = sorted(
        left_out, key=lambda c: (c.risk != Risk.DESTRUCTIVE, not c.kind.value.startswith("folder_items"))
    )
    named = ", ".join(f"`{_md(c.address)}`" for c in ranked[:_CUT_NAMED])
    more = f" and {len(left_out) - _CUT_NAMED} more" if len(left_out) > _CUT_NAMED else ""
    by_kind = ", ".join(f"{n} {what}" for what, n in sorted(counts.items()))
    return [
        f"> **Cut:** {len(left_out)} change(s) are not shown to keep this comment under {max_chars:,} "
        f"characters ({by_kind}): {named}{more}. Every change is in the full JSON plan{where}.",
        "",
    ]


def render_markdown(plan: Plan, *, max_chars: int = MAX_CHARS, full_plan: str | None = None) -> str:
    """`full_plan` names where the whole plan is (a saved plan file or CI artifact) for a cut comment."""
    head = [f"### reconciler plan: `{plan.backend.kind}`", "", f"**{_md(plan.summary_line())}**", ""]
    notes = [f"> **Error:** {_md(e)}" for e in plan.errors] + [
        f"> **Warning:** {_md(w)}" for w in plan.warnings
    ]
    head += [*notes, ""] if notes else []
    tail: list[str] = []
    manual = [c for c in plan.actionable if c.manual_steps]
    if manual:
        tail += ["", "<details><summary>Changes Encord's API cannot make: do these by hand</summary>", ""]
        tail += [f"- `{_md(c.address)}`: {_md(c.manual_steps or '')}" for c in manual]
        tail += ["", "</details>"]
    budget = max_chars - len("\n".join(head + tail)) - CUT_NOTE_CHARS
    body: list[str] = []
    left_out: list[Change] = []
    for title, changes, is_open in _sections(plan):
        opening = [f"<details{' open' if is_open else ''}><summary><b>{_md(title)}</b></summary>", ""]
        section = [*opening, *_HEADER]
        size = len("\n".join(body + section)) + 20
        shown = 0
        for change in changes:
            row = _row(change)
            if size + len(row) + 1 > budget:
                break
            section.append(row)
            size += len(row) + 1
            shown += 1
        left_out += changes[shown:]
        if shown:
            body += [*section, "", "</details>", ""]
    if left_out:
        body += _cut_note(left_out, max_chars, full_plan)
    return "\n".join(head + body + tail).rstrip() + "\n"
