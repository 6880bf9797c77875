"""Load one YAML file or a directory of them into a validated, merged desired state.

Every problem of a run is gathered and reported at once as `file:line:col: field: message`: those of
each file (`file_problems.py`), then those across files (duplicates, references), found here.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import stat
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from reconciler.config.file_problems import (
    folder_depth_problems,
    format_validation,
    place,
    raw_at,
    raw_key_problems,
)
from reconciler.config.models import (
    EMBEDDING_ACTIVE_MAX,
    ConfigFile,
    DatasetSpec,
    EmbeddingKeySpec,
    EncordBackend,
    EnumKeySpec,
    FolderSpec,
    IntegrationSpec,
    MetadataSchemaSpec,
    PruneSpec,
    SafetySpec,
    SandboxBackend,
    ScalarKeySpec,
    SplitSpec,
    metadata_key_problem,
)
from reconciler.config.redact import redactor, remember
from reconciler.config.selection_check import Selection, check_selection, locate_rules
from reconciler.config.yamlpos import LoadedYaml, Location, Path_, load_yaml
from reconciler.errors import ConfigError

DEFAULT_CONFIG = "reconciler.yaml"
YAML_SUFFIXES = (".yaml", ".yml")


def _may_hold_config(entry: os.DirEntry[str]) -> bool:
    """A YAML file or a directory, told by the directory entry's own type (no stat per data file)."""
    try:
        return entry.name.endswith(YAML_SUFFIXES) or entry.is_dir()
    except OSError:
        return False


def _entry_name(entry: os.DirEntry[str]) -> str:
    return entry.name


KeySpecValue = ScalarKeySpec | EnumKeySpec | EmbeddingKeySpec


@dataclass
class Config:
    """The merged desired state. A section that is None was absent from every file: it is not managed."""

    backend: SandboxBackend | EncordBackend
    base_dir: Path
    files: list[str]
    source: str = ""  # the file or directory it was loaded from, absolute
    integrations: list[IntegrationSpec] | None = None
    schema_prune: bool = False
    prune: PruneSpec = field(default_factory=PruneSpec)
    safety: SafetySpec = field(default_factory=SafetySpec)
    forget: list[str] = field(default_factory=list)
    digest: str = ""  # of the configuration's files, by path below the target: tells a newer config apart
    acknowledge: list[str] = field(default_factory=list)  # unsupported changes known and left as they are
    schema_keys: dict[str, KeySpecValue] | None = None
    folders: list[FolderSpec] | None = None
    datasets: list[DatasetSpec] | None = None
    splits: list[SplitSpec] | None = None
    selection: Selection = field(default_factory=Selection)  # datasets' and splits' rules, parsed
    locations: dict[str, Location] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)

    def where(self, address: str) -> str:
        loc = self.locations.get(address)
        return str(loc) if loc else "(config)"


def _sandbox_bucket_dirs(target: Path) -> frozenset[tuple[int, int]]:
    """The directories the sandbox serves as buckets (`backend.buckets` in a YAML file directly in
    `target`): data, never configuration, so the walk does not enter them. A YAML object in a bucket is
    an object, not part of the config; and a bucket of a million files is not listed for nothing. A file
    that does not parse is skipped here and reported by the real load."""
    found: set[tuple[int, int]] = set()
    with os.scandir(target) as entries:
        tops = [entry.path for entry in entries if entry.name.endswith(YAML_SUFFIXES)]
    for top in tops:
        try:
            if not stat.S_ISREG(os.stat(top).st_mode):
                continue  # a fifo would block the open; the real load reports what it is
            with open(top, encoding="utf-8") as handle:
                document = yaml.safe_load(handle)
        except (OSError, UnicodeDecodeError, yaml.YAMLError):
            continue  # not a readable YAML file (a loop, a directory...): the real load says so
        backend = document.get("backend") if isinstance(document, dict) else None
        buckets = backend.get("buckets") if isinstance(backend, dict) else None
        for directory in buckets.values() if isinstance(buckets, dict) else ():
            if isinstance(directory, str):
                try:
                    info = (target / directory).stat()
                except OSError:
                    continue
                found.add((info.st_dev, info.st_ino))
    return frozenset(found)


