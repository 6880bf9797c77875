"""Encord JSON registration files (../shared/encord-api.md §7.7) -> entries.

The documented format, and nothing else: a JSON object whose keys are `videos`, `images`, `audio`, `text`,
`pdf`, `nifti` (arrays of `{objectUrl, title?, clientMetadata?, <media>Metadata?}`), `image_groups` (an
image group, or an image sequence with `"createVideo": true`) and `dicom_series` (arrays of
`{title?, clientMetadata?, objectUrl_0, objectUrl_1, ...}`). A video may carry its key-frame `config`
(`sampling_rate` 0 or more, `keyframe_mode` `frame` or `seconds`), which the SDK's structured form cannot
carry: such videos are registered as a registration file, as the SDK's spec-file path sends one.

The flags `skip_duplicate_urls` and `upsert_metadata` (either spelling, `skipDuplicateUrls`,
`upsertMetadata`) are accepted and change nothing: reconciler always skips URLs the folder holds, and makes
the declared clientMetadata true whatever the flag says (it compares and updates it). `time_series` and
`scenes` are data types of the SDK's models that reconciler does not register yet: one problem each.

Choices where the docs leave room:
- A media-metadata key may be spelt camelCase or snake_case (`imageMetadata`, `image_metadata`); its
  object is kept as given. Other keys are spelt as documented; anything else is an unknown key.
- Frames are ordered by the number in `objectUrl_N`. Gaps (`objectUrl_0`, `objectUrl_2`) are accepted, as
  the number only orders; two keys giving one number (`objectUrl_1`, `objectUrl_01`) are a problem.
- A JSON object that repeats a key is a problem (parsers would silently keep the last value).
- `title` or `clientMetadata` given as null count as not given.

Problems are `file:/json/pointer: message`; a file that is not a JSON object at all is one problem
`file:line:column: message`. An entry with a problem in an optional field is still returned (without that
field), so later checks such as duplicate URLs still see it.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from pathlib import Path
from typing import Any

from reconciler.registration.entry import MAX_ITEMS_PER_FILE, MAX_URLS_PER_FILE, MEDIA_KEYS, Entry
from reconciler.registration.sourcefile import UnreadableFile, did_you_mean, kind_of, paused_gc, read_utf8

# Top-level array key -> data type of its entries (image_groups: image_sequence when createVideo).
LIST_KEYS = {
    "images": "image",
    "videos": "video",
    "audio": "audio",
    "text": "text",
    "pdf": "pdf",
    "nifti": "nifti",
    "image_groups": "image_group",
    "dicom_series": "dicom_series",
}
FLAG_KEYS = ("skip_duplicate_urls", "upsert_metadata", "skipDuplicateUrls", "upsertMetadata")
NOT_YET = {"time_series": "time series", "scenes": "scenes (point clouds)"}
FRAME_PREFIX = "objectUrl_"
KEYFRAME_MODES = ("frame", "seconds")
_TOP_KEYS = (*LIST_KEYS, *FLAG_KEYS, *NOT_YET)
_KIND = {"image_group": "image group", "image_sequence": "image sequence", "dicom_series": "DICOM series"}


def _snake(camel: str) -> str:
    return "".join("_" + c.lower() if c.isupper() else c for c in camel)


# Single-file data type -> {key as written: media key (camelCase)} for its media-metadata object.
_MEDIA_SPELLINGS = {data_type: {key: key, _snake(key): key} for data_type, key in MEDIA_KEYS.items()}
_SINGLE_KEYS = {
    data_type: ("objectUrl", "title", "clientMetadata", *_MEDIA_SPELLINGS.get(data_type, ()))
    for data_type in ("image", "video", "audio", "text", "pdf", "nifti")
}
_SINGLE_KEYS["video"] = (*_SINGLE_KEYS["video"], "config")
_GROUP_KEYS = {
    "image_groups": ("title", "clientMetadata", "createVideo"),
    "dicom_series": ("title", "clientMetadata"),
}


def _media_hint(key: str, data_type: str) -> str:
    """For another type's media key (`videoMetadata` on an image): the key this type takes, if any."""
    folded = key.lower().replace("_", "")
    if not folded.endswith("metadata") or folded == "clientmetadata":
        return ""
    media_key = MEDIA_KEYS.get(data_type)
    return (
        f"; {data_type} entries take {media_key}"
        if media_key
        else f"; {data_type} entries take no media metadata"
    )


