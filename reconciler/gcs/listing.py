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

Cut names are numbers whose digits are each position's own characters (`Alphabet`: those seen there in
a sample of the names listed, completed as names are written; past ASCII, every character seen
anywhere). One alphabet for every position put cuts of `img/0001234.jpg` at `img/0001g...`, among names
no object has: half the requests of a nested or numbered million were for empty ranges. Files at every
level of a deep tree are the worst known shape: about 12 requests a page (tests/unit/test_gcs_listing.py).

Each request is one page of one range, and pages are yielded strictly in name order. Past
`GCS_LISTING_BUFFERED_PAGES` pages held, only the ranges before the first held page are fetched (what
the consumer waits for), still with every worker, so a slow consumer holds about that many pages and
what the workers fetch ahead inside the range it waits for. Holding back harder (one cursor on the range
the consumer waits for) made a million names three times slower.

A server that ignores the offsets (an emulator) is noticed by a name outside its range; the listing then
falls back to one cursor, skipping what was already yielded. One that does not page (gcp-storage-emulator)
answers everything in the first request, and nothing is cut.
"""

from __future__ import annotations

import string
from bisect import bisect_left
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from itertools import zip_longest
from typing import Any

from google.cloud import storage

from reconciler.defaults import GCS_LISTING_BUFFERED_PAGES, GCS_LISTING_WORKERS, GCS_PAGE_SIZE
from reconciler.gcs.buckets import LISTING_FIELDS, NAME_FIELDS, ObjectInfo, list_page, object_info

# Characters of the interpolated cut names after their common stem: enough to place a cut precisely in
# any realistic key space, short enough to be a cheap offset.
_CUT_DIGITS = 12
_MAX_CUT_DIGITS = 40
# Every 7th name of a page, for the characters names use: 7 is prime to 10 and 16, so consecutive
# numbers show every last digit.
_SAMPLE_EVERY = 7
_SAMPLED_PAGES = 32  # every page's sample for the first pages, then one page's in that many
_COUNTER_DIGITS = 5
_PAST_ASCII = "\x80"
_KINDS = (frozenset(string.digits), frozenset(string.ascii_lowercase), frozenset(string.ascii_uppercase))
_MAX_PIECES = 64  # of one rest at once: a long one is cut again when its pieces' pages come back full
_PAGE_PIECES = 4  # pieces of one page after a full page's end, before they widen
_PAGE_FILL_PERCENT = 85  # a piece's share of a page, by the density of the page before it: most fit in one


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


class Alphabet:
    """The characters names use at each position after the prefix, from a sample of the names listed.

    Cuts are placed with each position's own characters: one alphabet for the whole name would put most
    cuts of `img/0001234.jpg` at characters no name has there (`img/0001g...`), in empty ranges. Toward
    the end of the prefix, where no name has been seen yet, a position may also take any character seen
    anywhere that sorts after its own (the first page of `frame_0` ... `frame_10897` shows only `0` and `1`
    after `frame_`, and `frame_2` ... `frame_9` follow)."""

    def __init__(self, chars: str = "") -> None:
        self._at: list[set[str]] = []
        self._any = set(chars)  # positions past the longest name seen
        self._sorted: dict[tuple[int, bool], str] = {}
        self._beyond: str | None = None  # every character past ASCII seen, sorted

    def add_all(self, tails: list[str]) -> None:
        """Names' characters after the prefix."""
        for position, column in enumerate(zip_longest(*tails, fillvalue="")):
            if position == len(self._at):
                self._at.append(set())
            self._at[position].update(column)
            self._any.update(column)
        for chars in self._at:
            chars.discard("")
        self._any.discard("")
        self._sorted.clear()
        self._beyond = None

    def at(self, position: int, *, onward: bool = False, also: str = "", bound: str = "") -> str:
        """The characters of `position`, sorted, and `also`, completed as names are written: digits seen
        mean those between them (`0` to `9` once `0` and `9` are seen), letters likewise in their case (hex:
        `a` to `f`). `bound` (a cut's character) only where its kind of character is seen: hex takes no `z`.
        `onward`: with those seen anywhere that sort after them. Past ASCII (CJK, accents,
        emoji), every character seen anywhere: a sample shows too few of them at one position, and they
        are not filled in as digits and letters are. (ASCII sorts first, so the two parts just join.)"""
        found = self._sorted.get((position, onward))
        if found is None:
            chars = _filled({c for c in self._chars(position) if c < _PAST_ASCII})
            if onward and chars:
                top = max(chars)
                chars |= {c for c in self._any if top < c < _PAST_ASCII}
            found = self._sorted[position, onward] = "".join(sorted(chars)) + self._beyond_ascii()
        ascii_part = found[: bisect_left(found, _PAST_ASCII)]
        kinds = [kind for kind in _KINDS if not kind.isdisjoint(ascii_part)] if bound else []
        bound = "".join(c for c in bound if c >= _PAST_ASCII or any(c in kind for kind in kinds))
        narrow = {c for c in also + bound if c < _PAST_ASCII} - set(ascii_part)
        if narrow:  # completed again with them: a few characters at most
            cut = bisect_left(found, _PAST_ASCII)
            found = "".join(sorted(_filled({*found[:cut], *narrow}))) + found[cut:]
        for c in also + bound:
            at = bisect_left(found, c)
            if c >= _PAST_ASCII and (at == len(found) or found[at] != c):
                found = found[:at] + c + found[at:]
        return found

    def _chars(self, position: int) -> set[str]:
        return self._at[position] if position < len(self._at) else self._any

    def _beyond_ascii(self) -> str:
        if self._beyond is None:
            self._beyond = "".join(sorted(c for c in self._any if c >= _PAST_ASCII))
        return self._beyond

    def __bool__(self) -> bool:
        return bool(self._any)


