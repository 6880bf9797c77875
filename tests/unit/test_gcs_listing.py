"""The parallel bucket listing (reconciler/gcs/listing.py) over an in-memory bucket that pages like GCS and
honours startOffset/endOffset: every name once, in order, for key spaces of several shapes, and with
requests spread over the workers."""

from __future__ import annotations

import hashlib
import json
import threading
import time
from bisect import bisect_left
from dataclasses import dataclass
from itertools import pairwise
from typing import Any

import pytest

from reconciler.gcs.key_space import Alphabet, cut_names
from reconciler.gcs.listing import iter_objects_parallel


@dataclass
class _Blob:
    name: str
    size: int = 1
    content_type: str | None = None


class MemoryBucket:
    """`list_blobs` over sorted names; `offsets=False` plays a server that ignores startOffset/endOffset."""

    def __init__(self, names: list[str], *, offsets: bool = True, empty_pages: int = 0) -> None:
        self.names = sorted(names)
        self.offsets = offsets
        self.empty_pages = empty_pages  # answer this many first requests with no names but a token
        self.requests = 0
        self.in_flight = 0
        self.most_in_flight = 0
        self._lock = threading.Lock()

    @property
    def _connection(self) -> MemoryBucket:  # the client's connection: `api_request` answers the listing
        return self

    def api_request(
        self, *, method: str, path: str, query_params: dict[str, Any], retry: object, expect_json: bool
    ) -> bytes:
        page, token = self.page(query_params)
        answer: dict[str, Any] = {"items": [{"name": blob.name, "size": "1"} for blob in page]}
        if token is not None:
            answer["nextPageToken"] = token
        return json.dumps(answer).encode()

    def page(self, query: dict[str, Any]) -> tuple[list[_Blob], str | None]:
        with self._lock:
            self.requests += 1
            self.in_flight += 1
            self.most_in_flight = max(self.most_in_flight, self.in_flight)
            empty = self.empty_pages > 0
            self.empty_pages -= 1
        time.sleep(0.002)  # let other workers overlap
        with self._lock:
            self.in_flight -= 1
        prefix = query.get("prefix") or ""
        start = query.get("pageToken") or (query.get("startOffset") if self.offsets else None) or prefix
        end = query.get("endOffset") if self.offsets else None
        at = bisect_left(self.names, start)
        if empty:
            return [], self.names[at] if at < len(self.names) else None
        page, at, more = scan(self.names, at, query["maxResults"], prefix, end)
        return page, self.names[at] if more else None


def scan(
    names: list[str], at: int, limit: int, prefix: str, end: str | None
) -> tuple[list[_Blob], int, bool]:
    """Up to `limit` names under `prefix` from `at` (sorted `names`), stopping at `end`: the page, where it
    stopped, and whether more follow."""
    page: list[_Blob] = []
    while at < len(names) and len(page) < limit:
        name = names[at]
        if (name > prefix and not name.startswith(prefix)) or (end is not None and name >= end):
            break
        if name.startswith(prefix):
            page.append(_Blob(name))
        at += 1
    more = at < len(names) and names[at].startswith(prefix) and (end is None or names[at] < end)
    return page, at, more


