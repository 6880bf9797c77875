from __future__ import annotations

import argparse
import os
from pathlib import Path

from reconciler.cli import output
from reconciler.config.loader import load_config
from reconciler.config.redact import scrub


def relative_to_plan(config_source: str, plan_file: str) -> str:
    return os.path.relpath(Path(config_source).resolve(), Path(plan_file).resolve().parent)


def run(args: argparse.Namespace) -> int:
    output.check_output_file(args.out, "--out")
    config = load_config(args.config)
    # Imported once the config has loaded: a bad one is refused before the planner is even read.
    from reconciler.backend import journal_for, sandbox_lock_gcs
    from reconciler.cli.common import compute_plan, prepare
    from reconciler.plan.markdown import render_markdown
    from reconciler.plan.render import render_json, render_text

    config, ref, token = prepare(config, args.domain)
    with sandbox_lock_gcs(ref):  # a gs:// lock on a sandbox bucket: the state and journal beside it
        plan = compute_plan(config, ref, token, targets=args.targets)
        pending = journal_for(ref, config.base_dir).pending()
    # A value that came from the environment is never echoed in an error or warning.
    plan = plan.model_copy(
        update={"errors": [scrub(e) for e in plan.errors], "warnings": [scrub(w) for w in plan.warnings]}
    )
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
        # Found again from the plan file wherever apply runs (a CI job in another directory).
        saved = plan.model_copy(update={"config_from_plan": relative_to_plan(config.source, args.out)})
        output.write_output_file(args.out, render_json(saved) + "\n", "--out")
        output.info(f"Saved the plan to {args.out}; apply it with: reconciler apply {args.out}")
    if plan.errors:
        return 1
    if args.detailed_exitcode and plan.has_changes:
        return 2
    return 0
