"""Randomized properties of the parallel bucket listing (reconciler/gcs/listing.py): over many key spaces of
varied shapes (numbered, hashed, nested "directories" with placeholders, skewed clusters, names that are
prefixes of one another, unicode and emoji, low control characters, names of 1,000+ characters, names that
differ only far along or only in their last character), with neighbours outside the prefix, small pages,
servers that answer short pages or ignore the offsets, and several worker and buffer settings, the listing
yields exactly the sorted names under the prefix, in non-empty pages. `cut_names` is checked on its own:
every cut strictly inside its range, under the prefix, strictly increasing.

Every key space and setting comes from a seeded `random.Random`; only the order in which the workers'
requests complete varies from run to run, and no property depends on it."""

from __future__ import annotations

import hashlib
import json
import random
import string
import time
import zlib
from bisect import bisect_left
from collections.abc import Callable
from itertools import pairwise
from typing import Any

import pytest

from reconciler.gcs import listing
from reconciler.gcs.key_space import Alphabet, cut_names
from reconciler.gcs.listing import iter_names_parallel, iter_objects_parallel
from tests.unit.test_gcs_listing import MemoryBucket, _Blob, scan

# Characters names are drawn from: ASCII kinds, punctuation, low control characters next to "\x00",
# Latin-1 and other BMP characters, CJK, emoji and the top of Unicode (no surrogates: GCS names are UTF-8).
_CHARSETS = (
    string.digits,
    "0123456789abcdef",
    string.ascii_lowercase,
    string.ascii_letters + string.digits + "-_.",
    "/._-",
    "ab",
    "\x00\x01\x02\x03 !",
    "\x01\x02/a",
    "éüßñ€ÿ",
    "😀😃😄😁🙂🦄",
    "中文字符测试数据",
    "".join(chr(c) for c in range(32, 127)),
    "a\u00a0\u07ff\u0800\uffef\U00010000\U0010fffd",
)
_PREFIXES = ("", "p/", "p", "data/set-1/", "ü", "😀/", "a")


class _Bucket(MemoryBucket):
    """`MemoryBucket` without its sleep, with GCS's tokens (only valid with the offsets they were issued
    for), and optionally a server that answers short pages (some empty) with a token, or ignores the start
    offset, the end offset or both."""

    def __init__(self, names: list[str], *, mode: str = "plain", seed: int = 0) -> None:
        super().__init__(names, offsets=mode != "no-offsets")
        self.mode = mode
        self.seed = seed

    def page(self, query: dict[str, Any]) -> tuple[list[_Blob], str | None]:
        with self._lock:
            self.requests += 1
            # A listing that does not end (a range that never shrinks) fails instead of hanging: far more
            # requests than the worst key space here needs (names that are prefixes of one another, ~50
            # a page at 50 names a page).
            pages = len(self.names) // query["maxResults"] + 1
            assert self.requests <= 200 * pages + 5_000, f"{self.requests} requests for {pages} pages"
        time.sleep(0)  # let other workers run
        prefix = query.get("prefix") or ""
        start, end, token = query.get("startOffset"), query.get("endOffset"), query.get("pageToken")
        assert start is None or start.startswith(prefix), (prefix, start)
        assert start is None or end is None or start < end, (start, end)
        resume, hops = None, 0
        if token is not None:
            resume, issued_start, issued_end, hops = json.loads(token)
            assert (issued_start, issued_end) == (start, end), "a token is only valid with its own offsets"
        if self.mode in ("no-offsets", "ignores-start"):
            start = None
        if self.mode in ("no-offsets", "ignores-end"):
            end = None
        limit = query["maxResults"]
        if self.mode == "short":  # fewer names than asked, even none, while more follow (GCS may do so)
            draw = random.Random(zlib.crc32(repr((self.seed, sorted(query.items()))).encode()))
            if draw.random() < 0.4 and hops < 3:  # a token chain still moves on: empty answers are few
                limit = draw.randrange(0, limit)
        at = bisect_left(self.names, resume or start or prefix)
        page, at, more = scan(self.names, at, limit, prefix, end)
        if not more:
            return page, None
        return page, json.dumps([self.names[at], query.get("startOffset"), query.get("endOffset"), hops + 1])


# Key spaces: each returns names after the prefix ("tails"), possibly with the empty tail (the prefix itself).


def _text(rng: random.Random, chars: str, low: int, high: int) -> str:
    return "".join(rng.choice(chars) for _ in range(rng.randint(low, high)))


def _random_strings(rng: random.Random, n: int) -> set[str]:
    chars = rng.choice(_CHARSETS) + (rng.choice(_CHARSETS) if rng.random() < 0.3 else "")
    longest = rng.choice([1, 3, 8, 20])
    return {_text(rng, chars, 0, longest) for _ in range(n)}


