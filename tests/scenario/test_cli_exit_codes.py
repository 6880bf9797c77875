"""Exit codes and saved plans mean what they say (issue 9, point 5)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from reconciler.cli.main import main
from tests.fidelity.conftest import REPO_ROOT

CONFIG = "backend: {kind: sandbox, state: s.db}\nfolders: [{name: raw}]\n"


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "reconciler.yaml").write_text(CONFIG)
    return tmp_path


def test_usage_errors_exit_1_never_2(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as unknown_flag:
        main(["plan", "--bogus"])
    assert unknown_flag.value.code == 1
    with pytest.raises(SystemExit) as unknown_command:
        main(["paln"])
    assert unknown_command.value.code == 1


def test_a_saved_plan_is_the_approval_whatever_its_name(project: Path) -> None:
    assert main(["plan", "--out", "plans/reviewed.txt"]) == 0  # a missing directory is created
    result = subprocess.run(
        [sys.executable, "-m", "reconciler", "apply", str(project / "plans" / "reviewed.txt")],
        cwd=project,
        stdin=subprocess.DEVNULL,  # no terminal, no --auto-approve
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "PYTHONPATH": str(REPO_ROOT)},
    )
    assert result.returncode == 0, result.stderr
    assert "Apply complete: 1 applied" in result.stdout


def test_a_plan_with_errors_prints_no_summary(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (project / "reconciler.yaml").write_text(
        "backend: {kind: encord, domain: 'http://127.0.0.1:9'}\nintegrations: [{title: gcs}]\n"
    )
    capsys.readouterr()
    code = main(["plan", "--domain", "http://127.0.0.1:9"])
    out = capsys.readouterr().out
    assert code == 1
    assert "No changes" not in out


def test_no_color_and_global_flags_after_the_command(project: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "reconciler", "plan", "--no-color", "-v"],
        cwd=project,
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "PYTHONPATH": str(REPO_ROOT), "FORCE_COLOR": "1"},
    )
    assert result.returncode == 0, result.stderr
    assert "\x1b[" not in result.stdout


async def test_a_live_folder_named_with_a_slash_is_not_a_nested_path() -> None:
    from pathlib import Path as P
    from tempfile import TemporaryDirectory

    import httpx

    from reconciler.backend import SANDBOX_DOMAIN, sandbox_key
    from reconciler.emulator.app import create_app
    from reconciler.encord.auth import SshKeyAuth
    from reconciler.encord.client import EncordClient
    from reconciler.encord.reader import ReadScope, read_live

    with TemporaryDirectory() as tmp:
        state = P(tmp) / "s.db"
        key, public = sandbox_key(state)
        transport = httpx.ASGITransport(app=create_app(state, [public]))
        async with EncordClient(SANDBOX_DOMAIN, SshKeyAuth(private_key=key), transport=transport) as client:
            raw = await client.create_folder("raw")
            await client.create_folder("cams", parent=raw.uuid)
            await client.create_folder("raw/cams")  # one folder, at the root, with a slash in its name
            live = await read_live(client, ReadScope(integrations=False, schema=False, datasets=False))
    assert sorted(live.folders) == ["raw", "raw%2Fcams", "raw/cams"]
    assert live.folders["raw%2Fcams"].name == "raw/cams" and live.folders["raw/cams"].name == "cams"


def test_every_documented_exit_code(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """0 no changes / success, 2 changes under --detailed-exitcode, 1 an error, 130 interrupted."""
    assert main(["plan", "--detailed-exitcode"]) == 2
    assert main(["apply", "--auto-approve"]) == 0
    assert main(["plan", "--detailed-exitcode"]) == 0
    (project / "reconciler.yaml").write_text("folders: [{name: raw, nope: 1}]\n")
    assert main(["plan"]) == 1

    def interrupted(args: object) -> int:
        raise KeyboardInterrupt

    monkeypatch.setattr("reconciler.cli.plan_cmd.run", interrupted)  # as Ctrl-C would, mid-plan
    assert main(["plan"]) == 130
