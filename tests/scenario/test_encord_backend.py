"""The `encord` backend over real HTTP (the emulator served on loopback), and credential hygiene:
no key material or signature reaches any output, log or plan file."""

from __future__ import annotations

import base64
import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat

from reconciler.cli.main import main
from tests.fidelity.conftest import EmulatorServer, running_emulator
from tests.fidelity.signing import create_integration, signed
from tests.requestlog import writes

CONFIG = """\
backend:
  kind: encord
  domain: {domain}
{key_line}
integrations: []
metadata_schema:
  keys: {{caption: text, split: {{type: enum, values: [train, val]}}}}
folders:
  - name: raw
    client_metadata: {{team: ml}}
    children: [{{name: cams}}]
datasets:
  - {{title: train, folders: [raw]}}
"""


@pytest.fixture(autouse=True)
def no_credentials_in_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test gives credentials its own way; none leak in from the developer's shell."""
    for name in ("ENCORD_SSH_KEY_FILE", "ENCORD_SSH_KEY", "ENCORD_BEARER_TOKEN"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def server(tmp_path: Path) -> Iterator[EmulatorServer]:
    with running_emulator(tmp_path / "emulator") as srv:
        yield srv


def secrets_of(server: EmulatorServer) -> list[str]:
    """Every form of the private key that could leak: PEM body lines, raw bytes as hex and base64."""
    pem = server.private_key_pem
    body = [line for line in pem.splitlines() if line and not line.startswith("-----")]
    raw = server.private_key.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption())
    return [*body, raw.hex(), base64.b64encode(raw).decode()]


def write_config(tmp_path: Path, domain: str, key_line: str = "") -> Path:
    path = tmp_path / "reconciler.yaml"
    path.write_text(CONFIG.format(domain=domain, key_line=key_line), encoding="utf-8")
    return path


def test_full_plan_and_apply_over_http_leak_no_key_material(
    server: EmulatorServer,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    config = write_config(tmp_path, server.url, f"  ssh_key_file: {server.private_key_path}")
    plan_file = tmp_path / "plan.json"
    assert main(["-vv", "plan", str(config), "--out", str(plan_file)]) == 0
    assert main(["-vv", "apply", str(plan_file), "--auto-approve"]) == 0
    assert main(["-vv", "plan", str(config), "--detailed-exitcode", "--format", "json"]) == 0
    captured = capsys.readouterr()
    outputs = {"stdout": captured.out, "stderr": captured.err, "plan file": plan_file.read_text()}
    assert "Apply complete: 5 applied" in captured.out
    assert "GET /v2/public/storage/folders" in captured.err  # -vv really logged the requests
    for name, text in outputs.items():
        for secret in secrets_of(server):
            assert secret not in text, f"key material in {name}"
        assert "encord-sig=:" not in text and "Signature" not in text, f"signature in {name}"
    # Everything was signed with the key and accepted.
    log = server.read_log()
    assert log and all(entry["signature_valid"] for entry in log)
    assert {entry["auth"] for entry in log} == {"ssh"}


@pytest.mark.parametrize("source", ["ENCORD_SSH_KEY_FILE", "ENCORD_SSH_KEY"])
def test_key_from_the_environment_as_the_sdk_reads_it(
    server: EmulatorServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, source: str
) -> None:
    config = write_config(tmp_path, server.url)
    value = str(server.private_key_path) if source == "ENCORD_SSH_KEY_FILE" else server.private_key_pem
    monkeypatch.setenv(source, value)
    assert main(["apply", str(config), "--auto-approve"]) == 0
    assert main(["plan", str(config), "--detailed-exitcode"]) == 0


def test_no_credentials_is_one_clear_error(
    server: EmulatorServer,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["plan", str(write_config(tmp_path, server.url))]) == 1
    err = capsys.readouterr().err
    assert "ENCORD_SSH_KEY_FILE" in err and "Traceback" not in err


def test_domain_flag_points_a_config_at_another_server(
    server: EmulatorServer,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    config = write_config(tmp_path, "https://api.us.encord.com", f"  ssh_key_file: {server.private_key_path}")
    assert main(["plan", str(config), "--domain", server.url, "--format", "json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["backend"] == {**doc["backend"], "kind": "encord", "location": server.url}
    assert doc["summary"]["create"] == 5
    assert len(server.read_log()) > 0


def test_missing_integration_against_encord_is_a_plan_error(
    server: EmulatorServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = write_config(tmp_path, server.url, f"  ssh_key_file: {server.private_key_path}")
    config.write_text(config.read_text().replace("integrations: []", "integrations: [{title: gcs}]"))
    assert main(["plan", str(config)]) == 1
    out = capsys.readouterr().out
    assert "integration 'gcs' does not exist in Encord" in out and "+ New integration > GCP" in out
    assert main(["apply", str(config), "--auto-approve"]) == 1
    assert writes(server.read_log()) == []


def test_the_directory_example_against_an_encord_server(
    server: EmulatorServer,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    example = tmp_path / "encord-directory"  # a copy: the test leaves nothing in examples/
    shutil.copytree(
        Path(__file__).resolve().parents[2] / "examples" / "encord-directory",
        example,
        ignore=shutil.ignore_patterns(".reconciler"),
    )
    monkeypatch.setenv("RECONCILER_DOMAIN", server.url)
    monkeypatch.setenv("ENCORD_SSH_KEY_FILE", str(server.private_key_path))
    # The integration must be made in the Encord web app first: until then the plan is an error.
    assert main(["plan", str(example)]) == 1
    assert "integration 'gcs-radiology' does not exist in Encord" in capsys.readouterr().out
    with server.http() as http:  # what an admin does in the web app, here through the emulator's route
        create_integration(http, server.private_key, "gcs-radiology", "gcp")
    assert main(["apply", str(example), "--auto-approve"]) == 0
    assert "Apply complete: 11 applied" in capsys.readouterr().out
    assert main(["plan", str(example), "--detailed-exitcode"]) == 0


def test_a_bearer_token_instead_of_a_key(
    server: EmulatorServer,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    with server.http() as http:
        token = signed(http, server.private_key, "GET", "/v2/public/user/bearer-token").json()["token"]
    monkeypatch.setenv("MY_TOKEN", token)
    config = write_config(tmp_path, server.url, "  bearer_token: ${MY_TOKEN}")
    plan_file = tmp_path / "plan.json"
    assert main(["-vv", "plan", str(config), "--out", str(plan_file)]) == 0
    # A saved plan never holds the token: apply reads it as the plan's configuration says (${MY_TOKEN}).
    assert main(["-vv", "apply", str(plan_file), "--auto-approve"]) == 0
    captured = capsys.readouterr()
    for name, text in {"stdout": captured.out, "stderr": captured.err, "plan": plan_file.read_text()}.items():
        assert token not in text, f"token in {name}"
    assert {e["auth"] for e in server.read_log()[1:]} == {"bearer"}