def _filled(chars: set[str]) -> set[str]:
    """`chars` and the characters between them of their kind; all ten digits once half are seen (a counter,
    whose later names use them all, where a field such as a day's tens keeps to the few it shows)."""
    filled = set(chars)
    for case in (string.digits, string.ascii_lowercase, string.ascii_uppercase):
        seen = [case.index(c) for c in chars if c in case]
        if len(seen) >= _COUNTER_DIGITS and case == string.digits:
            filled.update(case)
        elif seen:
            filled.update(case[min(seen) : max(seen) + 1])
    return filled


def cut_names(
    low: str,
    high: str | None,
    alphabet: Alphabet,
    pieces: int,
    *,
    prefix: str = "",
    first: str | None = None,
) -> list[str]:
    """Up to `pieces - 1` names strictly between `low` and `high` (None: the end of `prefix`), in order.

    Names are placed as numbers, their characters after the common stem read as digits, each position's
    digits being the characters seen there (`alphabet`). `first`, the first name of a full page that ended
    at `low`, tells how much of that space a page spans there. Up to `high`, names are taken to be as dense
    as on that page: about one piece per page, evenly. Up to the end of the prefix, where anything may
    follow, the cuts run from one page's span to the whole rest, evenly in log scale, so that both a dense
    run and distant "directories" get a piece. Without `first`, the cuts are even."""
    if pieces < 2 or not alphabet:
        return []
    stem = prefix if high is None else _common_prefix(low, high)
    if first is not None and not first.startswith(stem):  # the page began before the range's stem
        stem = _common_prefix(first, stem)
    # Enough characters to tell `first` from `low`, and a few more to place cuts between them.
    digits = _CUT_DIGITS
    if first is not None:
        shared = len(_common_prefix(first, low))
        digits = max(digits, shared - len(stem) + _CUT_DIGITS // 2)
        if digits > _MAX_CUT_DIGITS:  # a long shared run (`.../session-12345/frame_00`): place the cuts
            stem = low[: shared + _CUT_DIGITS // 2 - _MAX_CUT_DIGITS]  # near it, within a longer stem
            digits = _MAX_CUT_DIGITS
    skip = len(stem) - len(prefix)
    # Each position's digits, most significant first.
    # The range's own ends count as seen: the pages so far may show only `0` where `high` has `7`. Of
    # `high`, only its first character after the stem: the rest of a cut's characters are arbitrary.
    ends = [name[len(stem) : len(stem) + digits] for name in (low, first) if name is not None]
    bound = high[len(stem) : len(stem) + 1] if high is not None else ""
    places = [
        alphabet.at(
            skip + j,
            onward=high is None,
            also="".join(end[j : j + 1] for end in ends),
            bound=bound if j == 0 else "",
        )
        for j in range(digits)
    ]

    rests = [1] * (digits + 1)  # rests[j]: what one step of position j - 1 is worth
    for j in range(digits - 1, -1, -1):
        rests[j] = rests[j + 1] * len(places[j])

    def value(name: str) -> int:
        """Monotone in the name: a character a position has not seen counts as the next one it has
        (past its last: one more than its last), and the positions after it as their first."""
        number = 0
        for j, c in enumerate(name[len(stem) : len(stem) + digits]):
            chars = places[j]
            digit = bisect_left(chars, c)
            number = number * len(chars) + digit
            if digit == len(chars) or chars[digit] != c:
                return number * rests[j + 1]
        return number * rests[len(name) - len(stem)] if len(name) - len(stem) < digits else number

    lo = value(low)
    # Past the stem's own names when `high` lies beyond them (a stem moved forward, above).
    hi = rests[0] if high is None or not high.startswith(stem) else value(high)
    step = lo - value(first) if first is not None else 0  # what one page spans, near `low`
    span = hi - lo
    if step > 0 and high is not None:
        # As dense as that page near it: pieces of a little under a page, then twice as wide each, since
        # farther on the names may stop (a "directory" ends) and a wide piece is cut again when its page
        # comes back full, where pieces of a page each would all be asked for, empty.
        offsets: list[int] = []
        width, at = max(1, step * _PAGE_FILL_PERCENT // 100), 0
        while len(offsets) < pieces - 1:
            at += width
            if at >= span:
                break
            offsets.append(at)
            if len(offsets) >= _PAGE_PIECES:
                width *= 2
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
        digits_of = []
        for place in reversed(places):
            number, digit = divmod(number, len(place))
            digits_of.append(digit)
        digits_of.reverse()
        while digits_of and digits_of[-1] == 0:  # a trailing lowest digit: the name without it sorts first
            digits_of.pop()
        cut = stem + "".join(place[digit] for place, digit in zip(places, digits_of, strict=False))
        if cut > low and (high is None or cut < high) and (not cuts or cut > cuts[-1]):
            cuts.append(cut)
    return cuts


def _common_prefix(a: str, b: str) -> str:
    at = 0
    while at < min(len(a), len(b)) and a[at] == b[at]:
        at += 1
    return a[:at]


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
    reach = len(ranges)
    if held >= buffered_pages:  # only what the consumer waits for: what comes before every waiting page
        reach = next((i for i, r in enumerate(ranges) if r.page is not None), len(ranges))
    # The rests of full pages, cut at once into pieces of about a page where that page says names are
    # (toward the end of the prefix: one piece a worker, in log steps). A piece is cut again only when
    # its own page comes back full: cutting only for idle workers left long ranges to one cursor each.
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
        reach += len(pieces) - 1
        spare -= len(pieces) - 1
    waiting = next((i for i, r in enumerate(ranges) if r.page is not None), len(ranges))
    for at, candidate in enumerate(ranges):
        if flying >= workers or (at > waiting and held >= buffered_pages):
            return
        if candidate.future is None and candidate.page is None:
            candidate.future = pool.submit(fetch, candidate)
            flying += 1
            held += 1


def _cut(rest: _Range, prefix: str, alphabet: Alphabet, pieces: int) -> list[_Range]:
    """The rest of a range after a full page, cut into up to `pieces` ranges about a page wide each."""
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