def _shapes() -> dict[str, list[str]]:
    n = 20_000
    return {
        "numbered": [f"img/{i:07d}.jpg" for i in range(n)],
        "unpadded": [f"img/frame_{i}.png" for i in range(n)],
        "hashed": [f"img/{hashlib.sha1(str(i).encode()).hexdigest()}.jpg" for i in range(n)],
        "nested": [
            f"img/cam{c}/2024-05-{d:02d}/{i:05d}.jpg"
            for c in range(4)
            for d in range(1, 26)
            for i in range(200)
        ],
        "skewed": [f"img/a{i}" for i in range(50)] + [f"img/zz/deep/{i:06d}" for i in range(n)] + ["img/zzz"],
        "long-stem": [
            f"img/datasets/customer-abc/2024-05-01/session-12345/frame_{i:07d}.jpg" for i in range(n)
        ],
        "unicode": [f"img/é{i:05d}-ü.jpg" for i in range(n // 2)] + [f"img/~{i}" for i in range(100)],
    }


@pytest.mark.parametrize("shape", sorted(_shapes()))
def test_every_name_once_in_order_and_spread_over_the_workers(shape: str) -> None:
    names = _shapes()[shape]
    bucket = MemoryBucket([*names, "im", "img", "imh/other", "zzz"])  # neighbours outside the prefix
    pages = list(iter_objects_parallel(bucket, "b", "img/", workers=16, page_size=1000))  # type: ignore[arg-type]
    listed = [info.name for page in pages for info in page]
    assert listed == sorted(names)
    assert all(pages)
    # Requests stay within a small multiple of the pages the names need (each range ends on a part page,
    # and cuts may land in empty ranges: most between "directories", which are cut by value, not by
    # name), and overlap.
    allowance = 5 if shape == "nested" else 2
    # The exploration of the key space costs up to about six requests a worker, whatever the size.
    assert bucket.requests <= len(names) / 1000 * allowance + 6 * 16, bucket.requests  # cuts vary with timing
    assert bucket.most_in_flight >= 4


@pytest.mark.parametrize("shape", ["numbered", "nested"])
def test_requests_stay_near_the_pages_at_scale(shape: str) -> None:
    # 200,000 names: cuts placed by one alphabet for every position sent half the requests of the nested
    # shape to empty ranges between "directories" (524 requests for 200 pages).
    n = 200_000
    names = {
        "numbered": [f"img/{i:07d}.jpg" for i in range(n)],
        "nested": [f"img/cam{i % 4}/2024-05-{1 + i // 4 % 28:02d}/{i:07d}.jpg" for i in range(n)],
    }[shape]
    bucket = MemoryBucket(names)
    listed = sum(len(page) for page in iter_objects_parallel(bucket, "b", "img/", workers=16))  # type: ignore[arg-type]
    assert listed == n
    assert bucket.requests <= n / 1000 * 1.5 + 5 * 16, bucket.requests


def test_cuts_use_each_positions_own_characters() -> None:
    alphabet = Alphabet()
    alphabet.add_all([f"{i:07d}.jpg" for i in range(0, 20_000, 7)])
    cuts = cut_names(
        "img/0001999.jpg", "img/0090000.jpg", alphabet, 8, prefix="img/", first="img/0001000.jpg"
    )
    assert len(cuts) == 7
    # The number's positions take digits only: no cut lands among names no object has (`img/0003g...`).
    assert all(cut[4:11].isdigit() for cut in cuts), cuts
    # By the density of the page before them (1,000 names from 0001000 to 0001999): four pieces of a little
    # under a page, then each twice as wide as the one before (the names may stop farther on).
    bounds = ["img/0001999", *cuts]
    widths = [int(b[4:11]) - int(a[4:11]) for a, b in pairwise(bounds)]
    assert all(700 <= width <= 1000 for width in widths[:4]), widths
    assert all(1.8 <= b / a <= 2.2 for a, b in pairwise(widths[3:])), widths


def test_a_deep_tree_of_files_at_every_level_costs_about_a_request_a_page() -> None:
    # Files at every level of a deep path: a page's density does not hold to the range's end, where the
    # next "directory" begins. Cut into pieces of a page all the way, 100 pages cost 6,110 requests; pieces
    # that widen as they go cost about 1,200 (one alphabet for all positions: 981; one cursor: 100). Each
    # "directory" boundary still costs exploration: this shape is the listing's worst known.
    names: list[str] = []
    path = "p/"
    for level in range(20):
        path += f"level-{level:02d}/"
        names += [f"{path}file-{i:05d}.json" for i in range(5_000)]
    bucket = MemoryBucket(names)
    listed = [i.name for page in iter_objects_parallel(bucket, "b", "p/", workers=16) for i in page]  # type: ignore[arg-type]
    assert listed == sorted(names)
    assert bucket.requests <= 1_500, bucket.requests


def test_a_server_that_ignores_offsets_falls_back_to_one_cursor() -> None:
    names = [f"p/{i:05d}" for i in range(5_000)]
    bucket = MemoryBucket(names, offsets=False)
    listed = [i.name for page in iter_objects_parallel(bucket, "b", "p/", page_size=500) for i in page]  # type: ignore[arg-type]
    assert listed == names


def test_a_page_with_no_names_but_more_to_come_is_followed_by_its_token() -> None:
    names = [f"p/{i:05d}" for i in range(3_000)]
    bucket = MemoryBucket(names, empty_pages=1)
    listed = [i.name for page in iter_objects_parallel(bucket, "b", "p/", page_size=500) for i in page]  # type: ignore[arg-type]
    assert listed == names


def test_a_slow_consumer_keeps_only_a_few_pages_waiting() -> None:
    bucket = MemoryBucket([f"p/{i:06d}" for i in range(50_000)])
    listing = iter_objects_parallel(bucket, "b", "p/", workers=8, page_size=100, buffered_pages=5)  # type: ignore[arg-type]
    consumed = 0
    for _page in listing:
        consumed += 1
        if consumed == 20:
            break
        time.sleep(0.01)
    listing.close()
    time.sleep(0.05)
    # What was asked for: the pages consumed, at most `buffered_pages` waiting, and one batch in flight.
    assert bucket.requests <= consumed + 5 + 8 + 8


def test_cut_names_fall_strictly_between_and_in_order() -> None:
    alphabet = Alphabet("0123456789.jpg")
    cuts = cut_names("img/001000.jpg", None, alphabet, 8, prefix="img/")
    assert len(cuts) == 7
    assert cuts == sorted(cuts) and cuts[0] > "img/001000.jpg"
    assert all(c.startswith("img/") for c in cuts)
    assert cut_names("a", "a\x00", Alphabet("ab"), 4) == []  # nothing fits between neighbours
    assert cut_names("a", "b", Alphabet(), 4) == []