def config_files(target: Path) -> list[Path]:
    """The files of a config: `target` itself, or every .yaml/.yml below a directory (sorted).

    A file that is named or found is read, or is an error: a config file silently skipped would be a plan
    that deletes what it declared. So a dangling symlink, a symlink loop, an unreadable file, or an entry
    with a YAML name that is not a regular file (a fifo, a socket, a directory) is a problem, all reported
    at once. Symlinked directories are followed, but one that leads back to a directory above it (a loop)
    is reported, not followed.
    """
    import errno
    import stat

    def file_problem(path: Path) -> str | None:
        try:
            mode = path.stat().st_mode
        except OSError as exc:
            if path.is_symlink():
                if exc.errno == errno.ELOOP:
                    return "symlink loop"
                if isinstance(exc, FileNotFoundError):
                    return f"dangling symlink (to {os.readlink(path)})"
            return f"cannot read file: {exc.strerror or exc}"
        if stat.S_ISDIR(mode):
            return "is a directory, not a YAML file"
        if not stat.S_ISREG(mode):
            kind = "a fifo" if stat.S_ISFIFO(mode) else "a socket" if stat.S_ISSOCK(mode) else "a device"
            return f"not a regular file ({kind})"
        if not os.access(path, os.R_OK):
            return "cannot read file: permission denied"
        return None

    def walk(directory: Path, above: frozenset[tuple[int, int]]) -> None:
        try:
            info = directory.stat()
            entries = list(os.scandir(directory))
        except OSError as exc:
            problems.append(f"{directory}: cannot read directory: {exc.strerror or exc}")
            return
        here = above | {(info.st_dev, info.st_ino)}
        # Files are sorted at the end; directories in name order, so problems come in a stable order.
        for entry in sorted(filter(_may_hold_config, entries), key=_entry_name):
            name = entry.name
            if name.endswith(YAML_SUFFIXES):
                path = Path(entry.path)
                problem = file_problem(path)
                if problem:
                    problems.append(f"{path}: {problem}")
                else:
                    files.append(path)
                continue
            try:
                # The directory entry's own type, not a stat per file: a data directory of a million
                # files below the config costs one pass over its names.
                if not entry.is_dir() or name.startswith("."):
                    continue  # hidden directories (.git, .reconciler, .venv) hold no configuration
                sub = entry.stat()  # follows symlinks: a directory loop is found by its identity
            except OSError:
                continue  # a dangling symlink or a loop is not part of the config
            if (sub.st_dev, sub.st_ino) in buckets:
                continue  # a sandbox bucket: data, not configuration
            path = Path(entry.path)
            if (sub.st_dev, sub.st_ino) in here:
                problems.append(f"{path}: directory loop (leads back to a directory above it); not followed")
                continue
            walk(path, here)

    if target.is_dir():
        problems: list[str] = []
        files: list[Path] = []
        buckets = _sandbox_bucket_dirs(target)
        walk(target, frozenset())
        if problems:
            raise ConfigError(sorted(problems))
        if not files:
            raise ConfigError([f"{target}: no .yaml or .yml files in this directory"])
        return sorted(files)
    if not os.path.lexists(target):
        hint = (
            " (pass a config file or directory, or create reconciler.yaml)"
            if target.name == DEFAULT_CONFIG
            else ""
        )
        raise ConfigError([f"{target}: no such file or directory{hint}"])
    problem = file_problem(target)
    if problem:
        raise ConfigError([f"{target}: {problem}"])
    return [target]


def config_digest(target: Path, files: list[str]) -> str:
    """SHA-256 of the configuration's YAML files (their paths below the target, and their bytes)."""
    base = target if target.is_dir() else target.parent
    digest = hashlib.sha256()
    for path in sorted(files):
        digest.update(os.path.relpath(Path(path).resolve(), base.resolve()).encode() + b"\0")
        with contextlib.suppress(OSError):
            digest.update(Path(path).read_bytes())
        digest.update(b"\0")
    return "sha256:" + digest.hexdigest()[:32]