def _numbered(rng: random.Random, n: int) -> set[str]:
    width, step, start = rng.choice([0, 3, 7]), rng.choice([1, 1, 3, 97]), rng.randrange(1000)
    stem, suffix = rng.choice(["", "img_", "frame-", "é"]), rng.choice(["", ".jpg", "/meta.json"])
    return {f"{stem}{start + i * step:0{width}d}{suffix}" for i in range(n)}


def _hashed(rng: random.Random, n: int) -> set[str]:
    salt, length = rng.random(), rng.choice([2, 6, 40])
    return {hashlib.sha1(f"{salt}{i}".encode()).hexdigest()[:length] for i in range(n)}


def _nested(rng: random.Random, n: int) -> set[str]:
    """Directories of random depth and fan-out, with placeholder objects ("dir/") for some."""
    chars = rng.choice([string.ascii_lowercase, string.digits, "éü中😀ab", "-_.ab"])
    names: set[str] = set()
    while len(names) < n:
        parts = [_text(rng, chars, 1, 3) for _ in range(rng.randint(0, 4))]
        if rng.random() < 0.3:
            names.add("".join(part + "/" for part in parts))  # a "directory" placeholder
        names.add("".join(part + "/" for part in parts) + _text(rng, chars + "0123456789", 0, 6))
    return names


def _skewed(rng: random.Random, n: int) -> set[str]:
    """A few dense clusters of very different sizes, and outliers at the very ends of the key space."""
    names = {"\x00", "\x01", "\U0010fffd", "\U0010fffd\U0010fffd", "~", " "}
    clusters = [_text(rng, rng.choice(_CHARSETS), 1, 6) for _ in range(rng.randint(1, 5))]
    while len(names) < n:
        stem = clusters[min(int(rng.expovariate(1.5)), len(clusters) - 1)]
        names.add(stem + _text(rng, rng.choice(_CHARSETS[:4]), 0, 5))
    return names


def _chains(rng: random.Random, n: int) -> set[str]:
    """Names that are prefixes of one another: `a`, `a/`, `a/b`, `a/b/`, ... and their siblings."""
    names: set[str] = set()
    while len(names) < n:
        name = ""
        for _ in range(rng.randint(1, 12)):
            name += rng.choice(["/", rng.choice("ab"), rng.choice("\x01é😀"), "a/"])
            names.add(name)
    return names


def _long(rng: random.Random, n: int) -> set[str]:
    """Long names: 1,000+ characters, or a shared run of 60+ after which they differ, or names alike up
    to their very last character."""
    kind = rng.choice(["1000", "position-60", "last-char"])
    chars = rng.choice(_CHARSETS)
    if kind == "1000":
        stem = _text(rng, "ab/", 1000, 1200)
        return {stem[: rng.randrange(990, len(stem))] + _text(rng, chars, 0, 8) for _ in range(n)}
    if kind == "position-60":
        stem = "x" * rng.randint(60, 80)
        return {stem + _text(rng, chars, 1, 6) for _ in range(n)}
    stem = _text(rng, chars, 5, 30)
    tail_chars = rng.choice(_CHARSETS[-5:]) + string.printable[:94]
    return {stem + c for c in tail_chars}


