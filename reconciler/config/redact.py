"""A value that came from the environment is never echoed in a message: it is shown as written.

`${VAR}` interpolation records, per file, each value it made from the environment (mapped to the text as
the file writes it, e.g. `raw/${TEAM}`) and each variable's own value (mapped to `${TEAM}`). A message is
scrubbed of them in one pass: a value of 4 characters or more wherever it stands as a whole word, a
shorter one only where it is quoted ('...' or "..."), the form messages give names in; a word of the
format itself (`sandbox`, `gcp`...) or a number is left as is, being no secret. A scalar that
held a secret by mistake (a token in `timeout_seconds`, a key in a folder name) is then named by its
variable, never printed, whichever check happens to reject it.

The CLI keeps what it loaded for its one run (`remember`, `forget`) so that errors raised far from the
loader (data files, the plan) are scrubbed too, at the one place errors are printed.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping

_SHORT = 4  # shorter values are replaced only where quoted: "a" or "1" would hit words and numbers
_WORD = "A-Za-z0-9_"

_remembered: dict[str, str] = {}


@functools.cache
def vocabulary() -> frozenset[str]:
    """The words of the configuration format itself (`sandbox`, `gcp`, `enum`, `true`...): a variable
    that holds one is no secret, and messages that list the choices must not show it as `${VAR}`."""
    from reconciler.config.jsonschema import schema_objects

    words: set[str] = {"true", "false", "null", "yes", "no", "on", "off"}
    for node in schema_objects():
        for key in ("enum", "const"):
            found = node.get(key)
            words.update(str(v) for v in (found if isinstance(found, list) else [found]) if v is not None)
    return frozenset(words)


def _plain(value: str) -> bool:
    """A value too plain to hide: a word of the format, or a number."""
    text = value.strip()
    if text.lower() in vocabulary():
        return True
    try:
        float(text)
    except ValueError:
        return False
    return True


class Redactor:
    """Replaces values with how they are written; built once per set of values."""

    def __init__(self, values: Mapping[str, str]) -> None:
        self.shown: dict[str, str] = {}
        alternatives: list[str] = []
        for value in sorted((v for v in values if v.strip() and not _plain(v)), key=len, reverse=True):
            shown = values[value]
            if len(value) >= _SHORT:
                self.shown[value] = shown
                alternatives.append(f"(?<![{_WORD}]){re.escape(value)}(?![{_WORD}])")
            else:
                for quote in "'\"":
                    self.shown[quote + value + quote] = quote + shown + quote
                    alternatives.append(re.escape(quote + value + quote))
        self.pattern = re.compile("|".join(alternatives)) if alternatives else None

    def __call__(self, text: str) -> str:
        if self.pattern is None:
            return text
        return self.pattern.sub(lambda match: self.shown[match.group(0)], text)


def redactor(written: Mapping[str, str], variables: Mapping[str, str]) -> Redactor:
    """`written`: expanded value -> as written; `variables`: a variable's value -> `${NAME}`. A whole
    expanded value is shown as written, which names its variables; a variable's value alone (part of a
    longer value a message cut up) as `${NAME}`."""
    return Redactor({**variables, **written})


def remember(written: Mapping[str, str], variables: Mapping[str, str]) -> None:
    """Values of this run to scrub from every message the CLI prints."""
    for value, shown in variables.items():
        _remembered.setdefault(value, shown)
    for value, shown in written.items():
        _remembered[value] = shown


def forget() -> None:
    _remembered.clear()


def scrub(text: str) -> str:
    """`text` without any value this run took from the environment."""
    return Redactor(_remembered)(text) if _remembered else text
