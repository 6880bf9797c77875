from __future__ import annotations

import argparse
from pathlib import Path

from rich.markup import escape

from reconciler.backend import backend_ref
from reconciler.cli import output
from reconciler.config.loader import Config, load_config
from reconciler.config.models import EncordBackend
from reconciler.emulator.store import state_path_problem
from reconciler.encord.auth import resolve_auth
from reconciler.engine import load_files
from reconciler.errors import ConfigError, CredentialsError


def offline_backend_checks(config: Config) -> None:
    """What plan checks before its first request: the credentials can be loaded, the state path used."""
    where = config.where("(backend)")
    problems: list[str] = []
    backend = config.backend
    if isinstance(backend, EncordBackend):
        ref = backend_ref(backend, config.base_dir)
        key_file = ref.options.get("ssh_key_file")
        try:
            resolve_auth(key_file=Path(key_file) if key_file else None, bearer_token=backend.bearer_token)
        except CredentialsError as exc:
            problems.append(f"{where}: backend: {exc}")
    else:
        problem = state_path_problem((config.base_dir / backend.state).resolve())
        if problem is not None:
            problems.append(f"{where}: backend.state: {problem}")
    if problems:
        raise ConfigError(problems)


def run(args: argparse.Namespace) -> int:
    config = load_config(args.config)
    for warning in config.warnings:
        output.info(f"[yellow]warning:[/] {escape(warning)}")
    offline_backend_checks(config)
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
        f"{entries} file entries",
    ]
    output.out(f"[green]Configuration is valid[/] ({len(config.files)} file(s): {', '.join(counts)}).")
    if buckets:
        output.out(f"{buckets} bucket listing(s) are read and checked by `reconciler plan`.")
    return 0
