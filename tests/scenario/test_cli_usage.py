"""Usage errors help (issue 15, point 8): the subcommand's own usage, "did you mean", Terraform's spellings,
no prefix matching, and a help string on every option and positional."""

from __future__ import annotations

import argparse
from collections.abc import Iterator
from pathlib import Path

import pytest

from reconciler.cli.main import build_parser, main

TWO_DASHES = "Long options take two dashes."


@pytest.fixture(autouse=True)
def empty_directory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """No config at all: a usage error is refused before any configuration is read."""
    monkeypatch.chdir(tmp_path)
    return tmp_path


def usage_error(argv: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    """stderr of `reconciler ARGV`, which must be a usage error: exit 1 (2 means "changes"), nothing on
    stdout."""
    with pytest.raises(SystemExit) as exit_:
        main(argv)
    assert exit_.value.code == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    return captured.err


def parsers(
    parser: argparse.ArgumentParser, path: tuple[str, ...] = ()
) -> Iterator[tuple[str, argparse.ArgumentParser]]:
    """Every parser of the CLI, named by its command words ("" for the top level)."""
    yield " ".join(path), parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from parsers(sub, (*path, name))


ALL = dict(parsers(build_parser()))


def test_the_walk_finds_every_command() -> None:
    assert set(ALL) >= {
        "",
        "validate",
        "plan",
        "apply",
        "export",
        "lock status",
        "lock release",
        "schema",
        "emulator serve",
    }


@pytest.mark.parametrize(
    "argv",
    [
        ["plan", "--bad"],
        ["apply", "--bad"],
        ["validate", "--bad"],
        ["export", "--bad"],
        ["schema", "--bad"],
        ["lock", "status", "--bad"],
        ["lock", "release", "--bad"],
        ["emulator", "serve", "--state", "s.db", "--authorized-key", "k.pub", "--bad"],
    ],
    ids=lambda argv: " ".join(a for a in argv if not a.startswith("-") and "." not in a),
)
def test_an_unknown_flag_prints_the_subcommands_usage(
    argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    command = " ".join(a for a in argv if not a.startswith("-") and "." not in a)
    err = usage_error(argv, capsys)
    assert err.startswith(f"usage: reconciler {command} ["), err
    assert "COMMAND ..." not in err  # not the top-level usage
    assert f"reconciler {command}: error: unrecognized arguments: --bad\n" in err


def test_a_surplus_positional_is_the_subcommands_error(capsys: pytest.CaptureFixture[str]) -> None:
    err = usage_error(["plan", "a.yaml", "b.yaml"], capsys)
    assert err.startswith("usage: reconciler plan [")
    assert "reconciler plan: error: unrecognized arguments: b.yaml\n" in err


def test_an_unknown_flag_before_the_command_is_the_top_levels(capsys: pytest.CaptureFixture[str]) -> None:
    err = usage_error(["--verbos", "plan"], capsys)
    assert err.startswith("usage: reconciler [-h]")
    assert "reconciler: error: unrecognized arguments: --verbos (did you mean --verbose?)" in err


def test_a_bad_value_prints_the_subcommands_usage(capsys: pytest.CaptureFixture[str]) -> None:
    err = usage_error(["plan", "--format", "yaml"], capsys)
    assert err.startswith("usage: reconciler plan [")
    assert "reconciler plan: error: argument --format: invalid choice: 'yaml'" in err


@pytest.mark.parametrize(
    ("argv", "meant"),
    [
        (["plan", "--detailed-exit-code"], "--detailed-exitcode"),
        (["plan", "--detailed_exitcode"], "--detailed-exitcode"),
        (["apply", "--auto-aprove"], "--auto-approve"),
        (["apply", "--alow-destroy"], "--allow-destroy"),
        (["plan", "--fromat", "json"], "--format"),
        (["plan", "--outt=p.json"], "--out"),
        (["export", "--with-item"], "--with-items"),
        (["lock", "release", "--froce"], "--force"),
        (["emulator", "serve", "--state", "s.db", "--authorized-key", "k.pub", "--portt=1"], "--port"),
    ],
)
def test_a_misspelt_option_names_the_nearest(
    argv: list[str], meant: str, capsys: pytest.CaptureFixture[str]
) -> None:
    err = usage_error(argv, capsys)
    assert f"(did you mean {meant}?)" in err
    assert TWO_DASHES not in err


def test_the_hint_comes_from_the_subcommands_own_options(capsys: pytest.CaptureFixture[str]) -> None:
    """`--force` is apply's, not plan's: plan suggests nothing rather than an option it does not have."""
    err = usage_error(["plan", "--forse"], capsys)
    assert err.rstrip().endswith("unrecognized arguments: --forse")
    assert "--force" not in err


def test_several_unknown_flags_each_get_their_hint(capsys: pytest.CaptureFixture[str]) -> None:
    err = usage_error(["apply", "--auto-aprove", "--frce", "--bogus"], capsys)
    assert (
        "unrecognized arguments: --auto-aprove --frce --bogus "
        "(did you mean --auto-approve for --auto-aprove, --force for --frce?)"
    ) in err


@pytest.mark.parametrize(
    ("argv", "meant"),
    [
        (["plan", "-out", "plan.json"], "--out"),
        (["apply", "-auto-approve"], "--auto-approve"),
        (["plan", "-detailed-exitcode"], "--detailed-exitcode"),
        (["plan", "-target", "folder.raw"], "--target"),
        (["apply", "-target=dataset.train"], "--target"),
        (["apply", "-allow-destroy"], "--allow-destroy"),
        (["plan", "-no-color"], "--no-color"),
        (["plan", "-verbose"], "--verbose"),  # argparse reads `-v erbose`
        (["apply", "-help"], "--help"),  # argparse reads `-h elp`
    ],
)
def test_terraform_single_dash_spellings_name_the_two_dash_option(
    argv: list[str], meant: str, capsys: pytest.CaptureFixture[str]
) -> None:
    err = usage_error(argv, capsys)
    token = next(a for a in argv[1:] if a.startswith("-"))
    assert err.startswith(f"usage: reconciler {argv[0]} [")
    assert f"unrecognized arguments: {token} (did you mean {meant}? {TWO_DASHES})" in err


@pytest.mark.parametrize(
    ("argv", "meant"),
    [(["paln"], "plan"), (["plan", "--format", "jsn"], "json"), (["lock", "relase"], "release")],
)
def test_a_misspelt_command_or_choice_names_the_nearest(
    argv: list[str], meant: str, capsys: pytest.CaptureFixture[str]
) -> None:
    err = usage_error(argv, capsys)
    assert f"invalid choice: '{argv[-1]}'" in err
    assert err.rstrip().endswith(f"(did you mean {meant}?)")


@pytest.mark.parametrize(
    ("argv", "meant"),
    [
        (["plan", "--ou", "plan.json"], "--out"),
        (["plan", "--detailed"], "--detailed-exitcode"),
        (["apply", "--auto"], "--auto-approve"),
        (["apply", "--allow"], "--allow-destroy"),
        (["export", "--with"], "--with-items"),
    ],
)
def test_no_prefix_matching(
    argv: list[str], meant: str, capsys: pytest.CaptureFixture[str], empty_directory: Path
) -> None:
    err = usage_error(argv, capsys)
    assert f"unrecognized arguments: {argv[1]} (did you mean {meant}?)" in err
    assert not (empty_directory / "plan.json").exists()


@pytest.mark.parametrize("name", sorted(ALL))
def test_every_parser_refuses_abbreviations(name: str) -> None:
    assert ALL[name].allow_abbrev is False, name or "(top level)"


# The top-level -v/--verbose and --no-color are accepted after the command too (`plan -v`), where their
# help would only repeat the top level's: hidden there on purpose.
HIDDEN_ON_PURPOSE = {"-v", "--verbose", "--no-color"}


@pytest.mark.parametrize("name", sorted(ALL))
def test_every_option_and_positional_has_help(name: str) -> None:
    parser = ALL[name]
    for action in parser._actions:
        what = f"reconciler {name}: {'/'.join(action.option_strings) or action.metavar or action.dest}"
        assert action.help, f"{what} has no help"
        if action.help == argparse.SUPPRESS:
            assert name and set(action.option_strings) <= HIDDEN_ON_PURPOSE, f"{what} is hidden"
        if isinstance(action, argparse._SubParsersAction):
            for choice in action._choices_actions:
                assert choice.help, f"reconciler {name} {choice.dest} has no help"
    parser.format_help()  # every %(default)s and the like renders


def test_apply_names_its_positional_apart_from_target() -> None:
    apply = ALL["apply"]
    help_text = apply.format_help()
    assert "CONFIG_OR_PLANFILE" in apply.format_usage()
    assert "CONFIG_OR_PLANFILE" in help_text and "--target ADDRESS" in help_text
    args = build_parser().parse_args(
        ["apply", "saved.json", "--target", "folder.raw", "--target", "dataset.x"]
    )
    assert args.target == "saved.json"  # what apply_cmd reads
    assert args.targets == ["folder.raw", "dataset.x"]


def test_global_flags_still_work_after_the_command() -> None:
    args = build_parser().parse_args(["plan", "-vv", "--no-color", "--format", "json"])
    assert (args.verbose, args.no_color, args.format) == (2, True, "json")
    args = build_parser().parse_args(["-v", "apply", "--auto-approve"])
    assert (args.verbose, args.auto_approve) == (1, True)