def _value(value: Any) -> str:
    """A number as itself, anything else by its kind."""
    return repr(value) if isinstance(value, int | float) and not isinstance(value, bool) else kind_of(value)


def _escape(key: str) -> str:
    """A key as one JSON-pointer reference token (RFC 6901)."""
    return key.replace("~", "~0").replace("/", "~1")


class _Reader:
    """Walks one parsed file, collecting entries and problems."""

    def __init__(self, display: str, repeated: dict[int, list[str]]) -> None:
        self.display = display
        self.repeated = repeated  # id() of a parsed object -> the keys it repeats
        self.entries: list[Entry] = []
        self.problems: list[str] = []
        self.items = 0
        self.extra_urls = 0  # URLs beyond one per entry (frames of groups)

    def problem(self, pointer: str, message: str) -> None:
        self.problems.append(f"{self.display}:{pointer}: {message}")

    def document(self, top: dict[str, Any]) -> None:
        self._repeats(top, "")
        for key, value in top.items():
            pointer = "/" + _escape(key)
            if key in FLAG_KEYS:
                if not isinstance(value, bool):
                    self.problem(pointer, f"must be true or false, got {kind_of(value)}")
            elif key in NOT_YET:
                self.problem(
                    pointer,
                    f"{NOT_YET[key]} are not supported by reconciler yet; register them with the SDK, in a "
                    "folder this configuration does not declare `data` for",
                )
            elif key not in LIST_KEYS:
                self.problem(pointer, f"unknown key {key!r}{did_you_mean(key, _TOP_KEYS)}")
            elif not isinstance(value, list):
                self.problem(pointer, f"must be an array of objects, got {kind_of(value)}")
            else:
                self._list(key, value, pointer + "/")

    def _repeats(self, obj: dict[str, Any], pointer: str) -> None:
        for key in self.repeated.get(id(obj), ()):
            self.problem(f"{pointer}/{_escape(key)}", f"key {key!r} is given more than once")

    def _list(self, key: str, items: list[Any], base: str) -> None:
        data_type = LIST_KEYS[key]
        single = key not in _GROUP_KEYS
        allowed = _SINGLE_KEYS.get(data_type, ())
        repeated, append = self.repeated, self.entries.append
        where = f"{self.display}:{base}"
        beyond = MAX_ITEMS_PER_FILE - self.items  # index of the first item over the limit
        if 0 <= beyond < len(items):
            self.problem(
                base + str(beyond), f"more than {MAX_ITEMS_PER_FILE:,} items in one file (Encord's limit)"
            )
        self.items += len(items)
        for index, raw in enumerate(items):
            items[index] = None  # the entry keeps what it needs; let the parsed object go
            if single and type(raw) is dict and id(raw) not in repeated:  # the common cases, kept fast
                url = raw.get("objectUrl")
                if type(url) is str and url:
                    if len(raw) == 1:
                        append(Entry(data_type, (url,), where + str(index)))
                        continue
                    # objectUrl with a title and/or clientMetadata of the right types, nothing else
                    title, metadata = raw.get("title"), raw.get("clientMetadata")
                    if (
                        len(raw) == 1 + ("title" in raw) + ("clientMetadata" in raw)
                        and (title is None or type(title) is str)
                        and (metadata is None or type(metadata) is dict)
                    ):
                        append(Entry(data_type, (url,), where + str(index), title, metadata))
                        continue
            pointer = base + str(index)
            if not isinstance(raw, dict):
                self.problem(pointer, f"must be an object, got {kind_of(raw)}")
                continue
            entry = (
                self._single(data_type, raw, pointer, allowed) if single else self._group(key, raw, pointer)
            )
            if entry is not None:
                self.extra_urls += len(entry.urls) - 1
                append(entry)

    def url_limit(self) -> None:
        """One problem at the entry whose URLs (frames count) go over the per-file limit."""
        if len(self.entries) + self.extra_urls <= MAX_URLS_PER_FILE:
            return
        total = 0
        for entry in self.entries:
            total += len(entry.urls)
            if total > MAX_URLS_PER_FILE:
                self.problems.append(
                    f"{entry.where}: more than {MAX_URLS_PER_FILE:,} URLs in one file (Encord's limit)"
                )
                return

    def _common(self, raw: dict[str, Any], pointer: str) -> tuple[str | None, dict[str, Any] | None]:
        """The entry's title and clientMetadata, each None when absent or wrong."""
        self._repeats(raw, pointer)
        title, metadata = raw.get("title"), raw.get("clientMetadata")
        if title is not None and not isinstance(title, str):
            self.problem(pointer + "/title", f"must be a string, got {kind_of(title)}")
            title = None
        if metadata is not None and not isinstance(metadata, dict):
            self.problem(pointer + "/clientMetadata", f"must be an object, got {kind_of(metadata)}")
            metadata = None
        return title, metadata

    def _unknown(self, key: str, pointer: str, allowed: tuple[str, ...], hint: str = "") -> None:
        self.problem(f"{pointer}/{_escape(key)}", f"unknown key {key!r}{hint or did_you_mean(key, allowed)}")

    def _single(
        self, data_type: str, raw: dict[str, Any], pointer: str, allowed: tuple[str, ...]
    ) -> Entry | None:
        title, metadata = self._common(raw, pointer)
        media: dict[str, Any] | None = None
        config: dict[str, Any] | None = None
        spellings = _MEDIA_SPELLINGS.get(data_type, {})
        for key, value in raw.items():
            if key == "config" and data_type == "video":
                config = self._keyframe_config(value, pointer + "/config")
            elif key in spellings:
                if media is not None:
                    self.problem(
                        f"{pointer}/{_escape(key)}", f"{spellings[key]} is given twice (two spellings)"
                    )
                elif not isinstance(value, dict):
                    self.problem(f"{pointer}/{_escape(key)}", f"must be an object, got {kind_of(value)}")
                else:
                    media = value
            elif key not in allowed:
                self._unknown(key, pointer, allowed, _media_hint(key, data_type))
        url = raw.get("objectUrl")
        if "objectUrl" not in raw:
            self.problem(pointer, "missing objectUrl")
            return None
        if not isinstance(url, str) or not url:
            self.problem(pointer + "/objectUrl", f"must be a non-empty string, got {kind_of(url)}")
            return None
        return Entry(data_type, (url,), f"{self.display}:{pointer}", title, metadata, media, config)

    def _keyframe_config(self, value: Any, pointer: str) -> dict[str, Any] | None:
        """A video's key-frame `config`, as Encord documents it; None (with a problem) otherwise."""
        if not isinstance(value, dict):
            self.problem(pointer, f"must be an object, got {kind_of(value)}")
            return None
        good = True
        for key, item in value.items():
            if key == "sampling_rate":
                if isinstance(item, bool) or not isinstance(item, int | float) or not item >= 0:
                    self.problem(
                        f"{pointer}/sampling_rate", f"must be a number, 0 or more, got {_value(item)}"
                    )
                    good = False
            elif key == "keyframe_mode":
                if item not in KEYFRAME_MODES:
                    self.problem(f"{pointer}/keyframe_mode", f"must be one of {', '.join(KEYFRAME_MODES)}")
                    good = False
            else:
                self._unknown(key, pointer.rpartition("/")[0] + "/config", ("sampling_rate", "keyframe_mode"))
                good = False
        return value if good else None

    def _group(self, key: str, raw: dict[str, Any], pointer: str) -> Entry | None:
        title, metadata = self._common(raw, pointer)
        allowed = _GROUP_KEYS[key]
        data_type = LIST_KEYS[key]
        frames: dict[int, tuple[str, str]] = {}  # number -> (key, url)
        bad_frame = False
        for name, value in raw.items():
            number = name[len(FRAME_PREFIX) :] if name.startswith(FRAME_PREFIX) else ""
            if number.isdigit() and number.isascii():
                if not isinstance(value, str) or not value:
                    self.problem(
                        f"{pointer}/{_escape(name)}", f"must be a non-empty string, got {kind_of(value)}"
                    )
                    bad_frame = True
                elif int(number) in frames:
                    other = frames[int(number)][0]
                    self.problem(
                        f"{pointer}/{_escape(name)}", f"{other} and {name} both give frame {int(number)}"
                    )
                    bad_frame = True
                else:
                    frames[int(number)] = (name, value)
            elif name == "createVideo" and key == "image_groups":
                if not isinstance(value, bool):
                    self.problem(f"{pointer}/createVideo", f"must be true or false, got {kind_of(value)}")
                elif value:
                    data_type = "image_sequence"
            elif name not in allowed:
                hint = (
                    f"; frames are {FRAME_PREFIX}0, {FRAME_PREFIX}1, ..."
                    if name.startswith("objectUrl")
                    else ""
                )
                self._unknown(name, pointer, allowed, hint)
        if bad_frame:
            return None
        if not frames:
            self.problem(
                pointer, f"{_KIND[data_type]} without frames ({FRAME_PREFIX}0, {FRAME_PREFIX}1, ...)"
            )
            return None
        urls = tuple(frames[number][1] for number in sorted(frames))
        return Entry(data_type, urls, f"{self.display}:{pointer}", title, metadata)


