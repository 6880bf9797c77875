"""Loading keys and resolving credentials."""

from __future__ import annotations

import base64
import importlib.util
import logging
import os
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from reconciler.encord.auth import BearerAuth, SshKeyAuth, load_ssh_key, resolve_auth
from reconciler.errors import CredentialsError
from tests.client.conftest import write_key


def test_key_id_is_hex_of_raw_public_key(private_key: Ed25519PrivateKey) -> None:
    raw = private_key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    assert SshKeyAuth(private_key).key_id == raw.hex()
    assert len(raw.hex()) == 64


def test_load_from_text_and_file(tmp_path: Path, key_pem: str, private_key: Ed25519PrivateKey) -> None:
    expected = SshKeyAuth(private_key).key_id
    assert load_ssh_key(key_text=key_pem).key_id == expected
    assert load_ssh_key(key_file=write_key(tmp_path / "k", key_pem)).key_id == expected


# A throw-away test key made with `ssh-keygen -t ed25519 -N s3cret` (OpenSSH encrypts with bcrypt-pbkdf).
ENCRYPTED_PEM = """-----BEGIN OPENSSH PRIVATE KEY-----
b3BlbnNzaC1rZXktdjEAAAAACmFlczI1Ni1jdHIAAAAGYmNyeXB0AAAAGAAAABBanOXHsf
5JEf1paag/aocVAAAAEAAAAAEAAAAzAAAAC3NzaC1lZDI1NTE5AAAAIB3f9eXgiLTx/Knf
3EVrD5JWe/zK7LCqf0UdBB7RENdmAAAAkBy5PlOw19TmrVQzSS5bCsRH95lkN/V8Fwc8XM
XhJ7HcTvy7LUZIMKUBUJO0iEABSBkkEs9gpLNJHLOeQqfb13rUpDB1CfxqRCD0PVp/3qjF
VLHIwU6YB5RDrhpqe8i+Sg0CNqg0ap8j64Z0plleJzqEoOHvZQ/2rYsMu9YcKSoj4DnsXv
cbiHElLIG9Hl39OA==
-----END OPENSSH PRIVATE KEY-----
"""
ENCRYPTED_KEY_ID = base64.b64decode("AAAAC3NzaC1lZDI1NTE5AAAAIB3f9eXgiLTx/Knf3EVrD5JWe/zK7LCqf0UdBB7RENdm")[
    -32:
].hex()


def test_password_protected_key() -> None:
    with pytest.raises(CredentialsError, match="password-protected"):
        load_ssh_key(key_text=ENCRYPTED_PEM)
    if importlib.util.find_spec("bcrypt") is None:
        with pytest.raises(CredentialsError, match="bcrypt"):
            load_ssh_key(key_text=ENCRYPTED_PEM, password="s3cret")
    else:
        assert load_ssh_key(key_text=ENCRYPTED_PEM, password="s3cret").key_id == ENCRYPTED_KEY_ID
        with pytest.raises(CredentialsError):
            load_ssh_key(key_text=ENCRYPTED_PEM, password="wrong")


def test_password_for_plain_key_is_refused(key_pem: str) -> None:
    with pytest.raises(CredentialsError, match="not password-protected"):
        load_ssh_key(key_text=key_pem, password="x")


@pytest.mark.parametrize("kind", ["rsa", "ecdsa"])
def test_non_ed25519_key_is_refused(kind: str) -> None:
    key = rsa.generate_private_key(65537, 2048) if kind == "rsa" else ec.generate_private_key(ec.SECP256R1())
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH, serialization.NoEncryption()
    ).decode()
    with pytest.raises(CredentialsError, match="Ed25519") as info:
        load_ssh_key(key_text=pem)
    assert pem.splitlines()[1] not in str(info.value)


def test_garbage_is_refused_without_echoing_it() -> None:
    with pytest.raises(CredentialsError) as info:
        load_ssh_key(key_text="-----BEGIN OPENSSH PRIVATE KEY-----\nSECRETSTUFF\n")
    assert "SECRETSTUFF" not in str(info.value)
    assert info.value.__cause__ is None and info.value.__suppress_context__


