"""`reconciler show PLANFILE`: a saved plan as text, Markdown or JSON, without reaching the workspace (what a
reviewer reads from a CI artefact, or a merge job prints before it applies)."""

from __future__ import annotations

import argparse

from rich.markup import escape

from reconciler.cli import output


def run(args: argparse.Namespace) -> int:
    from reconciler.cli.planfile import load_plan_file, refuse_non_plan
    from reconciler.plan.markdown import render_markdown
    from reconciler.plan.render import render_json, render_text

    refuse_non_plan(args.planfile)
    plan = load_plan_file(args.planfile)
    if args.format == "json":
        output.raw(render_json(plan))
    elif args.format == "markdown":
        output.raw(render_markdown(plan, full_plan=args.planfile))
    else:
        output.out(render_text(plan))
        made = plan.created_at.isoformat(timespec="seconds")
        where = escape(args.planfile)
        output.out(f"[dim]Saved plan {where}, made {made}; apply it with: reconciler apply {where}[/]")
    return 0
