"""YAML is a trust boundary: hostile files give one clean `file:line:col: message` problem, fast."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import yaml

from reconciler.cli.main import main
from reconciler.config import yamlpos
from reconciler.config.loader import load_config
from reconciler.config.yamlpos import MAX_DEPTH, MAX_FILE_BYTES, MAX_NODES, load_yaml
from reconciler.errors import ConfigError

PARSERS = [pytest.param(False, id="pure")]
if yaml.__with_libyaml__:
    PARSERS.append(pytest.param(True, id="libyaml"))

LAUGHS = "a: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n" + "".join(
    f"{b}: &{b} [{', '.join([f'*{a}'] * 9)}]\n" for a, b in zip("abcdefgh", "bcdefghi", strict=True)
)


def write(tmp_path: Path, text: str | bytes, name: str = "r.yaml") -> Path:
    path = tmp_path / name
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


def only_problem(path: Path, libyaml: bool) -> str:
    start = time.perf_counter()
    loaded = load_yaml(path, {}, libyaml=libyaml)
    assert time.perf_counter() - start < 3, "a hostile file must be refused fast"
    assert len(loaded.problems) == 1, loaded.problems
    return loaded.problems[0]


def test_a_file_over_the_size_limit_is_refused_before_it_is_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write(tmp_path, b"a: 1\n" + b"#" * MAX_FILE_BYTES)
    opened: list[Path] = []
    monkeypatch.setattr(Path, "open", lambda self, *a, **k: opened.append(self))  # type: ignore[misc]
    problem = only_problem(path, libyaml=False)
    assert (
        problem
        == f"{path}:1:1: file is {MAX_FILE_BYTES + 5:,} bytes, over the {MAX_FILE_BYTES:,}-byte limit for a config file"
    )
    assert opened == []


@pytest.mark.parametrize("libyaml", PARSERS)
def test_bytes_that_are_not_utf8_name_the_offset(tmp_path: Path, libyaml: bool) -> None:
    path = write(tmp_path, b"a: 1\nb: caf\xc3\xa9 \xff\n")
    assert only_problem(path, libyaml) == (
        f"{path}:2:9: not UTF-8: byte 0xff at byte offset 14 (invalid start byte); save the file as UTF-8"
    )


@pytest.mark.parametrize(
    ("encoding", "name"),
    [("utf-16-le", "UTF-16 (little-endian)"), ("utf-16-be", "UTF-16 (big-endian)"),
     ("utf-32-le", "UTF-32 (little-endian)"), ("utf-32-be", "UTF-32 (big-endian)")],
)  # fmt: skip
def test_a_byte_order_mark_of_another_encoding_is_refused(tmp_path: Path, encoding: str, name: str) -> None:
    path = write(tmp_path, "\ufeffa: 1\n".encode(encoding))
    assert only_problem(path, libyaml=False) == (
        f"{path}:1:1: the file starts with a {name} byte-order mark; save it as UTF-8"
    )


@pytest.mark.parametrize("libyaml", PARSERS)
def test_a_utf8_byte_order_mark_is_accepted_and_columns_ignore_it(tmp_path: Path, libyaml: bool) -> None:
    path = write(tmp_path, b"\xef\xbb\xbfa: 1\nb: !custom x\n")
    assert only_problem(path, libyaml).startswith(f"{path}:2:4: tag !custom is not allowed")


@pytest.mark.parametrize("libyaml", PARSERS)
@pytest.mark.parametrize(
    ("text", "where", "what"),
    [("a: 1\nb: x\x00y\n", "2:5", "control character U+0000 (NUL)"),
     ("a: 1\n  b: \x07\n", "2:6", "control character U+0007"),
     ("a: \x1b[31m\n", "1:4", "control character U+001B (ESC)")],
)  # fmt: skip
def test_control_characters_give_one_clean_line(
    tmp_path: Path, libyaml: bool, text: str, where: str, what: str
) -> None:
    path = write(tmp_path, text)
    assert only_problem(path, libyaml) == f"{path}:{where}: {what} is not allowed in YAML"


@pytest.mark.parametrize("libyaml", PARSERS)
@pytest.mark.parametrize(
    ("text", "tag"),
    [("a: 1\nb: !custom x\n", "!custom"),
     ("a: 1\nb: !!python/object:os.system {}\n", "!!python/object:os.system"),
     ("a: 1\nb: !!python/name:os.system ''\n", "!!python/name:os.system"),
     ("a: 1\nb: !!binary 'not base64!'\n", "!!binary"),
     ("a: 1\nb: !!timestamp 2024-13-45\n", "!!timestamp"),
     ("a: 1\nb: !!set {x}\n", "!!set"),
     ("a: 1\nb: !<tag:example.com,2024:x> y\n", "tag:example.com,2024:x")],
)  # fmt: skip
def test_tags_outside_the_core_schema_are_refused_by_name(
    tmp_path: Path, libyaml: bool, text: str, tag: str
) -> None:
    path = write(tmp_path, text)
    assert only_problem(path, libyaml) == (
        f"{path}:2:4: tag {tag} is not allowed; a config holds only strings, numbers, booleans, null, "
        "lists and mappings (core tags !!str !!int !!float !!bool !!null !!seq !!map)"
    )


@pytest.mark.parametrize("libyaml", PARSERS)
def test_core_tags_are_accepted_and_misapplied_ones_are_reported(tmp_path: Path, libyaml: bool) -> None:
    ok = write(
        tmp_path, "a: !!str 1\nb: !!int '2'\nc: !!float 3\nd: !!bool yes\ne: !!null ''\nf: !!seq [1]\n"
    )
    assert load_yaml(ok, {}, libyaml=libyaml).data == {
        "a": "1", "b": 2, "c": 3.0, "d": True, "e": None, "f": [1]
    }  # fmt: skip
    assert only_problem(write(tmp_path, "a:\n  b: !!int abc\n"), libyaml).endswith(
        ":2:6: 'abc' is not a valid !!int"
    )
    assert only_problem(write(tmp_path, "a: !!map [1]\n"), libyaml).endswith(
        ":1:4: tag !!map cannot be applied to a list"
    )
    assert only_problem(write(tmp_path, "a: 2024-13-45\n"), libyaml).endswith(
        ":1:4: '2024-13-45' is not a valid !!timestamp"
    )


@pytest.mark.parametrize("libyaml", PARSERS)
@pytest.mark.parametrize(
    ("text", "where", "name"),
    [
        ("a: &x\n  b: *x\n", "2:6", "x"),
        ("&r [1, *r]\n", "1:8", "r"),
        ("a: &m {b: [c, {d: *m}]}\n", "1:19", "m"),
    ],
)
def test_a_cyclic_alias_is_refused(tmp_path: Path, libyaml: bool, text: str, where: str, name: str) -> None:
    path = write(tmp_path, text)
    assert (
        only_problem(path, libyaml)
        == f"{path}:{where}: cyclic alias: *{name} refers to a node that contains it"
    )


@pytest.mark.parametrize("libyaml", PARSERS)
def test_the_billion_laughs_is_refused_fast_at_the_alias(tmp_path: Path, libyaml: bool) -> None:
    path = write(tmp_path, LAUGHS)
    assert len(LAUGHS) < 1000
    start = time.perf_counter()
    loaded = load_yaml(path, {}, libyaml=libyaml)
    assert time.perf_counter() - start < 1
    # 9 + 9**2 + ... passes 50,000 nodes at the last *d of line 5.
    assert loaded.problems == [
        f"{path}:5:28: alias *d expands the document to more than {MAX_NODES:,} nodes "
        "(aliases counted in full); refusing to expand it"
    ]
    assert loaded.data is None


def test_an_undefined_alias_is_a_problem(tmp_path: Path) -> None:
    path = write(tmp_path, "a: 1\nb: *nope\n")
    assert only_problem(path, libyaml=False) == f"{path}:2:4: alias *nope refers to no anchor &nope"


@pytest.mark.parametrize("libyaml", PARSERS)
def test_nesting_past_the_depth_limit_is_refused_without_recursion_error(
    tmp_path: Path, libyaml: bool
) -> None:
    deep = write(tmp_path, "x: " + "[" * (MAX_DEPTH + 1) + "]" * (MAX_DEPTH + 1) + "\n")
    message = f"nesting deeper than {MAX_DEPTH} levels; flatten the structure"
    assert only_problem(deep, libyaml) == f"{deep}:1:{MAX_DEPTH + 3}: {message}"
    unclosed = write(tmp_path, "x: " + "{a: " * 100_000 + "\n", name="unclosed.yaml")
    assert only_problem(unclosed, libyaml).endswith(message)
    # Through aliases, each within the limit on its own.
    half = MAX_DEPTH // 2 + 100
    via = write(tmp_path, f"a: &a {'[' * half}{']' * half}\nb: {'[' * half}*a{']' * half}\n", name="via.yaml")
    assert only_problem(via, libyaml) == (
        f"{via}:2:{half + 4}: nesting deeper than {MAX_DEPTH} levels (through alias *a); flatten the structure"
    )
    # At the limit (the top-level mapping is level 1) it loads, and building it needs no recursion.
    ok = write(tmp_path, "x: " + "[" * (MAX_DEPTH - 1) + "]" * (MAX_DEPTH - 1) + "\n", name="ok.yaml")
    loaded = load_yaml(ok, {}, libyaml=libyaml)
    assert loaded.problems == []
    assert str(loaded.locate(("x", *[0] * (MAX_DEPTH - 2)))) == f"{ok}:1:{MAX_DEPTH + 2}"


@pytest.mark.parametrize("libyaml", PARSERS)
def test_merge_keys_are_supported_with_the_merged_values_own_lines(tmp_path: Path, libyaml: bool) -> None:
    path = write(
        tmp_path,
        """\
