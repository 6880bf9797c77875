"""Gather what every managed folder declares: read its data sources, then validate them all at once.

Files (JSON, CSV, sidecars) are read from disk; bucket listings come through a `Lister` the caller
supplies (GCS I/O lives in reconciler.gcs). Every problem of every source is gathered before the caller
decides to stop, so one run reports them all.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from reconciler.config.loader import Config, walk_folders
from reconciler.config.models import FolderSpec, IntegrationSpec
from reconciler.config.sources import DataSourceSpec
from reconciler.registration.bucket_source import entries_from_listing, source_problems, split_bucket_url
from reconciler.registration.csv_source import parse_csv_file
from reconciler.registration.entry import Entry, SourceEntries
from reconciler.registration.json_source import parse_json_file
from reconciler.registration.metadata_check import MetadataChecker
from reconciler.registration.sidecar import load_sidecar
from reconciler.registration.validate import validate_folder

# (bucket, prefix) -> every object name under it, page by page
Lister = Callable[[str, str], Iterable[list[str]]]


@dataclass
class FolderData:
    """One folder's declared data: its sources, each with the entries read from it."""

    path: str
    spec: FolderSpec
    where: str  # file:line:col of the folder in the config
    sources: list[tuple[DataSourceSpec, SourceEntries]] = field(default_factory=list)

    @property
    def entries(self) -> Iterable[tuple[int, Entry]]:
        for index, (_, read) in enumerate(self.sources):
            for entry in read.entries:
                yield index, entry

    def count(self) -> int:
        return sum(len(read.entries) for _, read in self.sources)


@dataclass
class DesiredData:
    folders: dict[str, FolderData] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # e.g. objects skipped by extension
    buckets_read: bool = False
    sidecars: dict[int, tuple[dict[str, dict[str, Any]], list[str]]] = field(default_factory=dict)

    @property
    def has_buckets(self) -> bool:
        return any(spec.bucket for f in self.folders.values() for spec, _ in f.sources)


def _base_dir(config: Config, folder_path: str) -> Path:
    loc = config.locations.get(f"folder.{folder_path}")
    return Path(loc.file).parent if loc else config.base_dir


def read_file_sources(config: Config) -> DesiredData:
    """Read every JSON and CSV source (bucket sources are read by `read_bucket_sources`)."""
    data = DesiredData()
    for path, spec in walk_folders(config.folders or []):
        if spec.data is None:
            continue
        folder = FolderData(path=path, spec=spec, where=config.where(f"folder.{path}"))
        base = _base_dir(config, path)
        for index, source in enumerate(spec.data):
            display = source.bucket or str(base / source.path)
            at = f"{config.where(f'(data){path}[{index}]')}: folders.{path}.data[{index}]"
            outside = _outside(
                config, base, source, f"(data){path}[{index}]", f"folders.{path}.data[{index}]"
            )
            if outside:
                data.problems.extend(outside)
                folder.sources.append((source, SourceEntries(display, source.integration, [], outside)))
                continue
            if source.kind == "bucket":
                read = SourceEntries(display=display, integration=source.integration, entries=[], problems=[])
                data.problems.extend(source_problems(source, at))
                data.problems.extend(_bucket_source_problems(config, source, at))
                if source.metadata:  # the sidecar is a local file: read it now, offline
                    sidecar_display = str(base / source.metadata)
                    sidecar, sidecar_problems = load_sidecar(base / source.metadata, sidecar_display)
                    named = _named(config, f"(data){path}[{index}].metadata", f"folders.{path}.data[{index}]")
                    data.sidecars[id(source)] = (sidecar, named(sidecar_display, sidecar_problems))
                    data.problems.extend(data.sidecars[id(source)][1])
            else:
                parse = parse_json_file if source.kind == "json" else parse_csv_file
                entries, problems = parse(base / source.path, display)
                named = _named(
                    config, f"(data){path}[{index}].{source.kind}", f"folders.{path}.data[{index}]"
                )
                read = SourceEntries(display, source.integration, entries, named(display, problems))
            data.problems.extend(read.problems)
            folder.sources.append((source, read))
        data.folders[path] = folder
    return data


