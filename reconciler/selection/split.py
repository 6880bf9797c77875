"""Stable splits: each item to one of several named parts by a hash of its identity and a seed (issue 17).

Pure functions. An item's place on [0, 1) is
SHA-256 of the seed and its identity (its object URL, a group's key, or, with `group_by`, the value of a
metadata key, so that all frames of one drive land together), read as a fraction. The parts take
consecutive intervals in the order they are written, sized by their weights. So:

- the parts are disjoint by construction, and every item lands in exactly one;
- an item keeps its part when other items arrive or leave (its place depends on nothing else);
- changing the weights moves only the items whose place crosses a moved boundary; changing the seed moves
  about everything. The plan counts the moves from what each part links now.
"""

from __future__ import annotations

import hashlib
from bisect import bisect_right
from collections.abc import Iterable
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

    def assign(self, identities: Iterable[str]) -> dict[str, str]:
        bounds = self.bounds
        last = len(self.parts) - 1
        return {i: self.parts[min(bisect_right(bounds, self.place(i)), last)][0] for i in identities}
