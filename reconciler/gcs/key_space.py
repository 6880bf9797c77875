"""Names placed between two names of a bucket listing: where the parallel listing (listing.py) cuts the
key space.

A cut name is a number whose digits are each position's own characters (`Alphabet`: those seen there in a
sample of the names listed, completed as names are written; past ASCII, every character seen anywhere).
One alphabet for every position put cuts of `img/0001234.jpg` at `img/0001g...`, among names no object
has: half the requests of a nested or numbered million were for empty ranges.
"""

from __future__ import annotations

import string
from bisect import bisect_left
from itertools import zip_longest
from os.path import commonprefix

# Characters of the interpolated cut names after their common stem: enough to place a cut precisely in
# any realistic key space, short enough to be a cheap offset.
_CUT_DIGITS = 12
_MAX_CUT_DIGITS = 40
_COUNTER_DIGITS = 5
_PAST_ASCII = "\x80"
_KINDS = (frozenset(string.digits), frozenset(string.ascii_lowercase), frozenset(string.ascii_uppercase))
_PAGE_PIECES = 4  # pieces of one page after a full page's end, before they widen
_PAGE_FILL_PERCENT = 85  # a piece's share of a page, by the density of the page before it: most fit in one


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
        split = bisect_left(found, _PAST_ASCII)
        kinds = [kind for kind in _KINDS if not kind.isdisjoint(found[:split])] if bound else []
        extra = also + "".join(c for c in bound if c >= _PAST_ASCII or any(c in kind for kind in kinds))
        narrow = {c for c in extra if c < _PAST_ASCII}.difference(found[:split])
        if narrow:  # the ASCII part completed again with them: a few characters at most
            found = "".join(sorted(_filled({*found[:split], *narrow}))) + found[split:]
        for c in extra:  # past ASCII, each put in its place
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
    as on that page near it: `_PAGE_PIECES` pieces of a little under a page, then each twice as wide. Up
    to the end of the prefix, where anything may follow, the cuts run from one page's span to the whole
    rest, evenly in log scale, so that both a dense run and distant "directories" get a piece. Without
    `first`, the cuts are even."""
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
    # Each position's digits, most significant first. The range's own ends count as seen: the pages so far
    # may show only `0` where `high` has `7`. Of `high`, only its first character after the stem: the rest
    # of a cut's characters are arbitrary.
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
    return commonprefix([a, b])  # noqa: RUF071 (names, not paths: character by character is meant)
