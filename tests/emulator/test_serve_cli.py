"""`reconciler emulator serve` answers its own mistakes in one line (issue 9, point 5)."""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from reconciler.cli.main import main
from reconciler.emulator.middleware import DEFAULT_BODY_READ_TIMEOUT_SECONDS, DEFAULT_MAX_BODY_BYTES
from tests.fidelity.conftest import REPO_ROOT


def keys(tmp_path: Path) -> tuple[Path, Path]:
    key = Ed25519PrivateKey.generate()
    private = tmp_path / "id"
    private.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH, serialization.NoEncryption()
        )
    )
    public = tmp_path / "id.pub"
    public.write_bytes(
        key.public_key().public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
    )
    return private, public


def test_a_private_key_as_authorized_key_is_refused_without_echoing_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    private, _ = keys(tmp_path)
    assert (
        main(["emulator", "serve", "--state", str(tmp_path / "s.db"), "--authorized-key", str(private)]) == 1
    )
    err = capsys.readouterr().err
    assert "is a private key: give the public one" in err and "BEGIN" not in err


def test_a_port_in_use_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _, public = keys(tmp_path)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        args = ["emulator", "serve", "--port", str(port), "--state", str(tmp_path / "s.db")]
        assert main([*args, "--authorized-key", str(public)]) == 1
    assert f"cannot listen on 127.0.0.1:{port}" in capsys.readouterr().err


def test_port_0_prints_the_port_actually_bound(tmp_path: Path) -> None:
    _, public = keys(tmp_path)
    args = ["--port", "0", "--state", str(tmp_path / "s.db"), "--authorized-key", str(public)]
    proc = subprocess.Popen(
        [sys.executable, "-m", "reconciler", "emulator", "serve", *args],
        cwd=REPO_ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert line.startswith("emulator listening on http://127.0.0.1:")
        assert int(line.rsplit(":", 1)[1]) > 0
    finally:
        proc.terminate()
        proc.communicate(timeout=10)


def test_help_shows_every_default(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["emulator", "serve", "--help"])
    out = " ".join(capsys.readouterr().out.split())
    assert "(default: 127.0.0.1)" in out and "(default: 8765)" in out and "(default: 60.0)" in out
    assert f"413 (by Content-Length, or while streaming) (default: {DEFAULT_MAX_BODY_BYTES})" in out
    assert f"for S seconds (default: {DEFAULT_BODY_READ_TIMEOUT_SECONDS})" in out
    assert "bearer requests are not checked (default: False)" in out


@pytest.mark.parametrize(
    "option",
    [
        ("--max-body-bytes", "0"),
        ("--max-body-bytes", "1.5"),
        ("--body-timeout", "-1"),
        ("--body-timeout", "inf"),
    ],
)
def test_limits_must_be_positive(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], option: tuple[str, str]
) -> None:
    _, public = keys(tmp_path)
    with pytest.raises(SystemExit) as exit_info:
        main(
            ["emulator", "serve", "--state", str(tmp_path / "s.db"), "--authorized-key", str(public), *option]
        )
    assert exit_info.value.code == 1  # usage errors exit 1 here (main.Parser)
    assert f"argument {option[0]}: expected a positive" in capsys.readouterr().err