_JSON_SPACE = re.compile(r"[ \t\n\r]*")
_CONSTANT = re.compile(r'"(?:[^"\\]|\\.)*"|(-?Infinity|NaN)')


class _Constant(Exception):
    """Python's json reads NaN and Infinity, which JSON does not have."""

    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.name = name


def _no_constant(name: str) -> Any:
    raise _Constant(name)


def _position(text: str, offset: int) -> str:
    """`line:column` of an offset, both 1-based."""
    line = text.count("\n", 0, offset) + 1
    column = offset - text.rfind("\n", 0, offset)
    return f"{line}:{column}"


def parse_json_file(path: Path, display: str) -> tuple[list[Entry], list[str]]:
    """The entries an Encord JSON registration file declares, and its problems (each naming its place)."""
    try:
        text = read_utf8(path)
    except UnreadableFile as error:
        where = f":{error.line}:{error.column}" if error.line is not None else ""
        return [], [f"{display}{where}: {error.message}"]
    repeated: dict[int, list[str]] = {}

    def pairs_hook(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        obj = dict(pairs)
        if len(obj) != len(pairs):
            counts = Counter(key for key, _ in pairs)
            repeated[id(obj)] = sorted(key for key, count in counts.items() if count > 1)
        return obj

    space = _JSON_SPACE.match(text)
    start = space.end() if space else 0
    if start == len(text):
        return [], [f"{display}:1:1: the file is empty; expected a JSON object"]
    with paused_gc():
        try:
            top = json.loads(text, object_pairs_hook=pairs_hook, parse_constant=_no_constant)
        except json.JSONDecodeError as error:
            return [], [f"{display}:{error.lineno}:{error.colno}: not valid JSON: {error.msg}"]
        except _Constant as constant:
            # The first bare constant (strings are matched whole, so one inside a string is skipped).
            found = next((m for m in _CONSTANT.finditer(text, start) if m.group(1)), None)
            at = _position(text, found.start(1) if found is not None else start)
            return [], [
                f"{display}:{at}: not valid JSON: {constant.name} (JSON has no NaN or Infinity; Encord "
                "refuses them)"
            ]
        except RecursionError:
            return [], [f"{display}:{_position(text, start)}: JSON nested too deeply"]
        if not isinstance(top, dict):
            return [], [
                f"{display}:{_position(text, start)}: expected a JSON object with keys such as "
                f"`images` and `videos`, got {kind_of(top)}"
            ]
        del text
        reader = _Reader(display, repeated)
        reader.document(top)
        reader.url_limit()
    return reader.entries, reader.problems
