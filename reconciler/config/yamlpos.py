"""YAML loading that remembers where every value came from, so errors can say file:line:col.

PyYAML composes a node tree with marks; we construct plain Python values from it ourselves and keep a
map from each value's path (tuple of keys and indices) to its location. `${VAR}` interpolation
happens here, on scalars, so an undefined variable is reported where it is written.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

Path_ = tuple[str | int, ...]

_VAR = re.compile(r"\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


@dataclass(frozen=True)
class Location:
    file: str
    line: int
    col: int

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.col}"


@dataclass
class LoadedYaml:
    file: str
    data: Any
    locations: dict[Path_, Location] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)

    def locate(self, path: Path_) -> Location:
        """The location of `path`, or of its nearest ancestor that has one."""
        for end in range(len(path), -1, -1):
            loc = self.locations.get(tuple(path[:end]))
            if loc is not None:
                return loc
        return Location(self.file, 1, 1)


def _mark(file: str, node: yaml.Node) -> Location:
    return Location(file, node.start_mark.line + 1, node.start_mark.column + 1)


def interpolate(text: str, env: Mapping[str, str]) -> tuple[str, list[str]]:
    """Expand `${VAR}` and `${VAR:-default}`; `$$` is a literal `$`. Returns the text and unknown names."""
    missing: list[str] = []

    def repl(match: re.Match[str]) -> str:
        if match.group(0) == "$$":
            return "$"
        name, default = match.group(1), match.group(2)
        value = env.get(name)
        if value is None or (value == "" and default is not None):
            if default is None:
                missing.append(name)
                return ""
            return default
        return value

    return _VAR.sub(repl, text), missing


def load_yaml(path: Path, env: Mapping[str, str] | None = None) -> LoadedYaml:
    env = os.environ if env is None else env
    file = str(path)
    result = LoadedYaml(file=file, data=None)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        result.problems.append(f"{file}:1:1: cannot read file: {exc.strerror or exc}")
        return result
    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        where = f"{file}:{mark.line + 1}:{mark.column + 1}" if mark else f"{file}:1:1"
        result.problems.append(f"{where}: invalid YAML: {exc.problem}")
        return result
    finally:
        loader.dispose()
    if node is None:
        result.data = {}
        return result
    result.data = _build(node, (), result, loader, env)
    return result


def _build(
    node: yaml.Node, path: Path_, out: LoadedYaml, loader: yaml.SafeLoader, env: Mapping[str, str]
) -> Any:
    out.locations[path] = _mark(out.file, node)
    if isinstance(node, yaml.MappingNode):
        mapping: dict[str, Any] = {}
        seen: dict[str, Location] = {}
        for key_node, value_node in node.value:
            key = _scalar(key_node, loader)
            if not isinstance(key, str):
                key = str(key)
            here = _mark(out.file, key_node)
            if key in seen:
                out.problems.append(f"{here}: {_dotted((*path, key))}: duplicate key (first at {seen[key]})")
                continue
            seen[key] = here
            mapping[key] = _build(value_node, (*path, key), out, loader, env)
            # The key's own position is the better place to point at for "unknown key" errors.
            out.locations[(*path, key)] = here
        return mapping
    if isinstance(node, yaml.SequenceNode):
        return [_build(child, (*path, i), out, loader, env) for i, child in enumerate(node.value)]
    value = _scalar(node, loader)
    if isinstance(value, str) and "$" in value:
        expanded, missing = interpolate(value, env)
        for name in missing:
            out.problems.append(
                f"{_mark(out.file, node)}: {_dotted(path)}: environment variable {name} is not set "
                f"(write ${{{name}:-default}} to give a default)"
            )
        if expanded != value and isinstance(node, yaml.ScalarNode) and node.style is None:
            # An unquoted `${SIZE}` that expands to 512 should be the number 512, as if written so.
            try:
                return yaml.safe_load(expanded) if expanded.strip() else expanded
            except yaml.YAMLError:
                return expanded
        return expanded
    return value


def _scalar(node: yaml.Node, loader: yaml.SafeLoader) -> Any:
    return loader.construct_object(node, deep=True)


def _dotted(path: Path_) -> str:
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out or "(top level)"


dotted = _dotted
