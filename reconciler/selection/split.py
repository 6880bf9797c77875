"""Stable splits: each item to one of several named parts by a hash of its identity and a seed (issue 17).

Pure functions. An item's place on [0, 1) is
SHA-256 of the seed and its identity (its object URL, a group's key, or, with `group_by`, the value of a
metadata key, so that all frames of one drive land together), read as a fraction. The parts take
consecutive intervals in the order they are written, sized by their weights. So:

- the parts are disjoint by construction, and every item lands in exactly one;
- an item keeps its part when other items arrive or leave (its place depends on nothing else);
- changing the weights moves only the items whose place crosses a moved boundary, and the plan can name
  them (`moves`); changing the seed moves about everything, and says so.
"""

from __future__ import annotations

import hashlib
from bisect import bisect_right
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from itertools import accumulate

_SCALE = 2**64


@dataclass(frozen=True)
class Split:
    seed: str
    parts: tuple[tuple[str, float], ...]  # (name, weight) in the order written

    @property
    def bounds(self) -> list[float]:
        """The upper end of each part's interval (the last is 1.0)."""
        total = sum(weight for _, weight in self.parts)
        ends = list(accumulate(weight / total for _, weight in self.parts))
        ends[-1] = 1.0  # no rounding gap at the top
        return ends

    def place(self, identity: str) -> float:
        digest = hashlib.sha256(f"{self.seed}\0{identity}".encode()).digest()
        return int.from_bytes(digest[:8], "big") / _SCALE

    def part_of(self, identity: str) -> str:
        at = bisect_right(self.bounds, self.place(identity))
        return self.parts[min(at, len(self.parts) - 1)][0]

    def assign(self, identities: Iterable[str]) -> dict[str, str]:
        bounds = self.bounds
        last = len(self.parts) - 1
        return {i: self.parts[min(bisect_right(bounds, self.place(i)), last)][0] for i in identities}


def split_problems(seed: object, parts: Mapping[str, object]) -> list[str]:
    """What is wrong with a split as written: a seed, at least two parts, positive weights."""
    problems = []
    if not isinstance(seed, str | int) or isinstance(seed, bool):
        problems.append("seed: must be a string or an integer (written down, so splits stay stable)")
    if len(parts) < 2:
        problems.append("datasets: a split needs at least two parts")
    for name, weight in parts.items():
        if isinstance(weight, bool) or not isinstance(weight, int | float) or not weight > 0:
            problems.append(f"datasets.{name}: the weight must be a positive number, got {weight!r}")
    return problems


def moves(before: Split, after: Split, identities: Iterable[str]) -> dict[tuple[str, str], list[str]]:
    """The items that change part between two versions of a split: (from, to) -> identities, sorted."""
    was, now = before.assign(identities), after.assign(identities)
    moved: dict[tuple[str, str], list[str]] = {}
    for identity, part in now.items():
        if was[identity] != part:
            moved.setdefault((was[identity], part), []).append(identity)
    return {pair: sorted(ids) for pair, ids in sorted(moved.items())}
