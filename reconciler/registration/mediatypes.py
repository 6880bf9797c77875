"""File extensions, MIME types and data types: one table for bucket listings and for validation."""

from __future__ import annotations

import mimetypes
from urllib.parse import urlsplit

# A private table, so results do not depend on the host's /etc/mime.types.
_MIME = mimetypes.MimeTypes()
for _mime, _ext in (
    ("application/dicom", ".dcm"),
    ("application/nifti", ".nii"),
    ("image/webp", ".webp"),
    ("image/avif", ".avif"),
    ("image/heic", ".heic"),
    ("audio/flac", ".flac"),
    ("audio/aac", ".aac"),
    ("audio/mp4", ".m4a"),
    ("video/x-matroska", ".mkv"),
    ("video/webm", ".webm"),
    ("text/markdown", ".md"),
):
    _MIME.add_type(_mime, _ext)

# Bucket listings: extension -> data type, unless the source overrides it. Anything else is skipped.
DEFAULT_EXTENSION_TYPES: dict[str, str] = {
    **dict.fromkeys((".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp", ".gif"), "image"),
    **dict.fromkeys((".avif", ".heic"), "image"),
    **dict.fromkeys((".mp4", ".mov", ".webm", ".mkv", ".avi", ".m4v"), "video"),
    **dict.fromkeys((".mp3", ".wav", ".flac", ".ogg", ".aac", ".m4a"), "audio"),
    **dict.fromkeys((".txt", ".md", ".json", ".xml", ".html", ".csv"), "text"),
    ".pdf": "pdf",
    ".nii": "nifti",
    ".nii.gz": "nifti",
    ".dcm": "dicom_series",  # a lone .dcm is a one-file series unless a grouping rule gathers it
}


def extension(name: str) -> str:
    """The lower-case extension, `.nii.gz` kept whole; '' when there is none."""
    lower = name.rsplit("/", 1)[-1].lower()
    if lower.endswith(".nii.gz"):
        return ".nii.gz"
    dot = lower.rfind(".")
    return lower[dot:] if dot > 0 else ""


def mime_suffix(key: str) -> str:
    """The last two suffixes of the file name, all that a MIME guess looks at (`.tar.gz`, `.jpg`), by
    os.path.splitext's rules: leading dots of the name start no suffix. A guess for `"file" + suffix`
    is the guess for the whole name, so it can be made once per suffix; except for a name ending in
    `.nii.gz` in any case, which gives that suffix whole, as the type checks read it."""
    name = key.rfind("/") + 1
    last = key.rfind(".")
    if last > name and key.find(".", name, last) == -1:  # one dot, not the first: the common case
        return key[last:]
    if key[-7:].lower() == ".nii.gz":
        return key[-7:]
    first = name  # the name's first character that is not a dot
    if key.startswith(".", name):
        first = len(key) - len(key[name:].lstrip("."))
    last = key.rfind(".", name)
    if last <= first:
        return ""
    before = key.rfind(".", name, last)
    return key[before:] if before > first else key[last:]


def guess_mime(url: str) -> str | None:
    path = urlsplit(url).path if "://" in url else url
    if path.lower().endswith(".nii.gz"):
        return "application/nifti"
    return _MIME.guess_type(path, strict=False)[0]


def type_mismatch(data_type: str, url: str) -> str | None:
    """Encord's message when a file's type contradicts the declared one; None when it fits or is unknown
    (DICOM files often have no extension, so an unknown type always passes)."""
    mime = guess_mime(url)
    if mime is None:
        return None
    major = mime.split("/")[0]
    if data_type in ("image", "image_group", "image_sequence"):
        ok, wanted = major == "image", "an image"
    elif data_type == "dicom_series":
        ok, wanted = major not in ("image", "video", "audio", "text"), "a DICOM file"
    elif data_type == "text":
        ok, wanted = major == "text" or mime in ("application/json", "application/xml"), "a text file"
    elif data_type == "pdf":
        ok, wanted = mime == "application/pdf", "a PDF file"
    elif data_type == "nifti":
        ok, wanted = mime == "application/nifti", "a NIfTI file"
    elif data_type == "audio":
        ok, wanted = major == "audio", "an audio file"
    else:
        ok, wanted = major == data_type, f"a {data_type}"
    return None if ok else f"Expected {wanted}, got a file of type {mime}"
