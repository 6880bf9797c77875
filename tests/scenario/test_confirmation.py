"""apply asks for confirmation on a terminal: only `yes` proceeds."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

CONFIG = "backend: {kind: sandbox, state: s.db}\nfolders: [{name: raw}]\n"


def run_on_terminal(cwd: Path, answer: str) -> subprocess.CompletedProcess[str]:
    """Run `reconciler apply` with a pseudo-terminal as stdin and type `answer` into it."""
    master, slave = os.openpty()
    try:
        os.write(master, (answer if answer.endswith("\x04") else answer + "\n").encode())
        return subprocess.run(
            [sys.executable, "-m", "reconciler", "apply"],
            cwd=cwd,
            stdin=slave,
            capture_output=True,
            text=True,
            timeout=60,
            env={**os.environ, "NO_COLOR": "1"},
        )
    finally:
        os.close(master)
        os.close(slave)


@pytest.mark.parametrize(
    ("answer", "code", "applied"), [("no", 1, False), ("\x04", 1, False), ("yes", 0, True)]
)
def test_apply_on_a_terminal_asks_first(tmp_path: Path, answer: str, code: int, applied: bool) -> None:
    (tmp_path / "reconciler.yaml").write_text(CONFIG, encoding="utf-8")
    result = run_on_terminal(tmp_path, answer)
    assert result.returncode == code, result.stderr
    assert "Do you want to apply these changes? Only 'yes' is accepted." in result.stdout
    assert ("Apply complete: 1 applied" in result.stdout) is applied
    if not applied:
        assert "apply cancelled" in result.stderr
