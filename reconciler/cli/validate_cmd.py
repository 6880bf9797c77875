from __future__ import annotations

import argparse

from rich.markup import escape

from reconciler.cli import output
from reconciler.config.loader import load_config


def run(args: argparse.Namespace) -> int:
    config = load_config(args.config)
    for warning in config.warnings:
        output.info(f"[yellow]warning:[/] {escape(warning)}")
    counts = [
        f"{len(config.integrations or [])} integration(s)",
        f"{len(config.schema_keys or {})} metadata key(s)",
        f"{sum(1 for a in config.locations if a.startswith('folder.'))} folder(s)",
        f"{len(config.datasets or [])} dataset(s)",
    ]
    output.out(f"[green]Configuration is valid[/] ({len(config.files)} file(s): {', '.join(counts)}).")
    return 0