def test_group_readable_key_file_warns(
    tmp_path: Path, key_pem: str, caplog: pytest.LogCaptureFixture
) -> None:
    path = write_key(tmp_path / "id_ed25519", key_pem, 0o644)
    with caplog.at_level(logging.WARNING, logger="reconciler"):
        load_ssh_key(key_file=path)
    [record] = [r for r in caplog.records if r.name == "reconciler"]
    assert record.levelno == logging.WARNING
    assert str(path) in record.getMessage() and "chmod 600" in record.getMessage()


def test_private_key_file_does_not_warn(
    tmp_path: Path, key_pem: str, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.DEBUG):
        load_ssh_key(key_file=write_key(tmp_path / "k", key_pem, 0o600))
    assert not caplog.records


def test_missing_key_file(tmp_path: Path) -> None:
    with pytest.raises(CredentialsError, match="does not exist"):
        load_ssh_key(key_file=tmp_path / "nope")


def test_resolve_order(tmp_path: Path, key_pem: str, private_key: Ed25519PrivateKey) -> None:
    other = Ed25519PrivateKey.generate()
    other_pem = other.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH, serialization.NoEncryption()
    ).decode()
    config_file = write_key(tmp_path / "config_key", key_pem)
    env_file = write_key(tmp_path / "env_key", other_pem)
    env = {"ENCORD_SSH_KEY_FILE": str(env_file), "ENCORD_SSH_KEY": key_pem}
    mine, theirs = SshKeyAuth(private_key).key_id, SshKeyAuth(other).key_id

    chosen = resolve_auth(key_file=config_file, env=env)
    assert isinstance(chosen, SshKeyAuth) and chosen.key_id == mine
    assert resolve_auth(bearer_token="tok", env=env) == BearerAuth("tok")
    from_env_file = resolve_auth(env=env)
    assert isinstance(from_env_file, SshKeyAuth) and from_env_file.key_id == theirs
    from_env_text = resolve_auth(env={"ENCORD_SSH_KEY": key_pem})
    assert isinstance(from_env_text, SshKeyAuth) and from_env_text.key_id == mine
    from_env_text = resolve_auth(env={"ENCORD_SSH_KEY_FILE": "", "ENCORD_SSH_KEY": key_pem})
    assert isinstance(from_env_text, SshKeyAuth)


def test_resolve_without_credentials_explains_the_three_ways() -> None:
    with pytest.raises(CredentialsError) as info:
        resolve_auth(env={})
    message = str(info.value)
    assert "ENCORD_SSH_KEY_FILE" in message and "ENCORD_SSH_KEY " in message and "bearer" in message


def test_resolve_env_errors(tmp_path: Path) -> None:
    with pytest.raises(CredentialsError, match="ENCORD_SSH_KEY_FILE"):
        resolve_auth(env={"ENCORD_SSH_KEY_FILE": str(tmp_path / "missing")})
    with pytest.raises(CredentialsError, match="empty"):
        resolve_auth(env={"ENCORD_SSH_KEY": "  "})
    with pytest.raises(CredentialsError, match=r"\$ENCORD_SSH_KEY"):
        resolve_auth(env={"ENCORD_SSH_KEY": "not a key"})
    with pytest.raises(CredentialsError, match="not both"):
        resolve_auth(key_file=tmp_path / "k", bearer_token="t", env={})


def test_reprs_are_redacted(private_key: Ed25519PrivateKey) -> None:
    assert repr(SshKeyAuth(private_key)) == "SshKeyAuth(<redacted>)"
    assert str(BearerAuth("tok-123")) == "BearerAuth(<redacted>)"


def test_a_key_file_that_is_not_a_regular_file_is_refused_without_reading_it(tmp_path: Path) -> None:
    fifo = tmp_path / "key"
    os.mkfifo(fifo)  # reading it would block forever
    with pytest.raises(CredentialsError, match="not a regular file"):
        load_ssh_key(key_file=fifo)
    with pytest.raises(CredentialsError, match="not a regular file"):
        load_ssh_key(key_file=tmp_path)