def load_config(target: Path | str, env: Mapping[str, str] | None = None) -> Config:
    target = Path(target)
    env = os.environ if env is None else env
    problems: list[str] = []
    parsed: list[tuple[LoadedYaml, ConfigFile]] = []
    uncertain = False  # some folder may be declared in a file that did not load
    written: dict[str, str] = {}
    variables: dict[str, str] = {}
    for path in config_files(target):
        loaded = load_yaml(path, env)
        written.update(loaded.written)
        variables.update(loaded.variables)
        remember(loaded.written, loaded.variables)
        problems.extend(loaded.problems)
        if loaded.data is None:
            if () in loaded.locations and not loaded.problems:  # a document that is null (`~`)
                problems.append(f"{loaded.locate(())}: (top level): expected a mapping of sections, got null")
            # A file that did not load is uncertain; an empty one declares nothing, for sure.
            uncertain = uncertain or bool(loaded.problems) or () in loaded.locations
            continue
        if not isinstance(loaded.data, dict):
            problems.append(f"{loaded.locate(())}: (top level): expected a mapping of sections")
            uncertain = True
            continue
        problems.extend(raw_key_problems(loaded))
        data = loaded.data
        too_deep = folder_depth_problems(loaded)
        if too_deep:
            problems.extend(too_deep)
            data = {key: value for key, value in data.items() if key != "folders"}
            uncertain = True
        try:
            file = ConfigFile.model_validate(data)
            if not too_deep:
                parsed.append((loaded, file))
        except ValidationError as exc:
            problems.extend(format_validation(loaded, exc))
            uncertain = True
    base_dir = target if target.is_dir() else target.parent
    config = Config(
        backend=SandboxBackend(),
        base_dir=base_dir.resolve(),
        files=[str(p[0].file) for p in parsed],
        digest=config_digest(target, [str(p[0].file) for p in parsed]),
        source=str(target.resolve()),
    )
    _merge(parsed, config, problems)
    cross: list[str] = []
    _cross_check(config, cross)
    if uncertain:
        # A reference may point into a file that did not load: only what cannot depend on it is said.
        cross = [p for p in cross if "is not declared" not in p]
    problems += cross
    if problems:
        # A value that came from the environment is shown as the file writes it (`${TOKEN}`), never as is.
        scrub = redactor(written, variables)
        raise ConfigError(sorted(dict.fromkeys(scrub(p) for p in problems), key=place))
    return config


def _merge(parsed: list[tuple[LoadedYaml, ConfigFile]], config: Config, problems: list[str]) -> None:
    seen: dict[str, Location] = {}

    def claim(address: str, loc: Location, what: str) -> bool:
        if address in seen:
            problems.append(f"{loc}: {what} is declared twice: here and at {seen[address]}")
            return False
        seen[address] = loc
        config.locations[address] = loc
        return True

    prune_at: Location | None = None
    for loaded, file in parsed:
        # Single-valued sections may appear in one file only.
        if file.prune is not None and claim("(prune)", loaded.locate(("prune",)), "prune"):
            config.prune = file.prune
        if file.safety is not None and claim("(safety)", loaded.locate(("safety",)), "safety"):
            config.safety = file.safety
        if file.forget is not None:
            config.forget += file.forget
        if file.acknowledge is not None:
            config.acknowledge += file.acknowledge
        if file.backend is not None and claim("(backend)", loaded.locate(("backend",)), "backend"):
            config.backend = file.backend
            config.base_dir = Path(loaded.file).resolve().parent
            raw = loaded.data.get("backend")
            for key in raw if isinstance(raw, dict) else ():
                config.locations[f"(backend).{key}"] = loaded.locate(("backend", key))
            buckets = raw.get("buckets") if isinstance(raw, dict) else None
            for name in buckets if isinstance(buckets, dict) else ():
                config.locations[f"(backend).buckets.{name}"] = loaded.locate(("backend", "buckets", name))
        if file.integrations is not None:
            config.integrations = config.integrations or []
            for i, integ in enumerate(file.integrations):
                if claim(
                    f"integration.{integ.title}",
                    loaded.locate(("integrations", i)),
                    f"integration {integ.title!r}",
                ):
                    config.integrations.append(integ)
        if file.metadata_schema is not None:
            _merge_schema(loaded, file.metadata_schema, config, claim, problems)
            if "prune" in (loaded.data.get("metadata_schema") or {}):
                here = loaded.locate(("metadata_schema", "prune"))
                if prune_at is not None and file.metadata_schema.prune != config.schema_prune:
                    problems.append(f"{here}: metadata_schema.prune disagrees with {prune_at}")
                prune_at, config.schema_prune = here, file.metadata_schema.prune
        if file.folders is not None:
            config.folders = config.folders or []
            for i, folder in enumerate(file.folders):
                if _claim_folder_tree(loaded, folder, ("folders", i), "", claim, config.locations):
                    config.folders.append(folder)
        if file.datasets is not None:
            config.datasets = config.datasets or []
            for i, ds in enumerate(file.datasets):
                if claim(f"dataset.{ds.title}", loaded.locate(("datasets", i)), f"dataset {ds.title!r}"):
                    config.datasets.append(ds)
                for j, ref in enumerate(ds.folder_refs()):
                    config.locations[f"dataset.{ds.title}.folders[{ref.path}]"] = loaded.locate(
                        ("datasets", i, "folders", j)
                    )
                locate_rules(loaded, ("datasets", i), f"dataset.{ds.title}", ds.select, config.locations)
        if file.splits is not None:
            config.splits = config.splits or []
            for i, split in enumerate(file.splits):
                if claim(f"split.{split.name}", loaded.locate(("splits", i)), f"split {split.name!r}"):
                    config.splits.append(split)
                locate_rules(loaded, ("splits", i), f"split.{split.name}", split.select, config.locations)
                for title in split.datasets:
                    config.locations[f"split.{split.name}.datasets.{title}"] = loaded.locate(
                        ("splits", i, "datasets", title)
                    )


