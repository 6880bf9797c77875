"""A bucket listing to registration entries: pure, no I/O (the caller lists the bucket and loads the sidecar).

Object names are matched on their path relative to the source's prefix (`gs://b/raw` and `gs://b/raw/`
both mean the directory `raw/`). In order:

1. directory placeholders (names ending in `/`) and names outside the prefix directory are dropped;
2. `include` globs (default `**`) then `exclude` globs (see `globs.py`) select objects;
3. grouping rules, first match wins: every directory (relative, never the prefix itself) matching a rule's
   `directories` becomes one entry of the rule's type, its frames being the directory's own files that
   match `files` (matched against the file name; default: extensions typed `image` for image groups and
   sequences, `.dcm` or no extension for DICOM series), in natural order. Files of such a directory that
   are not frames are left to step 4;
4. every other object is one entry typed by its extension (the source's `types` over
   `DEFAULT_EXTENSION_TYPES`); an object without a type, or typed `skip`, is counted in `skipped`.

Titles come from templates checked before the listing is read. Group-typed single objects (a lone `.dcm`)
need a title, so without a `title` template they take their object name. Client metadata comes from
the sidecar by URL; a group's key is its directory URL with a trailing slash.
"""

from __future__ import annotations

import re
import string
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from operator import attrgetter
from typing import Any

from reconciler.config.sources import DataSourceSpec, GroupRule
from reconciler.registration.entry import GROUP_TYPES, MEDIA_KEYS, Entry
from reconciler.registration.globs import GlobSet, check_glob
from reconciler.registration.mediatypes import DEFAULT_EXTENSION_TYPES

SINGLE_PLACEHOLDERS = ("path", "relative", "name", "stem")
GROUP_PLACEHOLDERS = ("dir", "name", "path")
DICOM_FRAME_EXTENSIONS = frozenset({".dcm", ""})
MAX_EXAMPLES = 5

_DIGITS = re.compile(r"[0-9]+")


@dataclass
class ListingResult:
    """What a bucket listing declares.

    `entries` are sorted by URL (a group by its directory URL). `problems` name the source or the sidecar.
    `skipped` counts objects left out for their extension ('' for none): no data type, or typed `skip`.
    `listed` counts the objects seen below the prefix, before include/exclude. `warnings` (sidecar keys
    that match no object) do not stop a plan.
    """

    entries: list[Entry]
    problems: list[str]
    skipped: dict[str, int] = field(default_factory=dict)
    listed: int = 0
    warnings: list[str] = field(default_factory=list)


def split_bucket_url(url: str) -> tuple[str, str]:
    """`gs://b/raw` -> ("b", "raw/"); `gs://b` -> ("b", "")."""
    if not url.startswith("gs://"):
        raise ValueError(f"not a gs:// URL: {url}")
    bucket, _, prefix = url[5:].partition("/")
    prefix = prefix.rstrip("/")
    return bucket, prefix + "/" if prefix else ""


def natural_key(name: str) -> str:
    """Sort key: digit runs compare as numbers, text case-insensitively, ties by the raw name.

    One string, not a list of parts, so the sort compares in C (3x faster on 900,000 frames). Each digit
    run becomes NUL, its length (as one character) and its digits without leading zeros: NUL ends the
    text before it (so `a5` < `ab`), the length orders numbers of different size (so `2` < `10`).
    """
    return _DIGITS.sub(_number, name.casefold()) + "\x00\x00" + name


def _number(match: re.Match[str]) -> str:
    digits = match.group().lstrip("0")
    return "\x00" + chr(0x21 + len(digits)) + digits


@dataclass(slots=True)
class _Rule:
    spec: GroupRule
    directories: GlobSet
    files: GlobSet | None  # None: by extension
    extensions: frozenset[str]

    def takes(self, file_name: str, ext: str) -> bool:
        if self.files is not None:
            return self.files.fullmatch(file_name) is not None
        return ext in self.extensions


