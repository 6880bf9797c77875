"""Every file that is named or found is read, or is an error: a config file silently skipped is a plan
that deletes what it declared, and a sandbox state file that cannot be used is one line, not a traceback.

Unreadable files: tests run as root in CI, where mode 000 is still readable. The loader decides
readability with `os.access(path, os.R_OK)`, so `test_unreadable_yaml_is_an_error` monkeypatches
`os.access` to refuse that one file (runs everywhere), and `test_mode_000_yaml_is_an_error` uses a real
chmod 000 and is skipped when running as root.
"""

from __future__ import annotations

import os
import socket
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from reconciler.cli.main import main
from reconciler.config.loader import config_files

GOOD = "folders:\n  - name: raw\n"


def write(path: Path, text: str = GOOD) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def fails(argv: list[str], capsys: pytest.CaptureFixture[str], *expected: str) -> str:
    assert main(argv) == 1
    captured = capsys.readouterr()
    err = captured.err + captured.out
    assert "Traceback" not in err
    for text in expected:
        assert text in err, err
    return err


@pytest.fixture
def conf(tmp_path: Path) -> Path:
    directory = tmp_path / "conf"
    write(directory / "a.yaml")
    write(directory / "sub" / "b.yml", "datasets:\n  - title: t\n    folders: [raw]\n")
    return directory


def test_a_clean_directory_is_read_in_sorted_order(conf: Path) -> None:
    write(conf / "notes.txt", "not yaml")
    (conf / "dangling-not-yaml").symlink_to(conf / "nowhere")
    assert config_files(conf) == [conf / "a.yaml", conf / "sub" / "b.yml"]


def test_dangling_symlink_is_an_error(conf: Path, capsys: pytest.CaptureFixture[str]) -> None:
    link = conf / "gone.yaml"
    link.symlink_to(conf / "deleted.yaml")
    fails(["validate", str(conf)], capsys, str(link), "dangling symlink")


