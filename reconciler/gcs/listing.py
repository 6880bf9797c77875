"""List a bucket prefix as disjoint name ranges fetched at once, merged back into name order.

One cursor pays a round trip per 1,000 names: a million objects at 50 ms a page take 50 s. GCS lists in
name order and accepts `startOffset` (inclusive) and `endOffset` (exclusive), so any range of the key
space can be listed on its own. The listing starts as one range. When a page comes back full, the rest
of its range (after the page's last name) is cut at once, at names placed by value: up to the range's
end, into four pieces of a little under a page (by the density of that page), then pieces twice as wide
each (the names may stop farther on, where a "directory" ends), at most `_MAX_PIECES`; up to the end of
the prefix, where anything may follow, into one piece a worker, from one page's span to everything in
log steps. A piece is cut again only when its own page comes back full, so the cuts follow the real
distribution of names whatever their shape (numbered, hashed, nested in "directories", skewed), without
a delimiter listing.

Cut names are placed by `key_space.py` (each position's own characters). Files at every level of a
deep tree are the worst known shape: about 12 requests a page (tests/unit/test_gcs_listing.py).

Each request is one page of one range, and pages are yielded strictly in name order. Past
`GCS_LISTING_BUFFERED_PAGES` pages held, only the ranges before the first held page are fetched (what
the consumer waits for), still with every worker, so a slow consumer holds about that many pages and
what the workers fetch ahead inside the range it waits for. Holding back harder (one cursor on the range
the consumer waits for) made a million names three times slower. Known exception: names sharing a run of
about 1,000 characters that end at different depths of it (each depth a page come back full, its rest
cut, its pieces full again) can hold far more: 8,000 such names at 20 a page with 5 buffered pages held
110-270 pages in a review's runs.

A server that ignores the offsets (an emulator) is noticed by a name outside its range; the listing then
falls back to one cursor, skipping what was already yielded. One that does not page (gcp-storage-emulator)
answers everything in the first request, and nothing is cut.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from typing import Any

from google.cloud import storage

from reconciler.defaults import GCS_LISTING_BUFFERED_PAGES, GCS_LISTING_WORKERS, GCS_PAGE_SIZE
from reconciler.gcs.buckets import LISTING_FIELDS, NAME_FIELDS, ObjectInfo, list_page, object_info
from reconciler.gcs.key_space import Alphabet, cut_names

# Every 7th name of a page, for the characters names use: 7 is prime to 10 and 16, so consecutive
# numbers show every last digit.
_SAMPLE_EVERY = 7
_SAMPLED_PAGES = 32  # every page's sample for the first pages, then one page's in that many
_MAX_PIECES = 64  # of one rest at once: a long one is cut again when its pieces' pages come back full


@dataclass(eq=False)  # ranges are found by identity
class _Range:
    """Names in [start, end) under the prefix, `after` excluded (already listed); None: unbounded."""

    start: str | None = None
    end: str | None = None
    after: str | None = None
    first: str | None = None  # the first name of the full page this range is the rest of (cuttable)
    token: str | None = None  # continue this very range (a page with no names but more to come)
    page: list[str] | None = None  # fetched: its names, in order
    values: list[Any] | None = None  # ... and what the caller gets for them (the names, or ObjectInfo)
    future: Future[_Fetched] | None = None


_Fetched = tuple[list[str], list[Any], str | None]  # names, values, the token of more


class _OffsetsIgnored(Exception):
    """The server answered a range with a name outside it."""


def iter_objects_parallel(
    client: storage.Client,
    bucket: str,
    prefix: str,
    *,
    workers: int = GCS_LISTING_WORKERS,
    page_size: int = GCS_PAGE_SIZE,
    buffered_pages: int = GCS_LISTING_BUFFERED_PAGES,
) -> Iterator[list[ObjectInfo]]:
    """Every object whose name starts with `prefix`, in name order, in non-empty pages, listed by up to
    `workers` requests at once."""
    yield from _listed(client, bucket, prefix, workers, page_size, buffered_pages, object_info)


def iter_names_parallel(
    client: storage.Client, bucket: str, prefix: str, *, workers: int = GCS_LISTING_WORKERS
) -> Iterator[list[str]]:
    """The names alone, as `iter_objects_parallel` lists them (what a registration plan needs; only the
    names are asked for, and held)."""
    yield from _listed(client, bucket, prefix, workers, GCS_PAGE_SIZE, GCS_LISTING_BUFFERED_PAGES, None)


def _listed(
    client: storage.Client,
    bucket: str,
    prefix: str,
    workers: int,
    page_size: int,
    buffered_pages: int,
    convert: Callable[[dict[str, Any]], Any] | None,
) -> Iterator[list[Any]]:
    def fetch(wanted: _Range) -> _Fetched:
        items, token = list_page(
            client,
            bucket,
            prefix,
            page_size=page_size,
            start=wanted.start,
            end=wanted.end,
            token=wanted.token,
            fields=LISTING_FIELDS if convert is not None else NAME_FIELDS,
        )
        names = [item["name"] for item in items]  # converted here, in the worker: the consumer only merges
        return names, names if convert is None else [convert(item) for item in items], token

    last: str | None = None
    try:
        for names, values in _ranges(fetch, prefix, workers, buffered_pages):
            last = names[-1]
            yield values
    except _OffsetsIgnored:
        rest = _Range(token=None)
        while True:
            names, values, rest.token = fetch(rest)
            kept = [v for n, v in zip(names, values, strict=True) if last is None or n > last]
            if kept:
                yield kept
            if rest.token is None:
                return


def _ranges(
    fetch: Callable[[_Range], _Fetched], prefix: str, workers: int, buffered_pages: int
) -> Iterator[tuple[list[str], list[Any]]]:
    ranges = [_Range()]  # in name order, disjoint, covering what is not yet yielded
    alphabet = Alphabet()  # the characters of the names listed so far, by position after the prefix
    sampled = 0
    pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="gcs-listing")
    try:
        while ranges:
            while ranges and ranges[0].page is not None:
                done = ranges.pop(0)
                if done.page:
                    yield done.page, done.values or []
            if not ranges:
                return
            _launch(pool, ranges, workers, buffered_pages, fetch, prefix, alphabet)
            flying = {r.future: r for r in ranges if r.future is not None}
            finished, _ = wait(flying, return_when=FIRST_COMPLETED)
            for future in finished:
                fetched = flying[future]
                fetched.future = None
                names, values, token = future.result()
                skip = _skipped(fetched, names, prefix)
                page = fetched.page = names[skip:]
                fetched.values = values[skip:]
                # The characters names use, from a sample: enough to place cuts, cheap per page.
                if sampled < _SAMPLED_PAGES or sampled % _SAMPLED_PAGES == 0:  # enough to learn, then less
                    alphabet.add_all([name[len(prefix) :] for name in page[::_SAMPLE_EVERY]])
                sampled += 1
                if token is not None:  # the rest of the range, to be cut when it is launched
                    rest = (
                        _Range(page[-1], fetched.end, after=page[-1], first=page[0])
                        if page
                        else _Range(fetched.start, fetched.end, after=fetched.after, token=token)
                    )
                    ranges.insert(ranges.index(fetched) + 1, rest)
    finally:
        pool.shutdown(wait=False, cancel_futures=True)


def _launch(
    pool: ThreadPoolExecutor,
    ranges: list[_Range],
    workers: int,
    buffered_pages: int,
    fetch: Callable[[_Range], _Fetched],
    prefix: str,
    alphabet: Alphabet,
) -> None:
    """Start the earliest ranges not yet asked for, up to `workers` in flight, first cutting the rests
    of full pages so that no worker idles. Past `buffered_pages` pages held, only ranges before the first
    waiting page, still with every worker: that is what the consumer waits for, and holding back there
    (one cursor on a long range while the pages after it wait) would make the listing sequential."""
    flying = sum(1 for r in ranges if r.future is not None)
    held = flying + sum(1 for r in ranges if r.page)  # pages fetched or on their way, not yet consumed
    # Past the buffer, only what the consumer waits for: what comes before every waiting page.
    reach = _first_held(ranges) if held >= buffered_pages else len(ranges)
    # The rests of full pages, cut at once where that page says names are (toward the end of the prefix:
    # one piece a worker, in log steps). A piece is cut again only when its own page comes back full:
    # cutting only for idle workers left long ranges to one cursor each.
    at = 0
    while at < reach:
        rest = ranges[at]
        if rest.first is not None and rest.future is None and rest.page is None:
            pieces = _cut(rest, prefix, alphabet, workers if rest.end is None else _MAX_PIECES)
            ranges[at : at + 1] = pieces
            reach += len(pieces) - 1
            at += len(pieces)
        else:
            at += 1
    pending = [r for r in ranges[:reach] if r.future is None and r.page is None]
    # When workers would still idle, unstarted ranges with an end, cut evenly: the range the consumer
    # waits for may be long.
    unknown = [r for r in pending if r.end is not None and r.token is None]
    spare = workers - flying - len(pending)
    for n, rest in enumerate(unknown):
        if spare <= 0:
            break
        share = spare // (len(unknown) - n)  # spread the spare workers over the ranges still to cut
        pieces = _cut(rest, prefix, alphabet, share + 1)
        at = ranges.index(rest)
        ranges[at : at + 1] = pieces
        spare -= len(pieces) - 1
    waiting = _first_held(ranges)
    for at, candidate in enumerate(ranges):
        if flying >= workers or (at > waiting and held >= buffered_pages):
            return
        if candidate.future is None and candidate.page is None:
            candidate.future = pool.submit(fetch, candidate)
            flying += 1
            held += 1


def _first_held(ranges: list[_Range]) -> int:
    """Where the first fetched page waits for the consumer (the end: none waits)."""
    return next((i for i, r in enumerate(ranges) if r.page is not None), len(ranges))


def _cut(rest: _Range, prefix: str, alphabet: Alphabet, pieces: int) -> list[_Range]:
    """A range cut into up to `pieces` ranges where `cut_names` places them."""
    if rest.start is None:  # the very first range: nothing known yet to cut by
        return [rest]
    cuts = cut_names(rest.start, rest.end, alphabet, pieces, prefix=prefix, first=rest.first)
    bounds = [rest.start, *cuts, rest.end]
    return [
        _Range(bounds[i], bounds[i + 1], after=rest.after if i == 0 else None) for i in range(len(bounds) - 1)
    ]


def _skipped(fetched: _Range, names: list[str], prefix: str) -> int:
    """How many names at the page's head are not the range's (the name it starts after, listed already).
    A page is in name order, so its ends tell: a name before or past the range (or outside the prefix)
    means the server ignores the offsets."""
    if not names:
        return 0
    first, last = names[0], names[-1]
    if (
        (fetched.start is not None and first < fetched.start)
        or (fetched.end is not None and last >= fetched.end)
        or not (first.startswith(prefix) and last.startswith(prefix))
    ):
        raise _OffsetsIgnored
    return 1 if first == fetched.after else 0
