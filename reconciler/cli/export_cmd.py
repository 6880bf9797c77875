"""`reconciler export [CONFIG] [--out DIR] [--with-items] [--force]`: adopt a live workspace.

CONFIG names the backend to read; its `backend:` section is copied as written (`${VAR}` kept, so no
secret is written out) into DIR/reconciler.yaml, with the paths it holds relative to the config file
rewritten to name the same files from DIR. `reconciler plan DIR` then shows no changes.
"""

from __future__ import annotations

import argparse
import os
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml
from rich.markup import escape

from reconciler.cli import output
from reconciler.config.loader import DEFAULT_CONFIG, Config
from reconciler.config.models import EncordBackend, SandboxBackend
from reconciler.errors import ReconcilerError

if TYPE_CHECKING:
    from reconciler.export import Export

# The client and the export are imported when a command runs: the CLI starts (and a bad config fails)
# without loading them.

CONFIG_NAME = "reconciler.yaml"
_WHOLE_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


def add_export_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = subparsers.add_parser(
        "export",
        help="write the live workspace as configuration that plan accepts with no changes",
        allow_abbrev=False,
    )
    p.add_argument(
        "config",
        nargs="?",
        default=DEFAULT_CONFIG,
        metavar="CONFIG",
        help="file or directory whose `backend` is read and copied (default: %(default)s)",
    )
    p.add_argument("--out", metavar="DIR", default="exported", help="where to write (default: %(default)s)")
    p.add_argument(
        "--with-items",
        action="store_true",
        help="also each folder's items, as Encord JSON registration files declared as its `data`",
    )
    p.add_argument("--force", action="store_true", help="overwrite files that exist already")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    out = Path(args.out)
    if out.exists() and not out.is_dir():
        raise ReconcilerError(f"--out {out}: is a file; export writes a directory")
    blocker = next((a for a in out.parents if a.exists() and not a.is_dir()), None)
    if blocker is not None:
        raise ReconcilerError(f"--out {out}: cannot write here: {blocker} is a file, not a directory")
    from reconciler.backend import open_client
    from reconciler.cli.common import concurrency, load, run_async
    from reconciler.export import build_export, read_for_export

    config, ref, token = load(args.config, None)
    target = out / CONFIG_NAME
    if target.exists() and not args.force:
        raise ReconcilerError(f"{target} exists already; pass --force to overwrite it")
    backend, backend_notes = backend_section(config, out)

    async def read() -> Export:
        async with open_client(ref, bearer_token=token) as client:
            live = await read_for_export(client, with_items=args.with_items, concurrency=concurrency(ref))
        return build_export(live, backend, with_items=args.with_items, schema_ref=schema_ref(out))

    export = run_async(read())
    existing = [str(out / name) for name in export.files if (out / name).exists()]
    if existing and not args.force:
        more = f" and {len(existing) - 1} more" if len(existing) > 1 else ""
        raise ReconcilerError(f"{existing[0]}{more} exist(s) already; pass --force to overwrite")
    try:
        out.mkdir(parents=True, exist_ok=True)
        target.write_text(export.text, encoding="utf-8")
        for name, text in export.files.items():
            (out / name).parent.mkdir(parents=True, exist_ok=True)
            (out / name).write_text(text, encoding="utf-8")
    except OSError as exc:
        raise ReconcilerError(f"--out {out}: cannot write the export: {exc.strerror or exc}") from None
    counts = ", ".join(f"{n} {what}" for what, n in export.counts.items())
    files = f", and {len(export.files)} registration file(s) in {out / 'items'}" if export.files else ""
    output.out(f"[green]Exported[/] {escape(counts)} to {escape(str(target))}{escape(files)}.")
    for note in backend_notes + export.notes + _overlaps(config, out, target):
        output.info(f"[yellow]note:[/] {escape(note)}")
    output.out(f"Check it with: reconciler plan {escape(str(out))} --detailed-exitcode (exit 0: no changes)")
    return 0


