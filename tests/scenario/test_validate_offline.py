"""`validate` runs, offline, every check plan runs before its first request (issue 9, point 3)."""

from __future__ import annotations

from pathlib import Path

import pytest

from reconciler.cli.main import main


@pytest.fixture(autouse=True)
def no_credentials_in_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("ENCORD_SSH_KEY_FILE", "ENCORD_SSH_KEY", "ENCORD_BEARER_TOKEN"):
        monkeypatch.delenv(name, raising=False)


@pytest.mark.parametrize(
    ("domain", "message"),
    [
        ("https://bob:hunter2@api.encord.com", "must not hold a user name or password"),
        ("https://api.encord.com/v2", "no path, query or fragment"),
        ("https://api.encord.com?x=1", "no path, query or fragment"),
        ("https://:443", "names no host"),
        ("ftp://api.encord.com", "must start with https://"),
        ("https://api.encord.com:notaport", "is not a valid URL"),
    ],
)
def test_a_bad_domain_is_refused_without_echoing_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], domain: str, message: str
) -> None:
    (tmp_path / "reconciler.yaml").write_text(
        f"backend: {{kind: encord, domain: '{domain}', bearer_token: t}}\n"
    )
    assert main(["validate", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert message in err and "hunter2" not in err


@pytest.mark.parametrize(
    ("backend", "message"),
    [
        ("ssh_key_file: missing.key", "does not exist"),
        ("ssh_key_file: id.pub", "id.pub"),
        ("bearer_token: '  '", "the bearer token is empty"),
        ("ssh_key_file: id.pub, bearer_token: t", "not both"),
    ],
)
def test_credentials_are_checked_offline(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], backend: str, message: str
) -> None:
    (tmp_path / "id.pub").write_text("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIB0= me@host\n")
    (tmp_path / "reconciler.yaml").write_text(f"backend: {{kind: encord, {backend}}}\n".replace(", }", "}"))
    assert main(["validate", str(tmp_path)]) == 1
    assert message in capsys.readouterr().err


def test_a_sandbox_state_path_that_cannot_be_used(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "blocker").write_text("a file")
    (tmp_path / "reconciler.yaml").write_text("backend: {kind: sandbox, state: blocker/s.db}\n")
    assert main(["validate", str(tmp_path)]) == 1
    assert (
        "cannot create the sandbox state here: " in (err := capsys.readouterr().err)
        and "blocker is a file" in err
    )


def test_validate_needs_no_credential_but_refuses_a_broken_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A fork's pull request (and a pre-commit hook) has no secret: validate still checks everything else."""
    config = tmp_path / "reconciler.yaml"
    config.write_text("backend: {kind: encord}\nfolders: [{name: raw}]\n")
    assert main(["validate", str(config)]) == 0
    assert "Configuration is valid" in capsys.readouterr().out
    assert main(["plan", str(config)]) == 1  # plan does need one
    assert "no Encord credentials found" in capsys.readouterr().err
    monkeypatch.setenv("ENCORD_SSH_KEY", "not a key")
    assert main(["validate", str(config)]) == 1  # a credential that is given must be usable
    assert "ENCORD_SSH_KEY" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("domain", "words"),
    [
        ("https://exa mple.com", "must not contain white space"),
        ("https://exa\\tmple.com", "must not contain white space"),
        ("https://exa_mple.com", "not a DNS name or an IP address"),
        ("https://-x.com", "not a DNS name or an IP address"),
        ("https://api.encord.com/?", "no path, query or fragment"),
        ("https://api[::1]x:8080", "text around its [IPv6] host"),
    ],
)
def test_a_domain_whose_host_is_no_dns_name_is_refused_at_its_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], domain: str, words: str
) -> None:
    (tmp_path / "reconciler.yaml").write_text(f'backend: {{kind: encord, domain: "{domain}"}}\n')
    assert main(["validate", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert "reconciler.yaml:1:" in err and words in err


def test_a_lock_path_that_cannot_be_made_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "reconciler.yaml").write_text(
        "backend: {kind: sandbox, state: s.db, lock: /proc/no-such/apply.lock}\nfolders: [{name: raw}]\n"
    )
    assert main(["apply", str(tmp_path), "--auto-approve"]) == 1
    err = capsys.readouterr().err
    assert "cannot take the lock /proc/no-such/apply.lock" in err and "Traceback" not in err
