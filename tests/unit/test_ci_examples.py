"""The CI examples call reconciler only with commands and flags it has, and parse as YAML."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest
import yaml

from reconciler.cli.main import build_parser

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = [ROOT / "examples" / "ci" / "github-actions.yml", ROOT / "examples" / "ci" / "gitlab-ci.yml"]


def reconciler_calls(text: str) -> list[list[str]]:
    calls = []
    for line in text.splitlines():
        line = line.split("#", 1)[0].strip().removeprefix("- ").removeprefix("run: ")
        for part in re.split(r";|&&|\|\|", line):
            part = part.strip().removeprefix("set +e").strip()
            if part.startswith("reconciler "):
                words = shlex.split(re.sub(r"\$\{\{[^}]*\}\}", "", part).split(">")[0])
                # CI expressions stand for values; flags built from them are checked separately
                calls.append([w for w in words[1:] if not w.startswith("${")])
    return calls


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_ci_examples_use_only_real_commands_and_flags(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    yaml.safe_load(text)
    calls = reconciler_calls(text)
    assert any(c[0] == "plan" for c in calls) and any(c[0] == "apply" for c in calls)
    parser = build_parser()
    for call in calls:
        parser.parse_args([w.replace('"$CONFIG"', "encord").replace("$CONFIG", "encord") for w in call])
    assert "--allow-destroy" in text  # applied only when a label says so


def test_the_pre_commit_hook_runs_validate() -> None:
    [hook] = yaml.safe_load((ROOT / ".pre-commit-hooks.yaml").read_text(encoding="utf-8"))
    assert hook["entry"] == "reconciler validate" and hook["language"] == "python"
