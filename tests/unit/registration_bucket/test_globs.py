"""Globs: anchored, `*` and `?` within a segment, `**` across directories, classes."""

from __future__ import annotations

import warnings

import pytest

from reconciler.registration.globs import GlobError, GlobSet, check_glob


@pytest.mark.parametrize(
    ("pattern", "path", "matches"),
    [
        ("*.jpg", "a.jpg", True),
        ("*.jpg", "dir/a.jpg", False),  # anchored: `*` does not cross `/`
        ("*", "a", True),
        ("*", "a/b", False),
        ("a/*", "a/b", True),
        ("a/*", "a/b/c", False),
        ("**", "a/b/c.jpg", True),
        ("**/*.jpg", "a.jpg", True),  # `**/` is zero or more directories
        ("**/*.jpg", "a/b/c.jpg", True),
        ("**/*.jpg", "a/b/c.png", False),
        ("a/**", "a/b/c", True),
        ("a/**", "b/a/c", False),
        ("a/**/z", "a/z", True),
        ("a/**/z", "a/b/c/z", True),
        ("a/**/z", "a/b/c/zz", False),
        ("a/**/**/z", "a/z", True),
        ("raw/", "raw/x/y.jpg", True),  # a trailing `/` is everything below
        ("/top.jpg", "top.jpg", True),  # a leading `/` only anchors, as it already is
        ("?.jpg", "a.jpg", True),
        ("?.jpg", "ab.jpg", False),
        ("a?b", "a/b", False),
        ("img[0-9].png", "img7.png", True),
        ("img[0-9].png", "imgx.png", False),
        ("img[!0-9].png", "imgx.png", True),
        ("img[!0-9].png", "img7.png", False),
        ("a[!x]b", "a/b", False),  # a negated class never matches `/`
        ("[abc]", "b", True),
        ("[]]", "]", True),
        ("[a-]", "-", True),
        ("[[]", "[", True),
        ("x[", "x[", True),  # no closing `]`: a literal
        ("\\*.jpg", "*.jpg", True),
        ("\\*.jpg", "a.jpg", False),
        ("a.b", "axb", False),  # regex characters are literal
        ("(x)+", "(x)+", True),
        ("*.JPG", "a.jpg", False),  # case-sensitive, like object names
        ("a**b", "aXXb", True),  # `**` inside a segment is a plain `*`
        ("a**b", "a/b", False),
    ],
)
def test_glob_matches(pattern: str, path: str, matches: bool) -> None:
    assert GlobSet([pattern]).match(path) is matches


def test_a_set_matches_when_any_glob_does_and_an_empty_set_never() -> None:
    globs = GlobSet(["*.jpg", "videos/**"])
    assert globs.match("a.jpg") and globs.match("videos/x/y.mp4")
    assert not globs.match("docs/a.jpg")
    assert not GlobSet([]).match("a.jpg")
    assert GlobSet(["**"]).matches_everything and not globs.matches_everything


@pytest.mark.parametrize("pattern", ["[&&]", "[--]", "[||]", "[~~]", "[[a]", "[a-c-e]"])
def test_odd_classes_compile_without_warnings(pattern: str) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        GlobSet([pattern])


def test_bad_globs_are_named() -> None:
    assert check_glob("[z-a]") is not None
    assert check_glob("") == "an empty glob matches nothing"
    assert check_glob("**/*.jpg") is None
    with pytest.raises(GlobError):
        GlobSet(["[z-a]"])
