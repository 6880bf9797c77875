"""`reconciler export`: the live workspace as configuration that `plan` accepts with no changes.

`read_for_export` reads everything: integrations, the schema, the folder tree with every folder's items
(a dataset's `folders` are inferred from them) and every dataset's data rows. `build_export` turns it
into one YAML document and, with items, Encord JSON registration files. What cannot be declared exactly
is left out, so it stays unmanaged, and said so: in a comment beside it and in `Export.notes`.
"""

from __future__ import annotations

import json
import re
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import yaml
from pydantic import ValidationError

from reconciler.config.models import (
    SCALAR_TYPES,
    EmbeddingKeySpec,
    EnumKeySpec,
    FolderSpec,
    IntegrationSpec,
    metadata_key_problem,
)
from reconciler.export_read import (
    ExportItem,
    ExportRead,
    infer_folders,
    infer_provider,
    read_for_export,
)
from reconciler.export_schema import infer_schema
from reconciler.registration.entry import (
    DATA_TYPES,
    MAX_ITEMS_PER_FILE,
    MAX_URLS_PER_FILE,
    MEDIA_KEYS,
    Entry,
    SourceEntries,
)
from reconciler.registration.json_source import LIST_KEYS
from reconciler.registration.metadata_check import MetadataChecker
from reconciler.registration.validate import validate_folder

__all__ = [
    "Export",
    "ExportItem",
    "ExportRead",
    "build_export",
    "infer_folders",
    "infer_provider",
    "read_for_export",
    "render",
]

_JSON_KEY = {data_type: key for key, data_type in LIST_KEYS.items()} | {"image_sequence": "image_groups"}
_NOTE = re.compile(r"^( *)(__reconciler_note_\d+__): null$", re.MULTILINE)
DECLARABLE_TYPES = (*SCALAR_TYPES, "enum", "embedding")

# -- building the documents -------------------------------------------------------------------------


def escape(value: Any) -> Any:
    """Values as `${VAR}` interpolation reads them back: `$` is written `$$` (keys are not interpolated)."""
    if isinstance(value, str):
        return value.replace("$", "$$")
    if isinstance(value, dict):
        return {key: escape(item) for key, item in value.items()}
    return [escape(item) for item in value] if isinstance(value, list) else value


class Verbatim(str):
    """A value copied from the user's config as written (`${VAR}` kept): never escaped or quoted."""

    __slots__ = ()


@dataclass
class Export:
    text: str  # the YAML document (reconciler.yaml)
    files: dict[str, str]  # path relative to the document -> JSON registration file
    notes: list[str]  # what was left out, and why
    counts: dict[str, int]