def _outside(config: Config, base: Path, source: DataSourceSpec, address: str, name: str) -> list[str]:
    """A data file that is not below the configuration's directory (symlinks resolved) is refused before
    it is opened: a configuration arrives in pull requests, and must not read the runner's other files."""
    root = config.base_dir.resolve()
    problems = []
    for key, relative in (("json", source.json_file), ("csv", source.csv), ("metadata", source.metadata)):
        if relative is None:
            continue
        try:
            resolved = (base / relative).resolve()
        except (OSError, RuntimeError):  # a symlink loop
            resolved = None
        if resolved is None or not resolved.is_relative_to(root):
            problems.append(
                f"{config.where(f'{address}.{key}')}: {name}.{key}: {relative} is outside the "
                f"configuration's directory {root} (symlinks resolved); data files must be below it"
            )
    return problems


def _named(config: Config, address: str, source: str) -> Callable[[str, list[str]], list[str]]:
    """A file that cannot be read at all (missing, not a regular file...) has no line of its own: its
    problem starts where the config names it (`r.yaml:7:15: folders.a.data[0].json: d.json: ...`)."""
    where, key = config.where(address), address.rpartition(".")[2]

    def named(display: str, problems: list[str]) -> list[str]:
        return [f"{where}: {source}.{key}: {p}" if p.startswith(f"{display}: ") else p for p in problems]

    return named


def read_bucket_sources(config: Config, data: DesiredData, lister: Lister) -> None:
    """List every bucket source through `lister` and turn the objects into entries."""
    for path, folder in data.folders.items():
        base = _base_dir(config, path)
        for index, (source, read) in enumerate(folder.sources):
            if source.bucket is None:
                continue
            sidecar_display = str(base / source.metadata) if source.metadata else None
            sidecar = data.sidecars[id(source)][0] if id(source) in data.sidecars else None
            bucket, prefix = split_bucket_url(source.bucket)
            names = (name for page in lister(bucket, prefix) for name in page)
            result = entries_from_listing(
                source, names, sidecar, read.display, sidecar_display=sidecar_display
            )
            data.problems.extend(result.problems)
            at = f"{config.where(f'(data){path}[{index}]')}: folders.{path}.data[{index}]"
            data.problems.extend(_strict_listing_problems(config, source, at, result.entries))
            data.notes.extend(result.warnings)
            if result.skipped:
                skipped = ", ".join(
                    f"{n} {ext or '(no extension)'}" for ext, n in sorted(result.skipped.items())
                )
                data.notes.append(f"{read.display}: skipped objects of no declared type: {skipped}")
            folder.sources[index] = (
                source,
                SourceEntries(read.display, read.integration, result.entries, result.problems),
            )
    data.buckets_read = True


def _bucket_source_problems(config: Config, source: DataSourceSpec, at: str) -> list[str]:
    """Mistakes of a whole bucket listing, once at its place in the config (not once per object)."""
    integration = next((i for i in config.integrations or [] if i.title == source.integration), None)
    if integration is None:
        return []
    bucket, _ = split_bucket_url(source.bucket or "")
    problems = []
    if integration.provider != "gcp":
        problems.append(
            f"{at}: a bucket listing needs a gcp integration; {integration.title!r} is {integration.provider}"
        )
    elif integration.bucket is not None and bucket != integration.bucket:
        problems.append(
            f"{at}: the listing is in bucket {bucket!r}, but integration {integration.title!r} reads "
            f"{integration.bucket!r}"
        )
    if integration.strict_client_only and not source.metadata:
        problems.append(
            f"{at}: integration {integration.title!r} is strict client-only, so every entry must carry its "
            "media metadata: give it per object in a JSONL `metadata` sidecar (imageMetadata, "
            "videoMetadata, ... beside objectUrl), or register these objects from a JSON or CSV file"
        )
    return problems


