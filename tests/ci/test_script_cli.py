"""Every CI script answers --help with its usage (no traceback, no API call) and refuses bad arguments."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.ci.conftest import SCRIPTS, run_script

ENTRY_POINTS = sorted(
    str(p.relative_to(SCRIPTS)) for p in SCRIPTS.glob("*/*.py") if p.name.startswith(("post_", "fetch_"))
)


def test_the_entry_points_are_the_four_scripts() -> None:
    assert ENTRY_POINTS == [
        "github/fetch_reviewed_plan.py",
        "github/post_plan_comment.py",
        "gitlab/fetch_reviewed_plan.py",
        "gitlab/post_plan_note.py",
    ]


@pytest.mark.parametrize("script", ENTRY_POINTS)
def test_help_works_without_any_ci_environment(script: str, tmp_path: Path) -> None:
    done = run_script(script, ["--help"], {}, tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("usage: ") and "Traceback" not in done.stdout + done.stderr
    assert "GITLAB_TOKEN" in done.stdout or "GITHUB_TOKEN" in done.stdout  # says what it needs

    bad = run_script(script, ["--no-such-option"], {}, tmp_path)
    assert bad.returncode == 2 and "usage: " in bad.stderr and "Traceback" not in bad.stderr
