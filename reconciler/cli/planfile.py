"""Saved plans as files: telling a plan from a configuration (and refusing what is neither), reading one,
and finding the configuration it was made from, wherever apply runs."""

from __future__ import annotations

import json
from pathlib import Path

from pydantic import ValidationError

from reconciler.config.loader import Config, load_config
from reconciler.errors import ConfigError, ReconcilerError
from reconciler.plan.model import FORMAT_VERSION, Plan


def is_plan_file(target: str) -> bool:
    """A plan file is known by its content (a JSON object with `format_version`), whatever its name."""
    path = Path(target)
    if not path.is_file():
        return False
    try:
        with path.open("rb") as fh:
            head = fh.read(4096)
        if not head.lstrip().startswith(b"{"):
            return False
        if b'"format_version"' in head:
            return True  # a plan file, even a damaged one: load_plan_file says what is wrong with it
        doc = json.loads(path.read_bytes())
    except (OSError, ValueError):
        return False
    return isinstance(doc, dict) and "format_version" in doc


def refuse_non_plan(path: str) -> None:
    """For `show`: anything but a saved plan is one clear error."""
    if not Path(path).is_file():
        raise ReconcilerError(f"{path}: no such file")
    if is_plan_file(path):
        return
    refuse_non_config(path)  # empty, or JSON without format_version: says which
    raise ReconcilerError(f"{path} is not a saved plan (it has no format_version): see `plan --out`")


def load_plan_file(path: str) -> Plan:
    try:
        doc = json.loads(Path(path).read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise ReconcilerError(
            f"{path}:{exc.lineno}:{exc.colno}: not a readable plan file: {exc.msg}; run plan --out again"
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ReconcilerError(f"{path}: not a readable plan file: {exc}") from None
    version = doc.get("format_version") if isinstance(doc, dict) else None
    if version != FORMAT_VERSION:
        raise ReconcilerError(
            f"{path}: plan format_version {version!r} is not {FORMAT_VERSION}; run plan again"
        )
    doc.pop("summary", None)
    try:
        return Plan.model_validate(doc)
    except ValidationError as exc:
        raise ReconcilerError(f"{path}: not a valid plan file ({exc.error_count()} problem(s))") from None


def refuse_non_config(target: str) -> None:
    """An empty file, or JSON that is no saved plan (an expired CI artefact, the wrong download), is refused:
    read as a configuration it would apply nothing, or to a sandbox made on the spot."""
    path = Path(target)
    if not path.is_file():
        return
    try:
        with path.open("rb") as handle:
            head = handle.read(4096).lstrip()
    except OSError:
        return  # said by the loader
    if not head:
        raise ReconcilerError(f"{target} is empty: neither a saved plan (plan --out) nor a configuration")
    if head[:1] in (b"{", b"["):
        raise ReconcilerError(
            f"{target} is JSON but not a saved plan (it has no format_version): save one with "
            "`reconciler plan CONFIG --out FILE`"
        )


def config_of(plan: Plan, plan_file: str) -> Config | None:
    """The saved plan's configuration, for the check after apply: found from the plan file (wherever apply
    runs), else from the directory the plan was made in; None when it is not here or no longer loads."""
    candidates = []
    if plan.config_from_plan:
        candidates.append(Path(plan_file).resolve().parent / plan.config_from_plan)
    if plan.config_source:
        candidates.append(Path(plan.config_source))
    for candidate in candidates:
        if candidate.exists():
            try:
                return load_config(candidate)
            except ConfigError:
                return None
    return None