def test_symlink_loop_is_an_error(conf: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (conf / "x.yaml").symlink_to(conf / "y.yaml")
    (conf / "y.yaml").symlink_to(conf / "x.yaml")
    fails(["validate", str(conf)], capsys, f"{conf / 'x.yaml'}: symlink loop", f"{conf / 'y.yaml'}")


def test_named_file_that_is_a_dangling_symlink_is_an_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    link = tmp_path / "reconciler.yaml"
    link.symlink_to(tmp_path / "elsewhere.yaml")
    fails(["validate", str(link)], capsys, str(link), "dangling symlink")


def test_unreadable_yaml_is_an_error(
    conf: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    locked = write(conf / "locked.yaml")
    real_access = os.access

    def access(path: object, mode: int, **kwargs: object) -> bool:
        if Path(str(path)) == locked:
            return False
        return real_access(path, mode)  # type: ignore[arg-type]

    monkeypatch.setattr(os, "access", access)
    fails(["validate", str(conf)], capsys, f"{locked}: cannot read file")


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() == 0, reason="root reads mode 000 files")
def test_mode_000_yaml_is_an_error(conf: Path, capsys: pytest.CaptureFixture[str]) -> None:
    locked = write(conf / "locked.yaml")
    locked.chmod(0)
    try:
        fails(["validate", str(conf)], capsys, f"{locked}: cannot read file")
    finally:
        locked.chmod(0o644)


def test_fifo_is_an_error(conf: Path, capsys: pytest.CaptureFixture[str]) -> None:
    fifo = conf / "pipe.yaml"
    os.mkfifo(fifo)
    fails(["validate", str(conf)], capsys, f"{fifo}: not a regular file (a fifo)")


@pytest.fixture
def sock_path(tmp_path: Path) -> Iterator[Path]:
    # A short directory: a unix socket's path is limited to about 100 bytes.
    path = tmp_path / "s.yaml"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.bind(str(path))
    except OSError:
        sock.close()
        pytest.skip("cannot bind a unix socket here")
    yield path
    sock.close()


def test_socket_is_an_error(sock_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write(sock_path.parent / "a.yaml")
    fails(["validate", str(sock_path.parent)], capsys, f"{sock_path}: not a regular file (a socket)")


def test_directory_named_yaml_is_an_error(conf: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (conf / "more.yaml").mkdir()
    fails(["validate", str(conf)], capsys, f"{conf / 'more.yaml'}: is a directory")


def test_every_problem_is_reported_at_once(conf: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (conf / "gone.yaml").symlink_to(conf / "deleted.yaml")
    (conf / "more.yml").mkdir()
    os.mkfifo(conf / "sub" / "pipe.yaml")
    err = fails(["validate", str(conf)], capsys, "gone.yaml", "more.yml", "pipe.yaml")
    assert err.index("gone.yaml") < err.index("more.yml") < err.index("pipe.yaml")


def test_directory_loop_is_detected_not_followed(conf: Path, capsys: pytest.CaptureFixture[str]) -> None:
    loop = conf / "sub" / "up"
    loop.symlink_to(conf, target_is_directory=True)
    fails(["validate", str(conf)], capsys, f"{loop}: directory loop")


def test_symlinked_directory_elsewhere_is_followed(tmp_path: Path, conf: Path) -> None:
    shared = tmp_path / "shared"
    write(shared / "c.yaml", "folders:\n  - name: other\n")
    (conf / "shared").symlink_to(shared, target_is_directory=True)
    assert config_files(conf) == [conf / "a.yaml", conf / "shared" / "c.yaml", conf / "sub" / "b.yml"]


# -- the sandbox state file ------------------------------------------------------------------------------


def sandbox_project(tmp_path: Path, state: str) -> Path:
    config = tmp_path / "project" / "reconciler.yaml"
    write(config, f"backend: {{kind: sandbox, state: {state}}}\n{GOOD}")
    return config


def test_state_path_that_is_a_directory(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = sandbox_project(tmp_path, "state/sandbox.db")
    state = config.parent / "state" / "sandbox.db"
    state.mkdir(parents=True)
    fails(["plan", str(config)], capsys, f"{state}: the sandbox state is a directory")
    assert not (config.parent / "state" / "sandbox.key").exists()


def test_state_path_under_a_regular_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = sandbox_project(tmp_path, "state/sandbox.db")
    write(config.parent / "state", "a file, not a directory")
    fails(
        ["plan", str(config)],
        capsys,
        f"{config.parent / 'state' / 'sandbox.db'}: cannot create the sandbox state here",
        f"{config.parent / 'state'} is a file, not a directory",
    )


def test_state_file_that_is_not_sqlite(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = sandbox_project(tmp_path, "sandbox.db")
    state = write(config.parent / "sandbox.db", "this is not a database\n" * 20)
    fails(["plan", str(config)], capsys, f"{state}: cannot use the sandbox state (SQLite)")


def test_empty_state_file_is_completed(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = sandbox_project(tmp_path, "sandbox.db")
    (config.parent / "sandbox.db").touch()
    (config.parent / "sandbox.key").touch()  # the key file, too, was left empty
    assert main(["plan", str(config)]) == 0
    assert "1 to create" in capsys.readouterr().out


def test_state_file_with_missing_tables_is_completed(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = sandbox_project(tmp_path, "sandbox.db")
    state = config.parent / "sandbox.db"
    conn = sqlite3.connect(state)
    conn.execute("CREATE TABLE settings (name TEXT PRIMARY KEY, value TEXT NOT NULL)")
    conn.commit()
    conn.close()
    assert main(["plan", str(config)]) == 0
    assert "1 to create" in capsys.readouterr().out
    conn = sqlite3.connect(state)
    tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    conn.close()
    assert {"folders", "items", "datasets", "data_rows", "bearer_tokens"} <= tables
