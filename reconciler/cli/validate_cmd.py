from __future__ import annotations

import argparse

from rich.markup import escape

from reconciler.cli import output
from reconciler.config.loader import load_config
from reconciler.errors import ConfigError
from reconciler.plan.diff import schema_shape
from reconciler.registration.desired import read_file_sources, validate


def run(args: argparse.Namespace) -> int:
    config = load_config(args.config)
    for warning in config.warnings:
        output.info(f"[yellow]warning:[/] {escape(warning)}")
    # Data files are checked offline too; bucket listings (and a live-only schema) need `plan`.
    data = read_file_sources(config)
    schema = (
        {key: schema_shape(spec) for key, spec in config.schema_keys.items()}
        if config.schema_keys is not None
        else None
    )
    problems = data.problems + validate(config, data, schema)
    if problems:
        raise ConfigError(problems)
    entries = sum(folder.count() for folder in data.folders.values())
    buckets = sum(1 for f in data.folders.values() for spec, _ in f.sources if spec.bucket)
    counts = [
        f"{len(config.integrations or [])} integration(s)",
        f"{len(config.schema_keys or {})} metadata key(s)",
        f"{sum(1 for a in config.locations if a.startswith('folder.'))} folder(s)",
        f"{len(config.datasets or [])} dataset(s)",
        f"{entries} file entries",
    ]
    output.out(f"[green]Configuration is valid[/] ({len(config.files)} file(s): {', '.join(counts)}).")
    if buckets:
        output.out(f"{buckets} bucket listing(s) are read and checked by `reconciler plan`.")
    return 0