def entries_from_listing(
    source: DataSourceSpec,
    names: Iterable[str],
    sidecar: Mapping[str, dict[str, Any]] | None,
    display: str,
    *,
    sidecar_display: str | None = None,
) -> ListingResult:
    """Turn the object names listed under `source.bucket` into entries (consumes `names` once).

    A bad glob or title template is a problem and the listing is not read: half a source would plan
    deletions. `sidecar_display` names the sidecar in problems (default: the source's `metadata`).
    """
    if source.bucket is None:
        raise ValueError(f"{display}: not a bucket source")
    bucket, prefix = split_bucket_url(source.bucket)
    problems = source_problems(source, display)
    if problems:
        return ListingResult([], problems)
    types = {**DEFAULT_EXTENSION_TYPES, **{_normal_extension(k): v for k, v in source.types.items()}}
    rules = _compile_rules(source.groups, types)
    included = GlobSet(source.include)
    include = None if included.matches_everything else included.fullmatch
    exclude = GlobSet(source.exclude).fullmatch if source.exclude else None
    title = source.title
    base_url = f"gs://{bucket}/"
    meta = sidecar or {}
    media: Mapping[str, tuple[str, dict[str, Any], str]] = getattr(sidecar, "media", {})

    entries: list[Entry] = []
    skipped: dict[str, int] = {}
    rule_of_dir: dict[str, _Rule | None] = {}  # relative directory -> its rule
    frames: dict[str, list[str]] = {}  # relative directory -> its frames' file names
    listed = 0
    cut = len(prefix)
    for name in names:
        if not name.startswith(prefix) or name.endswith("/"):
            continue
        listed += 1
        relative = name[cut:]
        if include is not None and include(relative) is None:
            continue
        if exclude is not None and exclude(relative) is not None:
            continue
        directory, _, file_name = relative.rpartition("/")
        # mediatypes.extension, inlined: this loop runs once per object of the bucket.
        dot = file_name.rfind(".")
        ext = file_name[dot:].lower() if dot > 0 else ""
        if ext == ".gz" and file_name[-7:].lower() == ".nii.gz":
            ext = ".nii.gz"
        if rules:
            if directory not in rule_of_dir:
                rule_of_dir[directory] = _rule_for(rules, directory)
            rule = rule_of_dir[directory]
            if rule is not None and rule.takes(file_name, ext):
                taken = frames.get(directory)
                if taken is None:
                    taken = frames[directory] = []
                taken.append(file_name)
                continue
        data_type = types.get(ext)
        if data_type is None or data_type == "skip":
            skipped[ext] = skipped.get(ext, 0) + 1
            continue
        url = base_url + name
        entry_title = None
        if title is not None:
            entry_title = title.format(
                path=name, relative=relative, name=file_name, stem=_stem(file_name, ext)
            )
        elif data_type in GROUP_TYPES:
            entry_title = name
        entries.append(Entry(data_type, (url,), url, entry_title, meta.get(url) if meta else None))

    if media:
        _attach_media(entries, media, problems)
    groups = _group_entries(frames, rule_of_dir, base_url, prefix, meta, display, problems)
    entries.extend(groups)
    entries.sort(key=attrgetter("where"))
    warnings: list[str] = []
    if meta and sum(entry.client_metadata is not None for entry in entries) < len(meta):
        # A warning: objects come and go in the bucket independently of the sidecar in git.
        group_urls = {group.where for group in groups}
        warnings.append(_unmatched(meta, entries, group_urls, sidecar_display or source.metadata or display))
    return ListingResult(entries, problems, dict(sorted(skipped.items())), listed, warnings)


def _attach_media(
    entries: list[Entry], media: Mapping[str, tuple[str, dict[str, Any], str]], problems: list[str]
) -> None:
    """The sidecar's media metadata onto the listed files; one for another type is a problem at its line."""
    for entry in entries:
        found = media.get(entry.urls[0])
        if found is None:
            continue
        key, value, where = found
        if MEDIA_KEYS.get(entry.type) == key:
            entry.media = value
        else:
            takes = (
                f"takes {MEDIA_KEYS[entry.type]}" if entry.type in MEDIA_KEYS else "takes no media metadata"
            )
            problems.append(
                f"{where}: {key} for {entry.urls[0]}, which is listed as {entry.type} (it {takes})"
            )


