"""List a bucket prefix as disjoint name ranges fetched at once, merged back into name order.

One cursor pays a round trip per 1,000 names: a million objects at 50 ms a page take 50 s. GCS lists in
name order and accepts `startOffset` (inclusive) and `endOffset` (exclusive), so any range of the key
space can be listed on its own. The listing starts as one range; when a page comes back full, the rest
of its range (after the page's last name) is cut into as many ranges as there are idle workers, at names
interpolated between that last name and the range's end over the characters seen so far. A range that
turns out dense is cut again when its page returns, so the cuts follow the real distribution of names
whatever their shape (numbered, hashed, nested in "directories", skewed), without a delimiter listing.

Each request is one page of one range, and pages are yielded strictly in name order. At most
`GCS_LISTING_BUFFERED_PAGES` fetched pages wait for the consumer: beyond that only the range the consumer
waits for is fetched, so memory stays bounded however slow the consumer is.

A server that ignores the offsets (an emulator) is noticed by a name outside its range; the listing then
falls back to one cursor, skipping what was already yielded. One that does not page (gcp-storage-emulator)
answers everything in the first request, and nothing is cut.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass

from google.cloud import storage

from reconciler.defaults import GCS_LISTING_BUFFERED_PAGES, GCS_LISTING_WORKERS, GCS_PAGE_SIZE
from reconciler.gcs.buckets import ObjectInfo, iter_objects, object_pages
from reconciler.gcs.client import translate_errors

# Characters of the interpolated cut names after their common stem: enough to place a cut precisely in
# any realistic key space, short enough to be a cheap offset.
_CUT_DIGITS = 12
_MAX_CUT_DIGITS = 40


@dataclass
class _Range:
    """Names in [start, end) under the prefix, `after` excluded (already listed); None: unbounded."""

    start: str | None = None
    end: str | None = None
    after: str | None = None
    first: str | None = None  # the first name of the full page this range is the rest of (cuttable)
    token: str | None = None  # continue this very range (a page with no names but more to come)
    page: list[ObjectInfo] | None = None  # fetched: its names, in order
    future: Future[tuple[list[ObjectInfo], str | None]] | None = None


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
    last: str | None = None
    try:
        for page in _ranges(client, bucket, prefix, workers, page_size, buffered_pages):
            last = page[-1].name
            yield page
    except _OffsetsIgnored:
        for page in iter_objects(client, bucket, prefix, page_size):
            rest = page if last is None else [info for info in page if info.name > last]
            if rest:
                yield rest


def cut_names(
    low: str, high: str | None, alphabet: str, pieces: int, *, prefix: str = "", first: str | None = None
) -> list[str]:
    """Up to `pieces - 1` names strictly between `low` and `high` (None: the end of `prefix`), in order.

    Names are placed as numbers, their characters after the common stem read as digits of `alphabet`
    (the sorted characters seen so far). `first`, the first name of a full page that ended at `low`,
    tells how much of that space a page spans there. Up to `high`, names are taken to be as dense as on
    that page: about one piece per page, evenly. Up to the end of the prefix, where anything may follow,
    the cuts run from one page's span to the whole rest, evenly in log scale, so that both a dense run
    and distant "directories" get a piece. Without `first`, the cuts are even."""
    if pieces < 2 or not alphabet:
        return []
    stem = prefix if high is None else _common_prefix(low, high)
    # Enough characters to tell `first` from `low`, and a few more to place cuts between them.
    digits = _CUT_DIGITS
    if first is not None:
        digits = max(digits, len(_common_prefix(first, low)) - len(stem) + _CUT_DIGITS // 2)
        digits = min(digits, _MAX_CUT_DIGITS)  # beyond it, names differ too late to cut between
    base = len(alphabet)

    def value(name: str) -> int:
        number = 0
        tail = name[len(stem) : len(stem) + digits]
        for c in tail:
            number = number * base + min(bisect_left(alphabet, c), base - 1)
        return number * int(base ** (digits - len(tail)))

    lo = value(low)
    hi = int(base**digits) if high is None else value(high)
    step = lo - value(first) if first is not None else 0  # what one page spans, near `low`
    span = hi - lo
    if step > 0 and high is not None:  # as dense as that page: about as many pieces as pages
        pieces = max(1, min(pieces, -(-span // step)))
        offsets = [span * j // pieces for j in range(1, pieces)]
    elif step > 0:  # up to the end of the prefix, where anything may be: from one page's span to it all,
        ratio = (span / step) ** (1 / (pieces - 1))  # evenly in log scale
        offsets = [int(step * ratio ** (j - 1)) for j in range(1, pieces)]
    else:
        offsets = [span * j // pieces for j in range(1, pieces)]
    cuts: list[str] = []
    for offset in offsets:
        number = lo + offset
        if number >= hi:
            break
        chars = []
        for _ in range(digits):
            number, digit = divmod(number, base)
            chars.append(alphabet[digit])
        cut = stem + "".join(reversed(chars)).rstrip(alphabet[0])
        if cut > low and (high is None or cut < high) and (not cuts or cut > cuts[-1]):
            cuts.append(cut)
    return cuts


def _common_prefix(a: str, b: str) -> str:
    at = 0
    while at < min(len(a), len(b)) and a[at] == b[at]:
        at += 1
    return a[:at]


def _ranges(
    client: storage.Client, bucket: str, prefix: str, workers: int, page_size: int, buffered_pages: int
) -> Iterator[list[ObjectInfo]]:
    ranges = [_Range()]  # in name order, disjoint, covering what is not yet yielded
    seen: set[str] = set()  # the characters of the names listed so far, after the prefix

    def fetch(wanted: _Range) -> tuple[list[ObjectInfo], str | None]:
        return _fetch(client, bucket, prefix, wanted, page_size)

    pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="gcs-listing")
    try:
        while ranges:
            while ranges and ranges[0].page is not None:
                done = ranges.pop(0)
                if done.page:
                    yield done.page
            if not ranges:
                return
            _launch(pool, ranges, workers, buffered_pages, fetch, prefix, "".join(sorted(seen)))
            flying = {r.future: r for r in ranges if r.future is not None}
            finished, _ = wait(flying, return_when=FIRST_COMPLETED)
            for future in finished:
                fetched = flying[future]
                fetched.future = None
                infos, token = future.result()
                page = fetched.page = _within(fetched, infos, prefix)
                seen.update("".join(info.name[len(prefix) :] for info in page))
                if token is not None:  # the rest of the range, to be cut when it is launched
                    rest = (
                        _Range(page[-1].name, fetched.end, after=page[-1].name, first=page[0].name)
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
    fetch: Callable[[_Range], tuple[list[ObjectInfo], str | None]],
    prefix: str,
    alphabet: str,
) -> None:
    """Start the earliest ranges not yet asked for, up to `workers` in flight, first cutting the rests
    of full pages so that no worker idles; past `buffered_pages` waiting pages, only ranges before the
    first of them: what the consumer waits for."""
    flying = sum(1 for r in ranges if r.future is not None)
    held = flying + sum(1 for r in ranges if r.page)  # pages fetched or on their way, not yet consumed
    if held >= buffered_pages:  # only what the consumer waits for: what comes before every waiting page
        reach = next((i for i, r in enumerate(ranges) if r.page is not None), len(ranges))
        room = buffered_pages + workers - held
    else:
        reach, room = len(ranges), workers
    pending = [r for r in ranges[:reach] if r.future is None and r.page is None]
    rests = [r for r in pending if r.first is not None]
    spare = min(workers - flying, room) - len(pending)
    before = len(ranges)
    for n, rest in enumerate(rests):
        if spare <= 0:
            break
        share = spare // (len(rests) - n)  # spread the spare workers over the rests still to cut
        pieces = _cut(rest, prefix, alphabet, share + 1)
        at = ranges.index(rest)
        ranges[at : at + 1] = pieces
        spare -= len(pieces) - 1
    for candidate in ranges[: reach + len(ranges) - before]:  # the cuts added ranges before `reach`
        if flying >= workers or (room <= 0 and candidate is not ranges[0]):
            return
        if candidate.future is None and candidate.page is None:
            candidate.future = pool.submit(fetch, candidate)
            flying += 1
            room -= 1


def _cut(rest: _Range, prefix: str, alphabet: str, pieces: int) -> list[_Range]:
    """The rest of a range after a full page, cut into up to `pieces` ranges about a page wide each."""
    assert rest.start is not None
    cuts = cut_names(rest.start, rest.end, alphabet, pieces, prefix=prefix, first=rest.first)
    bounds = [rest.start, *cuts, rest.end]
    return [
        _Range(bounds[i], bounds[i + 1], after=rest.after if i == 0 else None) for i in range(len(bounds) - 1)
    ]


def _within(fetched: _Range, infos: list[ObjectInfo], prefix: str) -> list[ObjectInfo]:
    """The page's names that belong to the range; a name before or past it means offsets are ignored."""
    kept = []
    for info in infos:
        name = info.name
        if (fetched.start is not None and name < fetched.start) or (
            fetched.end is not None and name >= fetched.end
        ):
            raise _OffsetsIgnored
        if name != fetched.after and name.startswith(prefix):
            kept.append(info)
    return kept


def _fetch(
    client: storage.Client, bucket: str, prefix: str, wanted: _Range, page_size: int
) -> tuple[list[ObjectInfo], str | None]:
    """One page of one range: its objects and whether (the token by which) more follow."""
    with translate_errors(bucket, "list objects in"):
        listing = object_pages(
            client,
            bucket,
            prefix,
            page_size=page_size,
            start=wanted.start,
            end=wanted.end,
            token=wanted.token,
        )
        infos = list(next(listing.pages))
        return infos, listing.next_page_token
