"""Fixtures for the CI examples' tests: the fake GitLab and GitHub APIs, and a runner for the scripts."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.ci.fakes import FakeGitHub, FakeGitLab

SCRIPTS = Path(__file__).resolve().parents[2] / "examples" / "ci"


@pytest.fixture
def gitlab() -> Iterator[FakeGitLab]:
    fake = FakeGitLab()
    yield fake
    fake.close()


@pytest.fixture
def github() -> Iterator[FakeGitHub]:
    fake = FakeGitHub()
    yield fake
    fake.close()


def run_script(
    script: str, args: list[str], env: dict[str, str], cwd: Path
) -> subprocess.CompletedProcess[str]:
    """examples/ci/<script> as CI runs it: its own process, only the environment given (and PATH)."""
    return subprocess.run(
        [sys.executable, str(SCRIPTS / script), *args],
        cwd=cwd,
        env={"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8", **env},
        capture_output=True,
        text=True,
        timeout=60,
    )