def _group_entries(
    frames: dict[str, list[str]],
    rule_of_dir: Mapping[str, _Rule | None],
    base_url: str,
    prefix: str,
    meta: Mapping[str, dict[str, Any]],
    display: str,
    problems: list[str],
) -> list[Entry]:
    """One entry per directory that has frames; `frames` is emptied as it goes, to free each name list."""
    groups: list[Entry] = []
    while frames:
        directory, file_names = frames.popitem()
        rule = rule_of_dir[directory]
        assert rule is not None  # only a directory with a rule has frames
        file_names.sort(key=natural_key)
        path = prefix + directory
        dir_url = f"{base_url}{path}/"
        template = rule.spec.title
        title = template.format(dir=directory, name=directory.rpartition("/")[2], path=path)
        if not title.strip():
            problems.append(f"{display}: {dir_url}: the title template {template!r} gives an empty title")
            continue
        urls = tuple([dir_url + file_name for file_name in file_names])
        groups.append(Entry(rule.spec.type, urls, dir_url, title, meta.get(dir_url)))
    return groups


def source_problems(source: DataSourceSpec, display: str) -> list[str]:
    """Every bad glob and template of the source, before any object is looked at."""
    problems: list[str] = []
    globs = [("include", p) for p in source.include] + [("exclude", p) for p in source.exclude]
    for i, rule in enumerate(source.groups):
        globs.append((f"groups[{i}].directories", rule.directories))
        globs.extend((f"groups[{i}].files", p) for p in rule.files or ())
    for where, pattern in globs:
        reason = check_glob(pattern)
        if reason:
            problems.append(f"{display}: {where}: bad glob {pattern!r}: {reason}")
    if source.title is not None:
        problems.extend(_template_problems(source.title, SINGLE_PLACEHOLDERS, f"{display}: title"))
    for i, rule in enumerate(source.groups):
        where = f"{display}: groups[{i}].title"
        problems.extend(_template_problems(rule.title, GROUP_PLACEHOLDERS, where))
        if not rule.title.strip():
            problems.append(f"{where}: a group needs a title (Encord requires one)")
    return problems


def _template_problems(template: str, allowed: tuple[str, ...], where: str) -> list[str]:
    """Only bare placeholders from `allowed`; then `str.format` cannot fail on them."""
    names = ", ".join(f"{{{name}}}" for name in allowed)
    try:
        parsed = list(string.Formatter().parse(template))
    except ValueError as exc:
        return [f"{where}: bad template {template!r}: {exc} (write {{{{ and }}}} for literal braces)"]
    problems = []
    for _, field_name, spec, conversion in parsed:
        if field_name is None:
            continue
        if field_name not in allowed:
            problems.append(f"{where}: unknown placeholder {{{field_name}}} in {template!r}; use {names}")
        elif spec or conversion:
            problems.append(f"{where}: placeholder {{{field_name}}} takes no format or conversion")
    return problems


def _normal_extension(ext: str) -> str:
    ext = ext.lower()
    return ext if not ext or ext.startswith(".") else "." + ext


def _stem(file_name: str, ext: str) -> str:
    if not ext:
        return file_name
    return file_name[: -len(".nii.gz")] if ext == ".nii.gz" else file_name[: file_name.rfind(".")]


def _compile_rules(specs: list[GroupRule], types: Mapping[str, str]) -> list[_Rule]:
    images = frozenset(ext for ext, data_type in types.items() if data_type == "image")
    return [
        _Rule(
            spec=spec,
            directories=GlobSet([spec.directories]),
            files=GlobSet(spec.files) if spec.files else None,
            extensions=DICOM_FRAME_EXTENSIONS if spec.type == "dicom_series" else images,
        )
        for spec in specs
    ]


def _rule_for(rules: list[_Rule], directory: str) -> _Rule | None:
    if not directory:
        return None  # the prefix itself is never a group
    return next((rule for rule in rules if rule.directories.match(directory)), None)


def _unmatched(
    sidecar: Mapping[str, Any], entries: list[Entry], group_urls: set[str], sidecar_display: str
) -> str:
    registered = {entry.where for entry in entries}
    missing = sorted(url for url in sidecar if url not in registered)
    shown = ", ".join(missing[:MAX_EXAMPLES])
    more = f" and {len(missing) - MAX_EXAMPLES} more" if len(missing) > MAX_EXAMPLES else ""
    hints = []
    if any(url + "/" in group_urls for url in missing):
        hints.append("a group is keyed by its directory URL with a trailing slash")
    if any(url.rpartition("/")[0] + "/" in group_urls for url in missing):
        hints.append("a frame of a group takes no metadata of its own")
    hint = "; ".join(hints) or "a typo, or an object the source does not register?"
    count = f"{len(missing)} URLs match" if len(missing) > 1 else "1 URL matches"
    return f"{sidecar_display}: {count} no registered entry ({hint}): {shown}{more}"
