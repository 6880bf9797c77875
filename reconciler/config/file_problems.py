"""The problems of one loaded YAML file, each as `file:line:col: field: message` in the file's own terms:
pydantic's errors translated (unknown keys with a "did you mean"), metadata key names checked where they
are written, and folders nested too deep found before the models recurse into them."""

from __future__ import annotations

import functools
from typing import Any

from pydantic import ValidationError

from reconciler.config.models import metadata_key_problem
from reconciler.config.yamlpos import LoadedYaml, Path_, dotted
from reconciler.hints import nearest

MAX_FOLDER_DEPTH = 200
"""Folders nested deeper than this are refused (the tree is validated and walked level by level)."""


def folder_depth_problems(loaded: LoadedYaml) -> list[str]:
    """A folder nested deeper than MAX_FOLDER_DEPTH, at the first such folder (iteratively, on the raw
    data: the models validate a tree by recursion)."""
    top = loaded.data.get("folders")
    stack: list[tuple[Any, Path_]] = [(top, ("folders",))]
    while stack:
        folders, path = stack.pop()
        if not isinstance(folders, list):
            continue
        depth = sum(1 for part in path if part in ("folders", "children"))
        for i, folder in enumerate(folders):
            here = (*path, i)
            if depth > MAX_FOLDER_DEPTH:
                return [
                    f"{loaded.locate(here)}: folders: a folder nested {depth} levels deep; folders nest at "
                    f"most {MAX_FOLDER_DEPTH} levels"
                ]
            if isinstance(folder, dict):
                stack.append((folder.get("children"), (*here, "children")))
    return []


def place(problem: str) -> tuple[str, int, int, str]:
    """`file:line:col: ...` -> a key that orders problems by file, then line, then column."""
    head = problem.split(": ", 1)[0]
    file, _, rest = head.partition(":")
    line, _, col = rest.partition(":")
    return (file, int(line) if line.isdigit() else 0, int(col) if col.isdigit() else 0, problem)


_DISCRIMINATED = {"kind": "sandbox or encord", "type": "a type name such as text, enum or embedding"}


def format_validation(loaded: LoadedYaml, exc: ValidationError) -> list[str]:
    out = []
    for err in exc.errors(include_url=False):
        loc = _clean_loc(err["loc"], loaded.data, err["type"])
        if loc in loaded.unresolved:
            continue  # `${VAR}` there is already reported: not set, or malformed
        message = err["msg"].removeprefix("Value error, ")
        ctx = err.get("ctx") or {}
        if err["type"] == "extra_forbidden":
            near = nearest(str(loc[-1]) if loc else "", known_keys(), cutoff=0.75)
            hint = (
                f"did you mean `{near}`?"
                if near
                else "check the spelling; `reconciler schema` lists every key"
            )
            message = f"unknown key ({hint})"
        elif err["type"] in ("union_tag_invalid", "union_tag_not_found"):
            field = str(ctx.get("discriminator", "")).strip("'")
            if err["type"] == "union_tag_invalid":
                message = f"unknown {field} {ctx.get('tag')!r}; expected one of {ctx.get('expected_tags')}"
            else:
                message = f"`{field}` is missing: {_DISCRIMINATED.get(field, 'name one')}"
        out.append(f"{loaded.locate(loc)}: {dotted(loc)}: {message}")
    return out


_ABSENT = object()


def _child(data: Any, part: Any) -> Any:
    """`data[part]` in the raw YAML data, or _ABSENT."""
    if isinstance(data, dict):
        return data.get(part, _ABSENT)
    if isinstance(data, list) and isinstance(part, int) and 0 <= part < len(data):
        return data[part]
    return _ABSENT


def raw_at(data: Any, loc: tuple[str | int, ...]) -> Any:
    for part in loc:
        data = _child(data, part)
        if data is _ABSENT:
            return None
    return data


@functools.cache
def known_keys() -> tuple[str, ...]:
    """Every key the configuration format has, from its JSON Schema: for "did you mean" hints."""
    from reconciler.config.jsonschema import schema_objects

    keys = {k for node in schema_objects() for k in (node.get("properties") or {}) if isinstance(k, str)}
    return tuple(sorted(keys))


def _clean_loc(loc: tuple[Any, ...], data: Any, kind: str = "") -> tuple[str | int, ...]:
    """The path of an error in the YAML's own terms: pydantic's labels of union branches and validators
    (`EnumKeySpec`, `str`, `function-after[...]`...) are dropped by walking the raw data, so a key that
    looks like a label (`Name`, `[x]`) is kept. A missing field, absent from the data, is kept last."""
    cleaned: list[str | int] = []
    for index, part in enumerate(loc):
        child = _child(data, part)
        if child is not _ABSENT:
            data = child
        elif not (kind == "missing" and index == len(loc) - 1 and isinstance(data, dict)):
            continue
        cleaned.append(part)
    return tuple(cleaned)


def raw_key_problems(loaded: LoadedYaml) -> list[str]:
    """Metadata key names are checked on the raw mapping, so a bad key is named where it is written."""
    section = loaded.data.get("metadata_schema") if isinstance(loaded.data, dict) else None
    keys = section.get("keys") if isinstance(section, dict) else None
    if not isinstance(keys, dict):
        return []
    out = []
    for key in keys:
        problem = metadata_key_problem(str(key))
        if problem:
            out.append(
                f"{loaded.locate(('metadata_schema', 'keys', key))}: metadata_schema.keys.{key}: {problem}"
            )
    return out
