"""The nearest of some known names to a misspelt one: for "did you mean" in messages, wherever they are."""

from __future__ import annotations

import difflib
from collections.abc import Iterable


def fold(name: str) -> str:
    return name.lower().replace("_", "").replace("-", "").replace(" ", "")


def nearest(name: str, choices: Iterable[str], *, cutoff: float = 0.6) -> str | None:
    """A choice spelt the same but for case, `_`, `-` and spaces wins (`imageGroups` -> `image_groups`);
    else the closest one, if close enough."""
    options = list(choices)
    folded = fold(name)
    same = [choice for choice in options if fold(choice) == folded]
    # A word that begins exactly one choice is a shortening of it (`dicom` -> `dicom_series`).
    begun = [choice for choice in options if len(folded) >= 3 and fold(choice).startswith(folded)]
    close = (
        same
        or (begun if len(begun) == 1 else [])
        or difflib.get_close_matches(name, options, n=1, cutoff=cutoff)
    )
    return close[0] if close else None
