"""Where a run keeps its journal and recorded state for Encord: one set per endpoint and credential."""

from __future__ import annotations

from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat

from reconciler.backend import backend_ref, local_file
from reconciler.config.models import EncordBackend


def _key(path: Path) -> Path:
    key = Ed25519PrivateKey.generate()
    path.write_bytes(key.private_bytes(Encoding.PEM, PrivateFormat.OpenSSH, NoEncryption()))
    path.chmod(0o600)
    return path


def _ref(tmp_path: Path, domain: str, **fields: str) -> object:
    return backend_ref(EncordBackend.model_validate({"kind": "encord", "domain": domain, **fields}), tmp_path)


def test_two_emulators_on_one_host_and_two_credentials_never_share_a_baseline(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("ENCORD_SSH_KEY_FILE", "ENCORD_SSH_KEY", "ENCORD_BEARER_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    one, two = _key(tmp_path / "one"), _key(tmp_path / "two")
    a = local_file(_ref(tmp_path, "http://127.0.0.1:8765", ssh_key_file=str(one)), tmp_path, "state.json")  # type: ignore[arg-type]
    b = local_file(_ref(tmp_path, "http://127.0.0.1:8766", ssh_key_file=str(one)), tmp_path, "state.json")  # type: ignore[arg-type]
    c = local_file(_ref(tmp_path, "http://127.0.0.1:8765", ssh_key_file=str(two)), tmp_path, "state.json")  # type: ignore[arg-type]
    assert len({a, b, c}) == 3
    assert a.name.startswith("state-127.0.0.1_8765-key-") and a.parent == tmp_path / ".reconciler"
    # The same key from the environment is the same identity as from the config.
    monkeypatch.setenv("ENCORD_SSH_KEY", (tmp_path / "one").read_text())
    assert local_file(_ref(tmp_path, "http://127.0.0.1:8765"), tmp_path, "state.json") == a  # type: ignore[arg-type]
    # Two tokens from the environment are two identities, and neither token is in the name.
    monkeypatch.delenv("ENCORD_SSH_KEY")
    monkeypatch.setenv("ENCORD_BEARER_TOKEN", "secret-token-1")
    t1 = local_file(_ref(tmp_path, "https://api.encord.com"), tmp_path, "state.json")  # type: ignore[arg-type]
    monkeypatch.setenv("ENCORD_BEARER_TOKEN", "secret-token-2")
    t2 = local_file(_ref(tmp_path, "https://api.encord.com"), tmp_path, "state.json")  # type: ignore[arg-type]
    assert (
        t1 != t2 and "secret" not in t1.name + t2.name and t1.name.startswith("state-api.encord.com-token-")
    )
