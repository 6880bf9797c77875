"""CSV registration files (the web UI's format) -> entries.

Encord's exact CSV columns are unconfirmed (../shared/encord-api.md §7.8), so reconciler reads this small
grammar and nothing else.

The first row is the header. Column names match ignoring case, spaces, `_` and `-` (`Image Group`,
`image_group` and `ImageGroup` are one column); any other name is an error. A file uses one of two forms:

1. `ObjectUrl` names each row's file. A `DataType` column gives each row's type (`image`, `video`,
   `audio`, `text`, `pdf` or `nifti`); without it every row is a video, as Encord reads a file with the
   single column `ObjectUrl`.
2. Type columns. `Image`, `Video`, `Audio`, `Text`, `PDF` and `NIfTI` hold a file's URL. `Image Group`,
   `Image Sequence` and `DICOM Series` hold a group's title, and the group's frames are the row's
   `ObjectUrl_0`, `ObjectUrl_1`, ... cells, ordered by their number (empty cells are skipped). Each row
   fills exactly one type column; frame cells are only for group rows.

Either form may add `Title` (a file's title; a group's title is its type cell), `ClientMetadata` (a JSON
object) and `MediaMetadata` (a JSON object: the file's imageMetadata, videoMetadata, ...; not for NIfTI
files or groups).

A cell of spaces only is empty; other values are taken as written (validation reports a URL with spaces).
Blank rows are skipped. A file holds at most 10,000 entries.

Problems are `file:line: message`, the line being the first physical line of the row. A file that is not
CSV (not UTF-8, a NUL byte, bad quoting, a row whose cell count is not the header's) is one problem and
no entries.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from reconciler.hints import fold
from reconciler.registration.entry import MAX_CSV_ENTRIES, MEDIA_KEYS, Entry
from reconciler.registration.sourcefile import UnreadableFile, did_you_mean, read_utf8

URL = "ObjectUrl"
DATA_TYPE = "DataType"
TITLE = "Title"
CLIENT_METADATA = "ClientMetadata"
MEDIA_METADATA = "MediaMetadata"
FILE_COLUMNS = {
    "Image": "image",
    "Video": "video",
    "Audio": "audio",
    "Text": "text",
    "PDF": "pdf",
    "NIfTI": "nifti",
}
GROUP_COLUMNS = {
    "Image Group": "image_group",
    "Image Sequence": "image_sequence",
    "DICOM Series": "dicom_series",
}
FRAME = "ObjectUrl_"
_TYPE_COLUMNS = {**FILE_COLUMNS, **GROUP_COLUMNS}
_ROW_TYPES = tuple(FILE_COLUMNS.values())
_ALL_TYPES = frozenset(_TYPE_COLUMNS.values())
_NAMES = (URL, DATA_TYPE, TITLE, CLIENT_METADATA, MEDIA_METADATA, *_TYPE_COLUMNS)


def _fold(name: str) -> str:
    return fold(name.strip())


_BY_FOLD = {_fold(name): name for name in _NAMES}
_FOLDED_FRAME = _fold(FRAME)


class _Malformed(Exception):
    def __init__(self, line: int, message: str) -> None:
        super().__init__(message)
        self.line, self.message = line, message


@dataclass
class _Header:
    columns: dict[str, int] = field(default_factory=dict)  # canonical name -> index
    frames: list[int] = field(default_factory=list)  # indexes of the frame columns, in frame order
    problems: list[str] = field(default_factory=list)


def _header(cells: list[str]) -> _Header:
    header = _Header()
    numbers: dict[int, tuple[str, int]] = {}  # frame number -> (column name, index)
    for index, raw in enumerate(cells):
        folded = _fold(raw)
        number = folded[len(_FOLDED_FRAME) :] if folded.startswith(_FOLDED_FRAME) else ""
        if not folded:
            header.problems.append(f"column {index + 1} has no name")
        elif number.isdigit() and number.isascii():
            if int(number) in numbers:
                header.problems.append(f"columns {numbers[int(number)][0]!r} and {raw!r} are the same frame")
            numbers[int(number)] = (raw, index)
        elif folded not in _BY_FOLD:
            if ";" in raw or "\t" in raw:
                hint = "; columns are separated by commas"
            elif "://" in raw:
                hint = f"; the first row is the header, e.g. {URL}"
            else:
                hint = did_you_mean(raw.strip(), (*_NAMES, f"{FRAME}0"))
            header.problems.append(f"unknown column {raw!r}{hint}")
        elif _BY_FOLD[folded] in header.columns:
            header.problems.append(f"column {_BY_FOLD[folded]!r} appears twice")
        else:
            header.columns[_BY_FOLD[folded]] = index
    header.frames = [numbers[number][1] for number in sorted(numbers)]
    if not header.problems:
        header.problems.extend(_form_problems(header))
    return header


def _either(names: Iterable[str]) -> str:
    *most, last = names
    return f"{', '.join(most)} or {last}" if most else last


def _form_problems(header: _Header) -> list[str]:
    names = header.columns
    types = [name for name in _TYPE_COLUMNS if name in names]
    groups = [name for name in GROUP_COLUMNS if name in names]
    if URL in names and types:
        return [f"use either {URL} (with {DATA_TYPE}) or type columns ({', '.join(types)}), not both"]
    if URL not in names and not types:
        return [f"no {URL} column and no type column ({_either(_TYPE_COLUMNS)})"]
    problems = []
    if DATA_TYPE in names and URL not in names:
        problems.append(f"{DATA_TYPE} goes with an {URL} column")
    if header.frames and not groups:
        problems.append(f"{FRAME}N columns are a group's frames: add an {_either(GROUP_COLUMNS)} column")
    if groups and not header.frames:
        problems.append(f"{', '.join(groups)} rows need frame columns {FRAME}0, {FRAME}1, ...")
    return problems


def _json_object(text: str, column: str) -> tuple[dict[str, Any] | None, str | None]:
    try:
        value = json.loads(text)
    except json.JSONDecodeError as error:
        return None, f"{column} is not valid JSON: {error.msg} at character {error.pos + 1}"
    except RecursionError:
        return None, f"{column} is nested too deeply"
    if not isinstance(value, dict):
        return None, f'{column} must be a JSON object, e.g. {{"split": "train"}}'
    return value, None


def _row_type(value: str | None) -> tuple[str, str | None]:
    """A DataType cell -> (data type, or '' with a problem)."""
    data_type = value.strip().lower() if value else ""
    if data_type in _ROW_TYPES:
        return data_type, None
    if not data_type:
        return "", f"{DATA_TYPE} is empty; one of {', '.join(_ROW_TYPES)}"
    if data_type.replace(" ", "_") in GROUP_COLUMNS.values():
        hint = f"; groups take {_either(GROUP_COLUMNS)} columns"
    else:
        hint = did_you_mean(data_type, _ROW_TYPES)
    return "", f"{DATA_TYPE} {value!r} is not one of {', '.join(_ROW_TYPES)}{hint}"


def _row(header: _Header, cells: list[str], where: str) -> tuple[Entry | None, list[str]]:
    def cell(name: str) -> str | None:
        index = header.columns.get(name)
        value = cells[index] if index is not None else ""
        return value if value.strip() else None

    problems: list[str] = []
    urls: tuple[str, ...]
    title = cell(TITLE)
    frames = [cells[index] for index in header.frames if cells[index].strip()]
    if URL in header.columns:
        url = cell(URL)
        data_type = "video"
        if DATA_TYPE in header.columns:
            data_type, problem = _row_type(cell(DATA_TYPE))
            problems.extend([problem] if problem else [])
        if url is None:
            problems.append(f"{URL} is empty")
        urls = (url,) if url is not None else ()
    else:
        filled = [name for name in _TYPE_COLUMNS if cell(name) is not None]
        if not filled:
            declared = ", ".join(name for name in _TYPE_COLUMNS if name in header.columns)
            return None, [f"no file: a row fills one of {declared}"]
        if len(filled) > 1:
            return None, [f"fills {' and '.join(filled)}: one entry per row"]
        column = filled[0]
        data_type, value = _TYPE_COLUMNS[column], cell(column)
        if column in FILE_COLUMNS:
            urls = (value,) if value is not None else ()
            if frames:
                problems.append(f"{FRAME}N cells are for group rows, not {column}")
        else:
            urls = tuple(frames)
            if title is not None:
                problems.append(f"a group's title is its {column} cell; leave {TITLE} empty")
            title = value
            if not frames:
                problems.append(f"{column} {value!r} has no frames ({FRAME}0, {FRAME}1, ...)")
    metadata, media = None, None
    if (text := cell(CLIENT_METADATA)) is not None:
        metadata, problem = _json_object(text, CLIENT_METADATA)
        problems.extend([problem] if problem else [])
    if (text := cell(MEDIA_METADATA)) is not None and data_type in _ALL_TYPES:
        if data_type not in MEDIA_KEYS:
            problems.append(f"{MEDIA_METADATA} is for {', '.join(MEDIA_KEYS)} files, not {data_type}")
        else:
            media, problem = _json_object(text, MEDIA_METADATA)
            problems.extend([problem] if problem else [])
    if not urls or data_type not in _ALL_TYPES:
        return None, problems
    return Entry(data_type, urls, where, title, metadata, media), problems


def _rows(text: str) -> list[tuple[int, list[str]]]:
    """(first physical line, cells) of every non-blank row; raises _Malformed."""
    nul = text.find("\0")
    if nul >= 0:
        raise _Malformed(text.count("\n", 0, nul) + 1, "a NUL byte: this is not a text CSV file")
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    rows: list[tuple[int, list[str]]] = []
    line = 1
    try:
        for cells in reader:
            if any(value.strip() for value in cells):
                rows.append((line, cells))
            line = reader.line_num + 1
    except csv.Error as error:
        raise _Malformed(line, f"not valid CSV: {error}") from None
    return rows


def parse_csv_file(path: Path, display: str) -> tuple[list[Entry], list[str]]:
    """The entries a CSV registration file declares, and its problems (each naming its line)."""
    try:
        rows = _rows(read_utf8(path))
    except UnreadableFile as error:
        return [], [f"{display}{'' if error.line is None else f':{error.line}'}: {error.message}"]
    except _Malformed as error:
        return [], [f"{display}:{error.line}: {error.message}"]
    if not rows:
        return [], [f"{display}:1: the file is empty; expected a header row such as {URL}"]
    header_line, header_cells = rows[0]
    header = _header(header_cells)
    if header.problems:
        return [], [f"{display}:{header_line}: {problem}" for problem in header.problems]
    width = len(header_cells)
    for line, cells in rows[1:]:
        if len(cells) != width:
            cells_text = f"{len(cells)} cell" + ("" if len(cells) == 1 else "s")
            return [], [f"{display}:{line}: {cells_text}, but the header has {width} columns"]
    entries: list[Entry] = []
    problems: list[str] = []
    for count, (line, cells) in enumerate(rows[1:], start=1):
        if count == MAX_CSV_ENTRIES + 1:
            problems.append(f"{display}:{line}: more than {MAX_CSV_ENTRIES:,} entries in one CSV file")
        entry, found = _row(header, cells, f"{display}:{line}")
        problems.extend(f"{display}:{line}: {problem}" for problem in found)
        if entry is not None:
            entries.append(entry)
    return entries, problems