def _merge_schema(
    loaded: LoadedYaml, spec: MetadataSchemaSpec, config: Config, claim: Any, problems: list[str]
) -> None:
    config.schema_keys = config.schema_keys if config.schema_keys is not None else {}
    for key, value in spec.normalised().items():
        loc = loaded.locate(("metadata_schema", "keys", key))
        if metadata_key_problem(key):
            continue  # reported by raw_key_problems
        if claim(f"schema.{key}", loc, f"metadata key {key!r}"):
            config.schema_keys[key] = value
            if isinstance(value, EmbeddingKeySpec) and value.size > EMBEDDING_ACTIVE_MAX:
                config.warnings.append(
                    f"{loc}: metadata_schema.keys.{key}: embedding size {value.size} is above "
                    f"{EMBEDDING_ACTIVE_MAX}, which Encord Active does not accept (Index accepts up to 4096)"
                )


def _claim_folder_tree(
    loaded: LoadedYaml,
    folder: FolderSpec,
    path: tuple[str | int, ...],
    prefix: str,
    claim: Any,
    locations: dict[str, Location],
) -> bool:
    folder_path = f"{prefix}{folder.name}"
    if not claim(f"folder.{folder_path}", loaded.locate(path), f"folder {folder_path!r}"):
        return False
    for i in range(len(folder.data or [])):
        at: Path_ = (*path, "data", i)
        raw = raw_at(loaded.data, at)
        locations[f"(data){folder_path}[{i}]"] = loaded.locate(at)
        for key in ("json", "csv", "metadata"):  # a file that cannot be read: where its path is written
            if isinstance(raw, dict) and key in raw:
                locations[f"(data){folder_path}[{i}].{key}"] = loaded.locate((*at, key))
    for i, child in enumerate(folder.children):
        _claim_folder_tree(loaded, child, (*path, "children", i), f"{folder_path}/", claim, locations)
    return True


def _cross_check(config: Config, problems: list[str]) -> None:
    config.selection = check_selection(config, problems)
    owners: dict[str, str] = {}
    for integ in config.integrations or []:
        if integ.bucket is None:
            continue
        if integ.bucket in owners:
            problems.append(
                f"{config.where(f'integration.{integ.title}')}: integrations.{integ.title}.bucket: bucket "
                f"{integ.bucket!r} is also named by integration {owners[integ.bucket]!r}; one integration "
                "manages a bucket's CORS and IAM"
            )
        owners.setdefault(integ.bucket, integ.title)
    declared = {addr.removeprefix("folder.") for addr in config.locations if addr.startswith("folder.")}
    for ds in config.datasets or []:
        for ref in ds.folder_refs():
            path = ref.path.strip("/")
            if config.folders is None or path not in declared:
                loc = config.locations.get(f"dataset.{ds.title}.folders[{ref.path}]")
                hint = "" if config.folders is not None else " (no `folders` section is declared)"
                problems.append(
                    f"{loc}: datasets.{ds.title}.folders: folder {ref.path!r} is not declared{hint}"
                )


def walk_folders(folders: list[FolderSpec], prefix: str = "") -> list[tuple[str, FolderSpec]]:
    """Every declared folder with its path, parents before children."""
    out: list[tuple[str, FolderSpec]] = []
    for folder in folders:
        path = f"{prefix}{folder.name}"
        out.append((path, folder))
        out.extend(walk_folders(folder.children, f"{path}/"))
    return out
