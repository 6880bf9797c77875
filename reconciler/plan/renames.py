"""`renamed_from:` on a folder: the live tree seen as if the declared renames and moves had happened.

A folder that is declared at a new path and names its old path is the same folder (its items and
dataset links stay); the diff compares it, and its whole live subtree, at the new paths. The plan keeps
the mapping, so a saved plan's staleness check sees the live tree the same way.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import TypeVar

from reconciler.config.loader import walk_folders
from reconciler.config.models import FolderSpec
from reconciler.live import LiveState

V = TypeVar("V")


def declared_renames(folders: list[FolderSpec] | None, live: LiveState) -> dict[str, str]:
    """New path -> old path, for renames still to do (the old path is live and the new one is not)."""
    out: dict[str, str] = {}
    for path, spec in walk_folders(folders or []):
        old = (spec.renamed_from or "").strip("/")
        if old and path not in live.folders and old in live.folders:
            out[path] = old
    return out


def renamed_paths(folders: list[FolderSpec] | None) -> Callable[[str], str | None]:
    """Where a declared path may still be live: its old path under the declared renames, or None."""
    olds = {
        path: spec.renamed_from.strip("/") for path, spec in walk_folders(folders or []) if spec.renamed_from
    }

    def old_path(path: str) -> str | None:
        for new, old in sorted(olds.items(), key=lambda kv: -len(kv[0])):
            if path == new or path.startswith(new + "/"):
                return old + path[len(new) :]
        return None

    return old_path


def moved_path(path: str, renames: dict[str, str]) -> str:
    # the innermost rename wins: a renamed child of a renamed parent names its own old path
    for new, old in sorted(renames.items(), key=lambda kv: -len(kv[1])):
        if path == old or path.startswith(old + "/"):
            return new + path[len(old) :]
    return path


def _rekey(mapping: dict[str, V], renames: dict[str, str]) -> dict[str, V]:
    return {moved_path(path, renames): value for path, value in mapping.items()}


def as_renamed(live: LiveState, renames: dict[str, str]) -> LiveState:
    if not renames:
        return live
    folders = {
        moved_path(path, renames): folder.model_copy(update={"path": moved_path(path, renames)})
        for path, folder in live.folders.items()
    }
    return live.model_copy(
        update={
            "folders": folders,
            "folder_items": _rekey(live.folder_items, renames),
            "contents": _rekey(live.contents, renames),
            # rules see a renamed folder's items at its new path (their path globs are written for it)
            "candidates": {
                moved_path(path, renames): [replace(c, folder=moved_path(path, renames)) for c in items]
                for path, items in live.candidates.items()
            },
        }
    )


def moved_addresses(addresses: set[str], renames: dict[str, str]) -> set[str]:
    """Folder addresses (e.g. recorded protections) at their paths after the renames."""
    return {
        f"folder.{moved_path(a.removeprefix('folder.'), renames)}" if a.startswith("folder.") else a
        for a in addresses
    }