@dataclass
class _Builder:
    read: ExportRead
    with_items: bool
    comments: dict[str, list[str]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    files: dict[str, str] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    providers: dict[str, str] = field(default_factory=dict)  # integration title -> provider
    shapes: dict[str, dict[str, Any]] = field(default_factory=dict)  # the exported schema, for metadata

    def note(self, mapping: dict[str, Any], where: str, *lines: str) -> None:
        """A comment at the end of `mapping`, and the same as a note for the command's output."""
        marker = f"__reconciler_note_{len(self.comments)}__"
        self.comments[marker] = [line.replace("\n", " ") for line in lines]
        mapping[marker] = None
        self.notes.append(f"{where}: {' '.join(line.strip() for line in lines)}")

    def integrations(self) -> list[dict[str, Any]]:
        by_integration: dict[str | None, list[ExportItem]] = defaultdict(list)
        for item in (item for folder in self.read.items.values() for item in folder):
            by_integration[item.integration].append(item)
        out = []
        for title, integ in sorted(self.read.live.integrations.items()):
            provider = infer_provider(by_integration.get(integ.uuid, []))
            node: dict[str, Any] = {"title": escape(title), "provider": provider or "gcp"}
            if provider is None:
                why = "Encord's API does not report it, nor does any item tell: gcp is assumed"
                self.note(
                    node, f"integration {title}", f"provider: {why} (used only if the sandbox creates it)."
                )
            if self.with_items:
                self.note(
                    node,
                    f"integration {title}",
                    "strict_client_only: Encord's API does not report it; add `strict_client_only: true`",
                    "if the integration is strict client-only (each entry then needs its media metadata).",
                )
            self.providers[title] = provider or "gcp"
            out.append(node)
        return out

    def inferred_schema(self) -> dict[str, Any]:
        """The organisation has no schema: one inferred from the items' metadata, said so."""
        metadata = (item.client_metadata for items in self.read.items.values() for item in items)
        keys, left = infer_schema(metadata)
        self.shapes = {key: spec if isinstance(spec, dict) else {"type": spec} for key, spec in keys.items()}
        node: dict[str, Any] = {"prune": False, "keys": escape(keys)}
        if keys or left:
            lines = [
                "The organisation has no metadata schema: these keys are inferred from its items'",
                "clientMetadata, and the first apply creates them. Check each type (an enum is a guess).",
            ]
            lines += [f"Left out: {', '.join(left)}."] if left else []
            self.note(node, "metadata_schema", *lines)
        return node

    def schema(self) -> dict[str, Any]:
        if not self.read.live.schema_keys:
            return self.inferred_schema()
        keys: dict[str, Any] = {}
        left, tombstoned = [], 0
        for key, live in self.read.live.schema_keys.items():
            tombstoned += live.deleted
            try:
                if live.deleted or metadata_key_problem(key) or live.type not in DECLARABLE_TYPES:
                    raise ValueError
                if live.type == "enum":
                    keys[key] = EnumKeySpec(type="enum", values=list(live.values or ())).model_dump()
                elif live.type == "embedding":
                    keys[key] = EmbeddingKeySpec(type="embedding", size=live.size or 0).model_dump()
                else:
                    keys[key] = live.type
                self.shapes[key] = keys[key] if isinstance(keys[key], dict) else {"type": keys[key]}
            except (ValueError, ValidationError):
                left += [] if live.deleted else [f"{key} ({live.type or 'unknown type'})"]
        node: dict[str, Any] = {"prune": False, "keys": escape(keys)}
        lines = [f"Left out: {tombstoned} tombstoned key(s)."] if tombstoned else []
        lines += [f"Left out, as the config cannot declare them: {', '.join(left)}."] if left else []
        if lines:
            self.note(node, "metadata_schema", *lines)
        return node

    def folders(self, root: dict[str, Any]) -> tuple[list[dict[str, Any]], dict[str, list[str]]]:
        """The tree, and the exported folders' items (path -> uuids)."""
        live = self.read.live
        path_of = {f.uuid: path for path, f in live.folders.items()}
        kids: dict[str | None, list[str]] = defaultdict(list)
        for path, f in sorted(live.folders.items(), key=lambda pf: pf[1].name):
            kids[path_of.get(f.parent_uuid or "")].append(path)
        exported: dict[str, list[str]] = {}
        skipped: list[str] = []

        def build(path: str) -> dict[str, Any] | None:
            f = live.folders[path]
            try:
                FolderSpec(name=f.name)
            except ValidationError:
                skipped.append(path)
                return None
            node: dict[str, Any] = {"name": escape(f.name)}
            node |= {"description": escape(f.description)} if f.description else {}
            node |= {"client_metadata": escape(f.client_metadata)} if f.client_metadata else {}
            items = self.read.items.get(path, [])
            exported[path] = [i.uuid for i in items]
            if self.with_items and items:
                self.data(node, path, items)
            children = [child for child in map(build, kids[path]) if child]
            node |= {"children": children} if children else {}
            self.counts["folders"] += 1
            return node

        tree = [node for node in map(build, kids[None]) if node]
        if skipped:
            root["prune"] = {"folders": "none"}
            self.note(root["prune"], "folders",
                f"Left out, with all inside them, as their names cannot be declared: {', '.join(skipped)}.",
                "So that plan does not delete them, no undeclared folder is deleted (prune.folders: none).",
            )  # fmt: skip
        return tree, exported

    def data(self, node: dict[str, Any], path: str, items: list[ExportItem]) -> None:
        """The folder's items as JSON registration files, one per integration, referenced from `data`."""
        titles = {i.uuid: i.title for i in self.read.live.integrations.values()}
        left: dict[str, list[str]] = defaultdict(list)
        sources: dict[str, SourceEntries] = {}
        seen: set[tuple[str, ...]] = set()
        for item in items:
            reason = (
                "with no URL (Encord-hosted, or a group with a frame without one)" if not item.urls
                else "with no integration" if item.integration is None
                else "of an integration that is not listed" if item.integration not in titles
                else f"of type {item.item_type}, which a registration file cannot declare"
                if item.item_type not in DATA_TYPES
                else "with the URL of another item in the folder" if item.urls in seen
                else ""
            )  # fmt: skip
            if reason:
                left[reason].append(item.title)
                continue
            seen.add(item.urls)
            title = titles[item.integration or ""]
            data_type = DATA_TYPES[item.item_type]
            entry = Entry(data_type, item.urls, str(len(seen)), item.title, item.client_metadata, item.media)
            sources.setdefault(title, SourceEntries(title, title, [], [])).entries.append(entry)
        specs = [(s, IntegrationSpec(title=t, provider=self.providers[t])) for t, s in sources.items()]
        problems: dict[str, str] = {}
        for problem in validate_folder(path, specs, None):  # the checks plan makes, but the schema's
            where, _, text = problem.partition(": ")
            problems.setdefault(where, text)
        checker, unchecked, data = MetadataChecker(self.shapes), 0, []
        for source, _ in specs:
            good = []
            for entry in source.entries:
                if entry.where in problems:
                    left["failing reconciler's checks"].append(f"{entry.title}: {problems[entry.where]}")
                    continue
                if entry.client_metadata is not None and checker.problems(entry.client_metadata):
                    entry.client_metadata, unchecked = None, unchecked + 1
                good.append(entry)
            for part, chunk in enumerate(_chunks(good)):
                name = self.file_name(path, source.integration if len(specs) > 1 else None, part)
                self.files[name] = _json_text(chunk)
                data.append({"integration": escape(source.integration), "json": name})
            self.counts["items"] += len(good)
        node |= {"data": data} if data else {}
        lines = [f"  {len(t)} item(s) {reason}, e.g. {t[0]!r}" for reason, t in left.items()]
        lines = ["Not declared in `data`, so left alone (prune is off):", *lines] if lines else []
        if unchecked:
            lines.append(f"{unchecked} item(s) are declared without the clientMetadata the schema rejects.")
        if lines:
            self.note(node, f"folder {path}", *lines)

    def file_name(self, path: str, integration: str | None, part: int) -> str:
        stem = "__".join(_slug(p) for p in path.split("/"))
        stem += (f".{_slug(integration)}" if integration else "") + (f".{part + 1}" if part else "")
        name, n, taken = f"items/{stem}.json", 1, {f.lower() for f in self.files}
        while name.lower() in taken:
            n += 1
            name = f"items/{stem}-{n}.json"
        return name

    def datasets(self, exported: dict[str, list[str]]) -> list[dict[str, Any]]:
        out = []
        for title, ds in sorted(self.read.live.datasets.items()):
            node: dict[str, Any] = {"title": escape(title)}
            node |= {"description": escape(ds.description)} if ds.description else {}
            refs, why = infer_folders(exported, ds.linked_items)
            if refs is None:
                self.note(
                    node, f"dataset {title}", f"folders: left out, so its items are not managed: {why}."
                )
            else:
                node["folders"] = escape(refs)
            out.append(node)
        return out


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("._") or "_"


def _chunks(entries: list[Entry]) -> Iterable[list[Entry]]:
    """Within Encord's per-file limits (items, and URLs counting frames)."""
    chunk: list[Entry] = []
    urls = 0
    for entry in entries:
        if chunk and (len(chunk) >= MAX_ITEMS_PER_FILE or urls + len(entry.urls) > MAX_URLS_PER_FILE):
            yield chunk
            chunk, urls = [], 0
        chunk.append(entry)
        urls += len(entry.urls)
    if chunk:
        yield chunk


def _json_text(entries: list[Entry]) -> str:
    """Encord's JSON registration format, one entry a line."""
    lists: dict[str, list[dict[str, Any]]] = {key: [] for key in LIST_KEYS}
    for e in entries:
        body: dict[str, Any] = ({} if e.is_group else {"objectUrl": e.urls[0]}) | {"title": e.title}
        body |= {"clientMetadata": e.client_metadata} if e.client_metadata is not None else {}
        body |= {MEDIA_KEYS[e.type]: e.media} if e.media is not None else {}
        body |= {"createVideo": True} if e.type == "image_sequence" else {}
        body |= {f"objectUrl_{n}": url for n, url in enumerate(e.urls)} if e.is_group else {}
        lists[_JSON_KEY[e.type]].append(body)
    parts = [
        f'  "{key}": [\n' + ",\n".join(f"    {json.dumps(b, ensure_ascii=False)}" for b in bodies) + "\n  ]"
        for key, bodies in lists.items()
        if bodies
    ]
    return "{\n" + ",\n".join(parts) + "\n}\n"


def build_export(
    read: ExportRead, backend: Mapping[str, Any], *, with_items: bool, schema_ref: str | None = None
) -> Export:
    """The YAML document (with `backend` as given: see `Verbatim`) and the registration files."""
    builder = _Builder(read, with_items)
    doc: dict[str, Any] = {"backend": dict(backend)}
    integrations, schema = builder.integrations(), builder.schema()
    folders, exported = builder.folders(doc)  # may add `prune`, which comes before the rest
    doc |= {"integrations": integrations, "metadata_schema": schema, "folders": folders}
    doc["datasets"] = builder.datasets(exported)
    header = [f"yaml-language-server: $schema={schema_ref}", ""] if schema_ref else []
    header += ["Exported from the live workspace by `reconciler export`: `reconciler plan` shows no changes."]
    header += [f"warning: {problem}" for problem in read.live.ambiguities]
    builder.notes += [f"warning: {problem}" for problem in read.live.ambiguities]
    counts = {"integration(s)": len(integrations), "metadata key(s)": len(schema["keys"])}
    counts |= {"folder(s)": builder.counts["folders"], "dataset(s)": len(doc["datasets"])}
    counts |= {"item(s)": builder.counts["items"]} if with_items else {}
    return Export(render(doc, header, builder.comments), builder.files, builder.notes, counts)


# -- YAML ---------------------------------------------------------------------------------------------


class _Dumper(yaml.SafeDumper):
    def increase_indent(self, flow: bool = False, indentless: bool = False) -> None:
        super().increase_indent(flow, False)  # list items indented under their key


def _str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    # Quoted when it holds `$`: a plain scalar that interpolation changes is read again as YAML.
    style = "'" if "$" in value else "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


def _verbatim(dumper: yaml.SafeDumper, value: Verbatim) -> yaml.ScalarNode:
    return dumper.represent_scalar("tag:yaml.org,2002:str", str(value))


_Dumper.add_representer(str, _str)
_Dumper.add_representer(Verbatim, _verbatim)


def render(doc: Mapping[str, Any], header: list[str], comments: Mapping[str, list[str]]) -> str:
    """Block style in the given key order; strings stay strings (`'yes'`, `'1.0'`, `'2024-05-01'`)."""
    text = yaml.dump(
        dict(doc), Dumper=_Dumper, sort_keys=False, allow_unicode=True, default_flow_style=False, width=4096
    )
    text = _NOTE.sub(lambda m: "\n".join(f"{m.group(1)}# {line}" for line in comments[m.group(2)]), text)
    text = re.sub(r"\n(?=[a-z_]+:)", "\n\n", text)  # a blank line between sections
    return "".join(f"# {line}\n" if line else "#\n" for line in header) + ("\n" if header else "") + text