def backend_section(config: Config, out: Path) -> tuple[dict[str, Any], list[str]]:
    """The config's `backend` as written, its paths rewritten to name the same files from `out`."""
    where = config.locations.get("(backend)")
    raw: dict[str, Any] = {"kind": "sandbox"}
    if where is not None:
        section = (yaml.safe_load(Path(where.file).read_text(encoding="utf-8")) or {}).get("backend")
        raw = dict(section) if isinstance(section, dict) else raw
    notes: list[str] = []
    backend, base = config.backend, config.base_dir
    section = {key: _verbatim(value) for key, value in raw.items()}
    if isinstance(backend, SandboxBackend):
        section["state"] = _moved(raw.get("state"), backend.state, base, out, "backend.state", notes)
        raw_buckets: dict[str, Any] = raw["buckets"] if isinstance(raw.get("buckets"), dict) else {}
        if backend.buckets:
            section["buckets"] = {
                name: _moved(raw_buckets.get(name), path, base, out, f"backend.buckets.{name}", notes)
                for name, path in backend.buckets.items()
            }
    elif isinstance(backend, EncordBackend) and backend.ssh_key_file:
        key_file = raw.get("ssh_key_file")
        section["ssh_key_file"] = _moved(
            key_file, backend.ssh_key_file, base, out, "backend.ssh_key_file", notes
        )
    return section, notes


def _verbatim(value: Any) -> Any:
    from reconciler.export import Verbatim

    if isinstance(value, str):
        return Verbatim(value)
    if isinstance(value, dict):
        return {key: _verbatim(item) for key, item in value.items()}
    return [_verbatim(item) for item in value] if isinstance(value, list) else value


def _moved(raw: Any, resolved: str, base: Path, out: Path, what: str, notes: list[str]) -> Any:
    """A path read relative to the config file, written so that it names the same file from `out`."""
    from reconciler.export import Verbatim

    def relative(path: str) -> str | None:
        if os.path.isabs(os.path.expanduser(path)):
            return None
        return os.path.relpath((base / path).resolve(), out.resolve())

    literal = relative(resolved)
    if not isinstance(raw, str):
        return (literal or resolved).replace("$", "$$")
    if "$" not in raw:
        return Verbatim(raw) if literal is None else literal.replace("$", "$$")
    match = _WHOLE_VAR.fullmatch(raw)
    if match is not None:  # `${VAR}` or `${VAR:-default}`: kept, with the default rewritten
        name, default = match.groups()
        value = os.environ.get(name)
        if value is None or (value == "" and default is not None):
            moved = relative(default) if default is not None else None
            if moved is None:
                return Verbatim(raw)
            if "$" not in moved and "}" not in moved:
                return Verbatim(f"${{{name}:-{moved}}}")
        elif relative(value) is None:
            return Verbatim(raw)
    if literal is None:
        return Verbatim(raw)
    notes.append(f"{what}: {raw} is written as the path it names now, {literal} (relative to {out})")
    return literal.replace("$", "$$")


def schema_ref(out: Path) -> str | None:
    """The path from `out` to reconciler's schema.json, when it is in `out` or a directory above it."""
    for directory in (out.resolve(), *out.resolve().parents):
        candidate = directory / "schema.json"
        try:
            if candidate.is_file() and '"title": "reconciler configuration"' in candidate.read_text(
                encoding="utf-8"
            ):
                return os.path.relpath(candidate, out.resolve())
        except (OSError, UnicodeDecodeError):
            continue
    return None


def _overlaps(config: Config, out: Path, target: Path) -> list[str]:
    """Other YAML files that `plan DIR` would merge with the export, or a config directory holding it."""
    notes = []
    others = sorted(str(p) for p in out.rglob("*") if p.suffix in (".yaml", ".yml") and p != target)
    if others:
        notes.append(f"`plan {out}` also reads {', '.join(others)}, which the export did not write")
    source = Path(config.source)
    if source.is_dir() and (source == out.resolve() or source in out.resolve().parents):
        notes.append(f"{out} is inside {source}: `plan {source}` would now read the exported files too")
    return notes