def _mixture(rng: random.Random, n: int) -> set[str]:
    shapes = rng.sample(_SHAPES[:-1], 3)
    return set().union(*(shape(rng, max(1, n // 3)) for shape in shapes))


_SHAPES: list[Callable[[random.Random, int], set[str]]] = [
    _random_strings,
    _numbered,
    _hashed,
    _nested,
    _skewed,
    _chains,
    _long,
    _mixture,
]


def _neighbours(rng: random.Random, prefix: str) -> set[str]:
    """Names just outside `prefix`, on both sides of it."""
    if not prefix:
        return set()
    before, last = prefix[:-1], prefix[-1]
    near = {
        before,
        before + chr(ord(last) - 1),
        before + chr(ord(last) - 1) + "\U0010fffd",
        before + chr(ord(last) + 1),
        before + chr(ord(last) + 1) + "\x00",
        _text(rng, "abz~", 1, 4),
    }
    return {name for name in near if name and not name.startswith(prefix)}


def _key_space(rng: random.Random, n: int) -> tuple[str, list[str], list[str]]:
    """A prefix, every name in the bucket and the names under the prefix, sorted."""
    prefix = rng.choice(_PREFIXES)
    tails = rng.choice(_SHAPES)(rng, n)
    under = {prefix + tail for tail in tails if prefix + tail}
    return prefix, sorted(under | _neighbours(rng, prefix)), sorted(under)


def _listed_objects(bucket: _Bucket, prefix: str, **settings: int) -> list[list[str]]:
    pages = iter_objects_parallel(bucket, "b", prefix, **settings)
    return [[info.name for info in page] for page in pages]


def _check(pages: list[list[str]], expected: list[str], case: str) -> None:
    listed = [name for page in pages for name in page]
    assert all(pages), f"an empty page: {case}"
    if listed != expected:
        missing, extra = sorted(set(expected) - set(listed)), sorted(set(listed) - set(expected))
        duplicated = len(listed) - len(set(listed))
        out_of_order = next((i for i, (a, b) in enumerate(pairwise(listed)) if a >= b), None)
        raise AssertionError(
            f"{case}: {len(listed)} listed, {len(expected)} expected; missing {missing[:5]!r}, "
            f"extra {extra[:5]!r}, {duplicated} duplicated, first out of order at {out_of_order}"
        )


_MODES = ("plain", "plain", "plain", "short", "short", "no-offsets", "ignores-start", "ignores-end")


def test_small_key_spaces_list_every_name_once_in_order() -> None:
    rng = random.Random(20241207)
    for case in range(260):
        prefix, names, expected = _key_space(rng, rng.choice([0, 1, 2, 5, 30, 120, 300]))
        page_size = (
            rng.choice([1, 2, 7, 7, 50, 1000]) if len(names) <= 30 else rng.choice([2, 7, 7, 50, 1000])
        )
        settings = {
            "page_size": page_size,
            "workers": rng.choice([1, 3, 16]),
            "buffered_pages": rng.choice([1, 5, 256]),
        }
        mode = rng.choice(_MODES)
        bucket = _Bucket(names, mode=mode, seed=case)
        _check(
            _listed_objects(bucket, prefix, **settings), expected, f"case {case} {mode} {prefix!r} {settings}"
        )


@pytest.mark.parametrize("seed", range(4))
def test_larger_key_spaces_list_every_name_once_in_order(seed: int) -> None:
    rng = random.Random(1000 + seed)
    for case in range(5):
        prefix, names, expected = _key_space(rng, rng.choice([1_000, 3_000, 5_000]))
        settings = {
            "page_size": rng.choice([7, 50, 50, 1000]) if len(names) < 2_000 else rng.choice([50, 1000]),
            "workers": rng.choice([1, 3, 16]),
            "buffered_pages": rng.choice([1, 5, 256]),
        }
        mode = rng.choice(_MODES)
        bucket = _Bucket(names, mode=mode, seed=case)
        _check(
            _listed_objects(bucket, prefix, **settings),
            expected,
            f"seed {seed} case {case} {mode} {settings}",
        )


def _large_key_spaces() -> dict[str, tuple[str, list[str]]]:
    rng = random.Random(7)
    n = 30_000
    return {
        "nested-unicode": (
            "data/",
            [
                f"data/{rng.choice('éü中😀')}{c}/{d:02d}/{i:05d}.jpg"
                for c in range(10)
                for d in range(30)
                for i in range(100)
            ],
        ),
        "skewed": ("p/", sorted("p/" + tail for tail in _skewed(random.Random(3), n))),
        "emoji": ("😀/", sorted({"😀/" + _text(rng, "😀😃😄😁🙂🦄ab", 1, 9) for _ in range(n)})),
        "long-stem": ("", ["x" * 70 + f"{i:06d}" for i in range(n)]),
    }


@pytest.mark.parametrize("shape", sorted(_large_key_spaces()))
def test_a_large_key_space_lists_every_name_once_in_order(shape: str) -> None:
    prefix, under = _large_key_spaces()[shape]
    names = sorted({*under, *_neighbours(random.Random(0), prefix)})
    expected = sorted(set(under))
    for settings in (
        {"page_size": 1000, "workers": 16, "buffered_pages": 256},
        {"page_size": 50, "workers": 3, "buffered_pages": 5},
    ):
        _check(_listed_objects(_Bucket(names), prefix, **settings), expected, f"{shape} {settings}")
    pages = list(iter_names_parallel(_Bucket(names, mode="short"), "b", prefix, workers=16))
    _check(pages, expected, f"{shape} names only")


def test_names_alone_list_every_name_once_in_order() -> None:
    rng = random.Random(99)
    for case in range(12):
        prefix, names, expected = _key_space(rng, rng.choice([300, 2_000, 4_000]))
        workers, mode = rng.choice([1, 3, 16]), rng.choice(_MODES)
        pages = list(iter_names_parallel(_Bucket(names, mode=mode, seed=case), "b", prefix, workers=workers))
        _check(pages, expected, f"case {case} {mode} workers={workers}")


def _held_pages(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Pages fetched or in flight and not yet yielded, as `_launch` counts them, after every launch."""
    launch = listing._launch
    held: list[int] = []

    def counted(pool: Any, ranges: list[Any], *args: Any) -> None:
        launch(pool, ranges, *args)
        held.append(sum(1 for r in ranges if r.future is not None) + sum(1 for r in ranges if r.page))

    monkeypatch.setattr(listing, "_launch", counted)
    return held


def _consumed_slowly(names: list[str], prefix: str, workers: int, buffered_pages: int) -> list[list[str]]:
    pages = []
    client: Any = _Bucket(names)  # a stand-in for the storage client
    for page in iter_objects_parallel(
        client, "b", prefix, workers=workers, page_size=20, buffered_pages=buffered_pages
    ):
        pages.append([info.name for info in page])
        time.sleep(0.0002)
    return pages


def test_a_slow_consumer_holds_a_bounded_number_of_pages(monkeypatch: pytest.MonkeyPatch) -> None:
    """About `buffered_pages`, and what the workers fetch ahead inside the range the consumer waits for: a
    few batches (up to 3 workers' worth was seen over these shapes)."""
    held = _held_pages(monkeypatch)
    rng = random.Random(5)
    for _ in range(6):
        shape = rng.choice([_random_strings, _numbered, _hashed, _nested, _skewed])
        prefix = rng.choice(_PREFIXES)
        expected = sorted({prefix + tail for tail in shape(rng, 5_000) if prefix + tail})
        names = sorted({*expected, *_neighbours(rng, prefix)})
        workers, buffered_pages = rng.choice([3, 16]), rng.choice([1, 5, 20])
        held.clear()
        pages = _consumed_slowly(names, prefix, workers, buffered_pages)
        _check(pages, expected, f"{shape.__name__} workers={workers} buffered={buffered_pages}")
        assert max(held, default=0) <= buffered_pages + 4 * workers, (
            shape.__name__,
            max(held),
            workers,
            buffered_pages,
        )


def _pair(rng: random.Random, prefix: str, chars: str) -> tuple[str, str]:
    low = prefix + _text(rng, chars, 0, rng.choice([2, 10, 60]))
    shape = rng.random()
    if shape < 0.3:  # high extends low
        high = low + _text(rng, chars, 1, 10)
    elif shape < 0.6:  # they share a run
        high = low[: rng.randint(len(prefix), len(low))] + _text(rng, chars, 1, 10)
    else:
        high = prefix + _text(rng, chars, 0, 60)
    return min(low, high), max(low, high)


def test_cut_names_fall_strictly_inside_under_the_prefix_in_increasing_order() -> None:
    rng = random.Random(42)
    checked = 0
    while checked < 12_000:
        chars = rng.choice(_CHARSETS) + (rng.choice(_CHARSETS) if rng.random() < 0.3 else "")
        prefix = rng.choice(_PREFIXES)
        low, high = _pair(rng, prefix, chars)
        if low == high:
            continue
        alphabet = Alphabet(_text(rng, chars, 0, 3))
        if rng.random() < 0.8:
            alphabet.add_all(
                [_text(rng, chars, 0, rng.choice([3, 15, 80])) for _ in range(rng.randrange(30))]
            )
        first = None
        if rng.random() < 0.6:  # the first name of the full page that ended at `low`: at or before it
            candidate = low[: rng.randint(len(prefix), len(low))] + _text(rng, chars, 0, 4)
            first = min(candidate, low)
        end = None if rng.random() < 0.3 else high
        pieces = rng.choice([1, 2, 3, 16, 64])
        cuts = cut_names(low, end, alphabet, pieces, prefix=prefix, first=first)
        case = (low, end, pieces, prefix, first, cuts)
        assert len(cuts) <= max(0, pieces - 1), case
        assert all(cut.startswith(prefix) and cut > low for cut in cuts), case
        assert end is None or all(cut < end for cut in cuts), case
        assert all(a < b for a, b in pairwise(cuts)), case
        checked += 1


@pytest.mark.parametrize("first", [0x4E00, 0x1F300])  # CJK, emoji
def test_requests_stay_near_the_pages_for_names_of_non_ascii_characters(first: int) -> None:
    """When a range's own ends counted as seen only where they were ASCII digits or letters, a CJK or
    emoji character no sampled name showed at its position counted as the next one seen, often the one
    `high` starts with, so every cut landed just below `high`, among no names, and the whole range went
    to one cursor (20,000 random CJK names: 252 requests for 20 pages, against 28 before per-position
    alphabets). Past ASCII, every character seen anywhere now counts at every position."""
    rng = random.Random(3)
    names = sorted(
        {"p/" + "".join(chr(first + rng.randrange(20_000)) for _ in range(4)) for _ in range(20_000)}
    )
    bucket = _Bucket(names)
    _check(_listed_objects(bucket, "p/", page_size=1000, workers=16, buffered_pages=256), names, "non-ASCII")
    assert bucket.requests <= len(names) / 1000 * 2.5 + 6 * 16, bucket.requests
