from __future__ import annotations

import argparse
from pathlib import Path

from reconciler.backend import journal_for
from reconciler.cli import output
from reconciler.cli.common import compute_plan, load
from reconciler.plan.markdown import render_markdown
from reconciler.plan.render import render_json, render_text


def run(args: argparse.Namespace) -> int:
    config, ref, token = load(args.config, args.domain)
    plan = compute_plan(config, ref, token, targets=args.targets)
    pending = journal_for(ref, config.base_dir).pending()
    if pending:
        output.info(
            f"[yellow]warning:[/] {len(pending)} upload job(s) of an interrupted apply may still be running; "
            "the next apply waits for them first, so this plan may list files they are registering"
        )
    if args.format == "json":
        output.raw(render_json(plan))
    elif args.format == "markdown":
        output.raw(render_markdown(plan, full_plan=args.out))
    else:
        output.out(render_text(plan))
    if args.out:
        out = Path(args.out)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(render_json(plan) + "\n", encoding="utf-8")
        output.info(f"Saved the plan to {args.out}; apply it with: reconciler apply {args.out}")
    if plan.errors:
        return 1
    if args.detailed_exitcode and plan.has_changes:
        return 2
    return 0
