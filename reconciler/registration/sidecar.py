"""A bucket source's sidecar metadata file: object URL -> clientMetadata.

Two shapes, by extension: a JSON object `{"gs://b/a.jpg": {...}, "gs://b/seq/": {...}}`, or JSONL
(`.jsonl`, `.ndjson`) with one `{"objectUrl": "...", "clientMetadata": {...}}` per line (blank lines are
fine). A JSONL line may also give the object's media metadata (`imageMetadata`, `videoMetadata`, ...: what
a strict client-only integration needs), checked here in Encord's terms at its line; then
`clientMetadata` may be left out. Every problem names the file and line; malformed input is a problem,
never a traceback.
JSONL is read line by line, so a large sidecar is never held as text.
"""

from __future__ import annotations

import json
import math
from collections import Counter
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from reconciler.registration.entry import MEDIA_KEYS
from reconciler.registration.media_check import media_problems
from reconciler.registration.sourcefile import kind_of, open_regular

JSONL_SUFFIXES = (".jsonl", ".ndjson")
MEDIA_KEY_TYPES = {key: data_type for data_type, key in MEDIA_KEYS.items()}  # imageMetadata -> image
LINE_KEYS = ("objectUrl", "clientMetadata", *MEDIA_KEY_TYPES)
_BOM = b"\xef\xbb\xbf"


class Sidecar(dict[str, dict[str, Any]]):
    """Object URL -> clientMetadata; `media`: object URL -> (media key, its object, `file:line`)."""

    def __init__(self) -> None:
        super().__init__()
        self.media: dict[str, tuple[str, dict[str, Any], str]] = {}


def load_sidecar(path: Path, display: str) -> tuple[Sidecar, list[str]]:
    """The URL -> clientMetadata mapping and the problems found; good entries are kept beside bad ones."""
    try:
        with open_regular(path) as handle:
            if path.suffix.lower() in JSONL_SUFFIXES:
                return _load_jsonl(handle, display)
            return _load_json(handle.read(), display)
    except OSError as exc:
        return Sidecar(), [f"{display}: cannot read file: {exc.strerror or exc}"]


def _load_json(data: bytes, display: str) -> tuple[Sidecar, list[str]]:
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        column = exc.start - data.rfind(b"\n", 0, exc.start)
        return Sidecar(), [f"{display}:{line}:{column}: not UTF-8 text"]
    if not text.strip():
        return Sidecar(), [f"{display}:1:1: empty file; expected a JSON object of URL -> clientMetadata"]
    repeated: list[tuple[dict[str, Any], list[str]]] = []
    try:
        top = json.loads(
            text, object_pairs_hook=_pairs(repeated), parse_constant=_no_constant, parse_float=_finite
        )
    except json.JSONDecodeError as exc:
        return Sidecar(), [f"{display}:{exc.lineno}:{exc.colno}: invalid JSON: {exc.msg}"]
    except (ValueError, RecursionError) as exc:
        return Sidecar(), [f"{display}: invalid JSON: {_reason(exc)}"]
    if not isinstance(top, dict):
        return Sidecar(), [
            f"{display}:1:1: expected a JSON object of URL -> clientMetadata, got {kind_of(top)}"
        ]
    twice = next((keys for built, keys in repeated if built is top), [])
    problems = [f"{display}: {url}: given twice" for url in twice]
    sidecar = Sidecar()
    for url, value in top.items():
        if isinstance(value, dict):
            sidecar[url] = value
        else:
            problems.append(f"{display}: {url}: expected an object of client metadata, got {kind_of(value)}")
    return sidecar, problems


def _load_jsonl(lines: Iterable[bytes], display: str) -> tuple[Sidecar, list[str]]:
    sidecar = Sidecar()
    first_line: dict[str, int] = {}
    problems: list[str] = []
    # One decoder for every line: json.loads with options builds a new one per call (2x slower).
    decode = json.JSONDecoder(parse_constant=_no_constant, parse_float=_finite).decode
    for number, raw in enumerate(lines, start=1):
        where = f"{display}:{number}"
        if number == 1 and raw.startswith(_BOM):
            raw = raw[len(_BOM) :]
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            problems.append(f"{where}:{exc.start + 1}: not UTF-8 text")
            continue
        if not text.strip():
            continue
        try:
            value = decode(text.rstrip())
        except json.JSONDecodeError as exc:
            problems.append(f"{where}:{exc.colno}: invalid JSON: {exc.msg}")
            continue
        except (ValueError, RecursionError) as exc:
            problems.append(f"{where}: invalid JSON: {_reason(exc)}")
            continue
        problem = _line_problem(value)
        if problem:
            problems.append(f"{where}: {problem}")
            continue
        url = value["objectUrl"]
        if url in first_line:
            problems.append(f"{where}: {url} given twice: lines {first_line[url]} and {number}")
            continue
        first_line[url] = number
        if "clientMetadata" in value:
            sidecar[url] = value["clientMetadata"]
        for key in value.keys() & MEDIA_KEY_TYPES.keys():
            found = media_problems(MEDIA_KEY_TYPES[key], value[key])
            problems.extend(f"{where}: {problem}" for problem in found)
            if not found:
                sidecar.media[url] = (key, value[key], where)
    return sidecar, problems


def _line_problem(value: Any) -> str | None:
    shape = '{"objectUrl": "...", "clientMetadata": {...}}'
    if not isinstance(value, dict):
        return f"expected an object {shape}, got {kind_of(value)}"
    unknown = [key for key in value if key not in LINE_KEYS]
    if unknown:
        return f"unknown key{'s' if len(unknown) > 1 else ''} {', '.join(unknown)}; a line is {shape}"
    url = value.get("objectUrl")
    if not isinstance(url, str) or not url:
        return f"objectUrl: expected the object's URL, got {kind_of(url)}"
    media = [key for key in value if key in MEDIA_KEY_TYPES]
    if len(media) > 1:
        return f"{' and '.join(media)}: an object has one type, so one media-metadata key"
    for key in media:
        if not isinstance(value[key], dict):
            return f"{key}: expected an object, got {kind_of(value[key])}"
    if ((media and "clientMetadata" in value) or not media) and not isinstance(
        value.get("clientMetadata"), dict
    ):
        return f"clientMetadata: expected an object, got {kind_of(value.get('clientMetadata'))}"
    return None


def _pairs(repeated: list[tuple[dict[str, Any], list[str]]]) -> Any:
    """An object hook that notes each object that repeats a key, with those keys."""

    def build(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        built = dict(pairs)
        if len(built) < len(pairs):
            counts = Counter(key for key, _ in pairs)
            repeated.append((built, sorted(key for key, n in counts.items() if n > 1)))
        return built

    return build


def _no_constant(name: str) -> Any:
    # NaN and Infinity are Python extensions to JSON; Encord would reject them later, far from here.
    raise ValueError(f"{name} is not JSON")


def _finite(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"{text} is too large for a JSON number")
    return value


def _reason(exc: Exception) -> str:
    return "nested too deeply" if isinstance(exc, RecursionError) else str(exc)
