"""YAML nodes to plain values, iteratively (no recursion however deep), with a location for every path."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import yaml
from yaml.constructor import SafeConstructor

from reconciler.config.yamlbase import (
    _BOOL,
    _FLOAT,
    _INT,
    _MERGE,
    _NULL,
    _SCALAR_TAGS,
    _TIMESTAMP,
    MALFORMED,
    MAX_PROBLEMS,
    LoadedYaml,
    Location,
    Path_,
    _mark,
    _Refused,
    _resolver,
    _short_tag,
    interpolate,
)


class _Builder:
    """Nodes to plain values, iteratively (no recursion however deep), with a location for every path."""

    def __init__(self, out: LoadedYaml, env: Mapping[str, str]) -> None:
        self.out = out
        self.env = env
        self.file = out.file
        self.constructor = SafeConstructor()
        self._resolve: Any = _resolver().resolve
        self.reported: set[tuple[int, str]] = set()

    def _problem(self, node: yaml.Node, message: str, once: str = "") -> None:
        key = (id(node), once or message)
        if key in self.reported:
            return
        self.reported.add(key)
        self.out.problems.append(f"{_mark(self.file, node)}: {message}")
        if len(self.out.problems) >= MAX_PROBLEMS:
            self.out.problems.append(
                f"{_mark(self.file, node)}: too many problems ({MAX_PROBLEMS}); stopped reading this file"
            )
            raise _Refused

    def build(self, root: yaml.Node) -> Any:
        out = self.out
        out.locations[()] = _mark(self.file, root)
        holder: list[Any] = []
        # Tasks: (node, path, container, key). The value built from `node` goes into container[key]
        # (a list is appended to). Children are pushed in reverse so they are handled in document order.
        tasks: list[tuple[yaml.Node, Path_, Any, str | None]] = [(root, (), holder, None)]
        while tasks:
            node, path, container, key = tasks.pop()
            if isinstance(node, yaml.SequenceNode):
                value: Any = []
                for i in range(len(node.value) - 1, -1, -1):
                    child = node.value[i]
                    out.locations[(*path, i)] = _mark(self.file, child)
                    tasks.append((child, (*path, i), value, None))
            elif isinstance(node, yaml.MappingNode):
                value = {}
                pairs = self._pairs(node, path)
                for name, key_node, child in reversed(pairs):
                    # The key's own position is the better place to point at for "unknown key" errors.
                    out.locations[(*path, name)] = _mark(self.file, key_node)
                    tasks.append((child, (*path, name), value, name))
            else:
                value = self._scalar_value(node, path)
            if key is None:
                container.append(value)
            else:
                container[key] = value
        return holder[0]

    def _key(self, node: yaml.Node) -> str | None:
        if not isinstance(node, yaml.ScalarNode):
            self._problem(node, "a mapping key must be a plain scalar, not a list or mapping")
            return None
        key = self._construct(node)
        return key if isinstance(key, str) else str(key)

    def _pairs(self, node: yaml.MappingNode, path: Path_) -> list[tuple[str, yaml.Node, yaml.Node]]:
        """The mapping's entries: its own (duplicates reported), then merged ones whose keys are new."""
        pairs: list[tuple[str, yaml.Node, yaml.Node]] = []
        seen: dict[str, Location] = {}
        merges: list[yaml.Node] = []
        for key_node, value_node in node.value:
            if key_node.tag == _MERGE and isinstance(key_node, yaml.ScalarNode):
                merges.append(value_node)
                continue
            key = self._key(key_node)
            if key is None:
                continue
            here = _mark(self.file, key_node)
            if key in seen:
                self.out.problems.append(
                    f"{here}: {_dotted((*path, key))}: duplicate key (first at {seen[key]})"
                )
                continue
            seen[key] = here
            pairs.append((key, key_node, value_node))
        # Merged mappings, depth first in order: earlier sources win, a source's own keys beat its merges.
        stack = list(reversed(merges))
        while stack:
            source = stack.pop()
            sources: list[yaml.Node] = source.value if isinstance(source, yaml.SequenceNode) else [source]
            if not all(isinstance(s, yaml.MappingNode) for s in sources):
                self._problem(
                    source, "the merge key << takes a mapping or a list of mappings (e.g. <<: *base)"
                )
                continue
            # A list merges its mappings in turn; push them so that the first is handled first.
            if isinstance(source, yaml.SequenceNode):
                stack.extend(reversed(sources))
                continue
            inner: list[yaml.Node] = []
            for key_node, value_node in source.value:
                if key_node.tag == _MERGE and isinstance(key_node, yaml.ScalarNode):
                    inner.append(value_node)
                    continue
                key = self._key(key_node)
                if key is None or key in seen:
                    continue
                seen[key] = _mark(self.file, key_node)
                pairs.append((key, key_node, value_node))
            stack.extend(reversed(inner))
        return pairs

    def _construct(self, node: yaml.ScalarNode, tag: str | None = None) -> Any:
        tag = tag or node.tag
        try:
            if tag == _TIMESTAMP:
                return self.constructor.construct_yaml_timestamp(node)
            if tag == _INT:
                return self.constructor.construct_yaml_int(node)
            if tag == _FLOAT:
                return self.constructor.construct_yaml_float(node)
            if tag == _BOOL:
                return self.constructor.construct_yaml_bool(node)
            if tag == _NULL:
                return None
        except (ValueError, KeyError, TypeError, OverflowError, yaml.YAMLError):
            self._problem(node, f"{node.value!r} is not a valid {_short_tag(tag)}")
            return node.value
        return str(node.value)

    def _scalar_value(self, node: yaml.Node, path: Path_) -> Any:
        if not isinstance(node, yaml.ScalarNode):  # pragma: no cover - collections are handled by build
            return None
        value = self._construct(node)
        if isinstance(value, str) and "$" in value:
            expanded, missing = interpolate(value, self.env)
            for name in missing:
                if name == MALFORMED:
                    self._problem(
                        node,
                        f"{_dotted(path)}: malformed ${{...}}: write ${{NAME}} or ${{NAME:-default}} (NAME: "
                        "letters, digits and _, not starting with a digit), or $$ for a literal $",
                        once=f"malformed {path}",
                    )
                    continue
                self._problem(
                    node,
                    f"{_dotted(path)}: environment variable {name} is not set "
                    f"(write ${{{name}:-default}} to give a default)",
                    once=f"env {name} {path}",
                )
            if expanded != value and node.style is None and expanded.strip():
                # An unquoted `${SIZE}` that expands to 512 should be the number 512, as if written so.
                # Only a scalar: the variable's value cannot bring in lists, mappings or tags.
                text = expanded.strip()
                tag = self._resolve(yaml.ScalarNode, text, (True, False))
                if tag in _SCALAR_TAGS or tag == _TIMESTAMP:
                    probe = yaml.ScalarNode(tag, text, node.start_mark, node.end_mark)
                    try:
                        return self._construct_quiet(probe)
                    except _Invalid:
                        return expanded
            return expanded
        return value

    def _construct_quiet(self, node: yaml.ScalarNode) -> Any:
        try:
            if node.tag == _TIMESTAMP:
                return self.constructor.construct_yaml_timestamp(node)
            if node.tag == _INT:
                return self.constructor.construct_yaml_int(node)
            if node.tag == _FLOAT:
                return self.constructor.construct_yaml_float(node)
            if node.tag == _BOOL:
                return self.constructor.construct_yaml_bool(node)
            if node.tag == _NULL:
                return None
        except (ValueError, KeyError, TypeError, OverflowError, yaml.YAMLError) as exc:
            raise _Invalid from exc
        return str(node.value)


class _Invalid(Exception):
    pass


def _dotted(path: Path_) -> str:
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out or "(top level)"


dotted = _dotted
