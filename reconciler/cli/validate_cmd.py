from __future__ import annotations

import argparse

from rich.markup import escape

from reconciler.cli import output
from reconciler.config.loader import load_config
from reconciler.config.redact import scrub


def run(args: argparse.Namespace) -> int:
    config = load_config(args.config)
    # Imported once the config has loaded: a bad one is refused before the planner is even read.
    from reconciler.cli.common import offline_backend_checks
    from reconciler.engine import load_files

    for warning in config.warnings:
        output.info(f"[yellow]warning:[/] {escape(scrub(warning))}")
    offline_backend_checks(config, need_credentials=False)  # offline: no secret needed
    # Data files are checked offline too; bucket listings (and a live-only schema) need `plan`.
    data = load_files(config)
    folders = data.folders.values() if data else []
    entries = sum(folder.count() for folder in folders)
    buckets = sum(1 for f in folders for spec, _ in f.sources if spec.bucket)
    counts = [
        f"{len(config.integrations or [])} integration(s)",
        f"{len(config.schema_keys or {})} metadata key(s)",
        f"{sum(1 for a in config.locations if a.startswith('folder.'))} folder(s)",
        f"{len(config.datasets or [])} dataset(s)",
    ]
    if entries or not buckets:  # entries of JSON and CSV files; listings are counted by `plan`
        counts.append(f"{entries} file entries")
    rules = len(config.selection.all_rules())
    if rules:  # datasets by rule: how many rules, and splits, were checked
        counts.insert(4, f"{rules} membership rule(s), {len(config.splits or [])} split(s)")
    output.out(f"[green]Configuration is valid[/] ({len(config.files)} file(s): {', '.join(counts)}).")
    if buckets:
        output.out(f"{buckets} bucket listing(s) are read and checked by `reconciler plan`.")
    return 0