base: &base
  x: 1
  y: 2
more: &more {z: 3, x: 9}
one:
  <<: *base
  y: 5
two:
  <<: [*base, *more]
""",
    )
    loaded = load_yaml(path, {}, libyaml=libyaml)
    assert loaded.problems == []
    assert loaded.data["one"] == {"y": 5, "x": 1}
    assert loaded.data["two"] == {"x": 1, "y": 2, "z": 3}  # earlier mappings win
    assert str(loaded.locate(("one", "x"))) == f"{path}:2:3"  # where it is written, in the anchor
    assert str(loaded.locate(("one", "y"))) == f"{path}:7:3"
    assert str(loaded.locate(("two", "z"))) == f"{path}:4:14"
    bad = write(tmp_path, "a:\n  <<: [1]\n", name="bad.yaml")
    assert only_problem(bad, libyaml) == (
        f"{bad}:2:7: the merge key << takes a mapping or a list of mappings (e.g. <<: *base)"
    )


def test_errors_in_merged_values_point_into_the_anchor(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "backend: {kind: sandbox}\n"
        "defaults: &d {description: x, colour: red}\n"
        "folders:\n  - name: a\n    <<: *d\n",
    )
    with pytest.raises(ConfigError) as info:
        load_config(path, env={})
    assert (
        f"{path}:2:31: folders[0].colour: unknown key (check the spelling; `reconciler schema` lists every key)"
        in info.value.problems
    )


@pytest.mark.skipif(not yaml.__with_libyaml__, reason="PyYAML built without libyaml")
def test_libyaml_is_the_default_and_gives_the_same_positions(tmp_path: Path) -> None:
    assert yamlpos.USE_LIBYAML
    path = write(
        tmp_path,
        "# café ☕\nfolders:\n  - name: \"é ${NOPE}\"\n    description: 'x'\n  - {name: ünï, children: []}\n"
        "base: &b {k: v}\nm:\n  <<: *b\n",
    )
    c, pure = load_yaml(path, {}, libyaml=True), load_yaml(path, {}, libyaml=False)
    assert c.locations == pure.locations and c.problems == pure.problems and c.data == pure.data
    assert c.problems == [
        f"{path}:3:11: folders[0].name: environment variable NOPE is not set (write ${{NOPE:-default}} to give a default)"
    ]


def test_an_interpolated_value_is_only_ever_a_scalar(tmp_path: Path) -> None:
    path = write(tmp_path, "a: ${N}\nb: ${L}\nc: ${T}\nd: '${N}'\n")
    env = {"N": "512", "L": "[1, 2]", "T": "!!python/object:os.system {}"}
    assert load_yaml(path, env).data == {
        "a": 512,
        "b": "[1, 2]",
        "c": "!!python/object:os.system {}",
        "d": "512",
    }


def test_the_cli_reports_one_line_and_exits_1(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write(tmp_path, LAUGHS)
    assert main(["validate", str(path)]) == 1
    err = capsys.readouterr().err
    assert f"{path}:5:28: alias *d expands the document" in err
    assert "Traceback" not in err


def test_malformed_interpolation_is_an_error_at_its_line(tmp_path: Path) -> None:
    from reconciler.config.loader import load_config
    from reconciler.errors import ConfigError

    path = tmp_path / "reconciler.yaml"
    path.write_text(
        'folders:\n  - name: "${FOO"\n  - name: "${BAR:x}"\n  - name: "${1ABC}"\n  - name: "cost $$5"\n'
    )
    try:
        load_config(path, env={})
    except ConfigError as exc:
        problems = exc.problems
    else:
        raise AssertionError("malformed ${...} was taken literally")
    assert [p.split(": ", 1)[0].rsplit(":", 2)[-2] for p in problems] == ["2", "3", "4"]
    assert all("malformed ${...}" in p for p in problems)


def test_an_unknown_key_suggests_the_nearest_known_one(tmp_path: Path) -> None:
    from reconciler.config.loader import load_config
    from reconciler.errors import ConfigError

    path = tmp_path / "reconciler.yaml"
    path.write_text("folders:\n  - name: a\n    descripton: x\n")
    with pytest.raises(ConfigError) as caught:
        load_config(path, env={})
    assert caught.value.problems == [
        f"{path}:3:5: folders[0].descripton: unknown key (did you mean `description`?)"
    ]
