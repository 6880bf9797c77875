"""A folder's declared entries against Encord's rules, before anything is sent.

Per entry: URL size and whitespace, a URL the integration's provider can read (and, for a GCP integration
with a `bucket`, in that bucket), the data type against the file extension, title length, a title for
groups, media metadata (media_check.py; required on a strict client-only integration), clientMetadata
against the schema. Across
the folder: a URL declared twice. Every problem is reported, each starting with the entry's `where`.

Fast on purpose (a folder may declare a million entries): each URL is split once by hand, and the type
check is cached per (data type, file suffix).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from reconciler.config.models import IntegrationSpec
from reconciler.registration.entry import MAX_TITLE_CHARS, MAX_URL_BYTES, MEDIA_KEYS, Entry, SourceEntries
from reconciler.registration.media_check import media_problems
from reconciler.registration.mediatypes import mime_suffix, type_mismatch
from reconciler.registration.metadata_check import MetadataChecker

PROVIDER_URLS = {
    "gcp": "gs://<bucket>/<key> or https://storage.googleapis.com/<bucket>/<key>",
    "aws": "s3://<bucket>/<key> or https://<bucket>.s3.<region>.amazonaws.com/<key>",
    "azure": "https://<account>.blob.core.windows.net/<container>/<key>",
    "otc": "https://<bucket>.obs.<region>.otc.t-systems.com/<key>",
}
_GCS_HOSTS = ("storage.googleapis.com", "storage.cloud.google.com")
_HOST_SUFFIX = {"aws": ".amazonaws.com", "azure": ".blob.core.windows.net", "otc": ".otc.t-systems.com"}
_WHITESPACE = re.compile(r"\s")
_KIND = {
    "image_group": "an image group",
    "image_sequence": "an image sequence",
    "dicom_series": "a DICOM series",
}
_FRAME_MEDIA = {
    "image_group": "imageMetadata",
    "image_sequence": "imageMetadata",
    "dicom_series": "dicomMetadata",
}
_SHOWN_URL = 200


def split_url(url: str) -> tuple[str, str, str]:
    """(scheme, host, key): scheme and host lower-cased, the key without its leading `/`, query or
    fragment. As urlsplit, but several times faster; no `://` gives ("", "", url)."""
    scheme, sep, rest = url.partition("://")
    if not sep:
        return "", "", url
    if "?" in rest or "#" in rest:
        end = min(found for found in (rest.find(m) for m in "/?#") if found >= 0)
        netloc, key = rest[:end], rest[end:].partition("?")[0].partition("#")[0][1:]
    else:
        netloc, _, key = rest.partition("/")
    if "@" in netloc or ":" in netloc:
        netloc = netloc.rpartition("@")[2].partition(":")[0]
    return scheme.lower(), netloc.lower(), key


def readable(provider: str, scheme: str, host: str, key: str) -> tuple[bool, str | None]:
    """Whether `provider` reads such a URL (a bucket or host and an object key), and the GCS bucket."""
    if provider == "gcp":
        if scheme == "gs":
            return bool(host and key), host
        if scheme == "https" and host in _GCS_HOSTS:
            bucket, _, key = key.partition("/")
            return bool(bucket and key), bucket
        return False, None
    if provider == "aws" and scheme == "s3":
        return bool(host and key), None
    return scheme == "https" and host.endswith(_HOST_SUFFIX[provider]) and bool(key), None


def _short(url: str) -> str:
    return url if len(url) <= _SHOWN_URL else url[:_SHOWN_URL] + "..."


class _UrlRules:
    """The per-URL checks of one source, with its integration."""

    def __init__(self, integration: IntegrationSpec | None, mismatches: dict[tuple[str, str], str | None]):
        self.integration = integration
        self.providers = [integration.provider] if integration is not None else list(PROVIDER_URLS)
        gcp = integration is not None and integration.provider == "gcp"
        self.bucket = integration.bucket if integration is not None and gcp else None
        self.mismatches = mismatches  # (data type, suffix) -> type_mismatch's answer, shared by sources
        self.gcs = "gcp" in self.providers

    def problems(self, url: str, data_type: str) -> list[str]:
        if self.gcs and url.startswith("gs://"):  # the common case, a million times over: a plain gs:// URL
            rest = url[5:]
            host, _, key = rest.partition("/")
            if (
                host
                and key
                and len(url) * 4 <= MAX_URL_BYTES
                and " " not in url
                and url.isprintable()  # no whitespace
                and "?" not in rest
                and "#" not in rest
                and "@" not in host
                and ":" not in host
                and (self.bucket is None or host.lower() == self.bucket)
            ):
                mismatch = self._mismatch(data_type, key)
                return [] if mismatch is None else [mismatch]
        return self._problems(url, data_type)

    def _mismatch(self, data_type: str, key: str) -> str | None:
        cache_key = (data_type, mime_suffix(key))
        mismatch = self.mismatches.get(cache_key, "")
        if mismatch == "":
            mismatch = self.mismatches[cache_key] = type_mismatch(data_type, "file" + cache_key[1])
        return mismatch

    def _problems(self, url: str, data_type: str) -> list[str]:
        found: list[str] = []
        if len(url) * 4 > MAX_URL_BYTES and len(url.encode()) > MAX_URL_BYTES:  # cheap test first
            found.append(f"the URL is {len(url.encode()):,} bytes; Encord's limit is {MAX_URL_BYTES:,}")
        if (" " in url or not url.isprintable()) and _WHITESPACE.search(url):
            found.append("the URL contains whitespace")
        scheme, host, key = split_url(url)
        ok, bucket = False, None
        for provider in self.providers:
            ok, bucket = readable(provider, scheme, host, key)
            if ok:
                break
        if not ok:
            found.append(self._unreadable())
        elif self.bucket is not None and bucket != self.bucket:
            title = self.integration.title if self.integration is not None else ""
            found.append(f"the URL is in bucket {bucket!r}, but integration {title!r} reads {self.bucket!r}")
        mismatch = self._mismatch(data_type, key)
        if mismatch is not None:
            found.append(mismatch)
        return found

    def _unreadable(self) -> str:
        if self.integration is None:
            return "not a cloud storage URL Encord can read: " + "; ".join(PROVIDER_URLS.values())
        provider = self.integration.provider
        return (
            f"the {provider.upper()} integration {self.integration.title!r} cannot read this URL; "
            f"expected {PROVIDER_URLS[provider]}"
        )


def _entry_problems(entry: Entry, integration: IntegrationSpec | None) -> list[str]:
    """Title and strict client-only problems: the checks that are not per URL."""
    found = []
    title = entry.title
    if title is not None and len(title) > MAX_TITLE_CHARS:
        found.append(f"the title is {len(title):,} characters; Encord's limit is {MAX_TITLE_CHARS}")
    if entry.type in _KIND and not title:
        found.append(f"{_KIND[entry.type]} needs a title (Encord requires one with a cloud integration)")
    if integration is not None and integration.strict_client_only:
        strict = f"integration {integration.title!r} is strict client-only (Encord never reads the files)"
        if entry.type in _KIND:
            found.append(
                f"{strict}: every frame of {_KIND[entry.type]} needs its {_FRAME_MEDIA[entry.type]}, which a "
                "registration file cannot give per frame; register the frames as single files, or use "
                "an integration that is not strict client-only"
            )
        elif entry.type in MEDIA_KEYS and entry.media is None:
            found.append(f"{strict}: give {MEDIA_KEYS[entry.type]}")
    return found


def validate_folder(
    folder_path: str,
    sources: Sequence[tuple[SourceEntries, IntegrationSpec | None]],
    schema: Mapping[str, Mapping[str, Any]] | None,
) -> list[str]:
    """Every problem of one folder's entries, each starting with the entry's `where`.

    An integration of None is not declared in the config: bucket and strict checks are skipped, and a URL
    need only be one that some provider reads. A schema of None skips the clientMetadata checks. The
    sources' own (reading) problems are not repeated here.
    """
    problems: list[str] = []
    seen: dict[str, Entry | tuple[Entry, int]] = {}  # URL -> its first entry (a frame: (entry, index))
    checker = MetadataChecker(schema) if schema is not None else None
    mismatches: dict[tuple[str, str], str | None] = {}

    def twice(where: str, what: str, first: Entry | tuple[Entry, int]) -> None:
        at = first.where if isinstance(first, Entry) else f"{first[0].where} (frame {first[1]})"
        problems.append(f"{where}: {what} is declared twice in folder {folder_path!r}, first at {at}")

    for read, integration in sources:
        check = _UrlRules(integration, mismatches).problems
        strict = integration is not None and integration.strict_client_only
        for entry in read.entries:
            where, urls, data_type = entry.where, entry.urls, entry.type
            title = entry.title
            if (title is not None and len(title) > MAX_TITLE_CHARS) or strict or data_type in _KIND:
                problems.extend(f"{where}: {problem}" for problem in _entry_problems(entry, integration))
            if data_type in _KIND:
                for index, url in enumerate(urls):
                    frame = f"frame {index} ({_short(url)})"
                    problems.extend(f"{where}: {frame}: {problem}" for problem in check(url, data_type))
                    mark = (entry, index)
                    first = seen.setdefault(url, mark)
                    if first is not mark:
                        twice(where, frame, first)
            else:
                for url in urls:  # one
                    found = check(url, data_type)
                    if found:
                        problems.extend(f"{where}: {problem}" for problem in found)
                    first = seen.setdefault(url, entry)
                    if first is not entry:
                        twice(where, _short(url), first)
            if entry.media is not None:
                problems.extend(f"{where}: {problem}" for problem in media_problems(data_type, entry.media))
            if checker is not None and entry.client_metadata:
                found = checker.problems(entry.client_metadata)
                if found:
                    problems.extend(f"{where}: {problem}" for problem in found)
    return problems