def _strict_listing_problems(
    config: Config, source: DataSourceSpec, at: str, entries: list[Entry]
) -> list[str]:
    """On a strict client-only integration, the listed objects the sidecar gives no media metadata, once."""
    integration = next((i for i in config.integrations or [] if i.title == source.integration), None)
    if integration is None or not integration.strict_client_only:
        return []
    groups = [e.where for e in entries if e.is_group]
    bare = [e.urls[0] for e in entries if not e.is_group and e.media is None]
    problems = []
    if bare:
        shown = ", ".join(bare[:3]) + (f" and {len(bare) - 3} more" if len(bare) > 3 else "")
        problems.append(
            f"{at}: integration {integration.title!r} is strict client-only: {len(bare)} listed object(s) "
            f"have no media metadata in {source.metadata}: {shown}"
        )
    if groups:
        problems.append(
            f"{at}: integration {integration.title!r} is strict client-only, and {len(groups)} group(s) "
            f"({groups[0]}, ...) would need media metadata per frame, which a listing cannot give"
        )
    return problems


def _empty_sources(data: DesiredData) -> list[str]:
    """A source that declares nothing is almost always a mistake; with `prune` it would empty the folder."""
    problems = []
    for path, folder in data.folders.items():
        for index, (source, read) in enumerate(folder.sources):
            if read.entries or read.problems or (source.bucket and not data.buckets_read):
                continue
            message = f"{folder.where}: folders.{path}.data[{index}]: {read.display} declares no items"
            if folder.spec.prune:
                problems.append(
                    f"{message}; with `prune: true` that would delete what the folder holds. Fix the source, "
                    "or remove it (write `data: []` to empty the folder on purpose)"
                )
            else:
                data.notes.append(message)
    return problems


def validate(config: Config, data: DesiredData, schema: Mapping[str, Mapping[str, Any]] | None) -> list[str]:
    """Every entry of every folder against Encord's rules, the integrations and the metadata schema."""
    integrations: dict[str, IntegrationSpec] = {i.title: i for i in config.integrations or []}
    problems: list[str] = _empty_sources(data)
    for path, folder in data.folders.items():
        for source, _ in folder.sources:
            if config.integrations is not None and source.integration not in integrations:
                problems.append(
                    f"{folder.where}: folders.{path}.data: integration {source.integration!r} is not "
                    "declared under `integrations`"
                )
        pairs = [
            (read, _for_entries(integrations.get(source.integration), source))
            for source, read in folder.sources
        ]
        problems.extend(validate_folder(path, pairs, schema))
    return problems


def _for_entries(integration: IntegrationSpec | None, source: DataSourceSpec) -> IntegrationSpec | None:
    """A listing's bucket and strict mode were checked once for the source: not again per object."""
    if integration is None or source.bucket is None:
        return integration
    return integration.model_copy(update={"strict_client_only": False, "bucket": None})


def metadata_problems(data: DesiredData, schema: Mapping[str, Mapping[str, Any]]) -> list[str]:
    """Only the clientMetadata checks: for entries already validated without a schema."""
    checker = MetadataChecker(schema)
    return [
        f"{entry.where}: {problem}"
        for folder in data.folders.values()
        for _, entry in folder.entries
        if entry.client_metadata
        for problem in checker.problems(entry.client_metadata)
    ]


def entry_line(entry: Entry, integration: str) -> bytes:
    """A canonical line per entry: what the digest of a folder's desired set is made of."""
    if entry.title is None and entry.client_metadata is None and entry.media is None and entry.config is None:
        # The common case, a million times over: no JSON encoding needed.
        return "\x1e".join((entry.type, integration, *entry.urls)).encode()
    row = [entry.urls, entry.type, integration, entry.title, entry.client_metadata, entry.media]
    row += [entry.config] if entry.config is not None else []
    try:
        return orjson.dumps(row, option=orjson.OPT_SORT_KEYS)  # compact UTF-8, as below, and faster
    except TypeError:  # what orjson cannot write (integers beyond 64 bits)
        return json.dumps(row, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


_DIGEST_MODULUS = 1 << 128


def desired_digest(folder: FolderData) -> str:
    """A digest of the folder's declared set, independent of order: the sum of the entries' own digests
    (a multiset hash, so no sort of a million lines is needed). A saved plan applies only this set."""
    total = 0
    count = 0
    blake = hashlib.blake2b
    for _, read in folder.sources:
        for entry in read.entries:
            total += int.from_bytes(blake(entry_line(entry, read.integration), digest_size=16).digest())
            count += 1
    summary = f"prune={folder.spec.prune};n={count};sum={total % _DIGEST_MODULUS:032x}"
    return "sha256:" + hashlib.sha256(summary.encode()).hexdigest()[:32]
