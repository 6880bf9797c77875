"""Credentials: an Ed25519 key (signs v2 and v1 exactly as the SDK) or a bearer token.

Key material, signatures and tokens never appear in a repr, a log record or an exception message:
the dataclasses redact their repr, and every error raised here names only the *source* of the key
(a path or an environment variable), never its content.
"""

from __future__ import annotations

import hashlib
import logging
import os
import stat
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat, load_ssh_private_key

from reconciler.errors import CredentialsError, NoCredentialsError

ENV_KEY_FILE = "ENCORD_SSH_KEY_FILE"
ENV_KEY = "ENCORD_SSH_KEY"
ENV_BEARER = "ENCORD_BEARER_TOKEN"  # ours, not the SDK's: the SDK takes tokens only as an argument

_log = logging.getLogger("reconciler")


@dataclass(frozen=True, repr=False)
class SshKeyAuth:
    private_key: Ed25519PrivateKey

    @property
    def key_id(self) -> str:
        """Lower-case hex of the raw 32-byte public key."""
        return self.private_key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw).hex()

    def __repr__(self) -> str:  # never show key material
        return "SshKeyAuth(<redacted>)"


@dataclass(frozen=True, repr=False)
class BearerAuth:
    token: str

    def __repr__(self) -> str:
        return "BearerAuth(<redacted>)"


Auth = SshKeyAuth | BearerAuth


def credential_fingerprint(auth: Auth) -> str:
    """Who a credential is, without it: `key-<12 hex>` of the public key, `token-<12 hex>` of a token's
    SHA-256. For naming local files and recorded state per identity; never reversible to the secret."""
    if isinstance(auth, SshKeyAuth):
        return "key-" + hashlib.sha256(bytes.fromhex(auth.key_id)).hexdigest()[:12]
    return "token-" + hashlib.sha256(auth.token.encode()).hexdigest()[:12]


def load_ssh_key(
    *, key_file: Path | None = None, key_text: str | None = None, password: str | None = None
) -> SshKeyAuth:
    """Read an OpenSSH Ed25519 private key; warn (logging) when the file is readable by group/others."""
    if (key_file is None) == (key_text is None):
        raise CredentialsError("load_ssh_key needs exactly one of key_file or key_text")
    if key_file is not None:
        path = key_file.expanduser()
        source = f"key file {path}"
        try:
            mode = path.stat().st_mode
            if not stat.S_ISREG(mode):  # a FIFO or device would block or never end
                raise CredentialsError(f"SSH key file {path} is not a regular file")
            data = path.read_bytes()
        except FileNotFoundError:
            raise CredentialsError(f"SSH key file {path} does not exist") from None
        except OSError as exc:
            raise CredentialsError(f"cannot read SSH key file {path}: {exc.strerror}") from None
        if mode & (stat.S_IRWXG | stat.S_IRWXO):
            _log.warning(
                "SSH key file %s is accessible by group or others (mode %s); run `chmod 600 %s`",
                path,
                oct(stat.S_IMODE(mode)),
                path,
            )
    else:
        assert key_text is not None
        source = "the given key text"
        data = key_text.encode()
    return SshKeyAuth(_parse_key(data, password, source))


def _parse_key(data: bytes, password: str | None, source: str) -> Ed25519PrivateKey:
    # Messages below are deliberately generic: the cryptography exceptions are not chained
    # (`from None`) so no parser detail about the key bytes can reach a traceback.
    try:
        key = load_ssh_private_key(data, password.encode() if password else None)
    except TypeError:
        if password:
            raise CredentialsError(
                f"{source}: the key is not password-protected but a password was given"
            ) from None
        raise CredentialsError(f"{source}: the key is password-protected; a password is needed") from None
    except UnsupportedAlgorithm:
        if password:
            raise CredentialsError(
                f"{source}: cannot decrypt the key; password-protected OpenSSH keys need the `bcrypt` package"
            ) from None
        raise CredentialsError(f"{source}: unsupported key type; Encord needs an Ed25519 key") from None
    except ValueError:
        raise CredentialsError(
            f"{source}: not an OpenSSH private key (-----BEGIN OPENSSH PRIVATE KEY-----), or a wrong password"
        ) from None
    if not isinstance(key, Ed25519PrivateKey):
        raise CredentialsError(f"{source}: the key is not an Ed25519 key; Encord accepts only Ed25519 keys")
    return key


_NO_CREDENTIALS = (
    "no Encord credentials found. Give them in one of these ways: "
    "(1) in the configuration's backend, as `ssh_key_file` or `bearer_token`; "
    f"(2) the environment variable {ENV_KEY_FILE} with the path of an OpenSSH Ed25519 private key file; "
    f"(3) the environment variable {ENV_KEY} with the content of that private key; "
    f"(4) the environment variable {ENV_BEARER} with a bearer token"
)


def resolve_auth(
    *,
    key_file: Path | None = None,
    bearer_token: str | None = None,
    env: Mapping[str, str] | None = None,
    password: str | None = None,
) -> Auth:
    """Config first (key_file / bearer_token), then ENCORD_SSH_KEY_FILE, then ENCORD_SSH_KEY, as the SDK;
    last ENCORD_BEARER_TOKEN."""
    if key_file is not None and bearer_token is not None:
        raise CredentialsError("give either an SSH key file or a bearer token, not both")
    if bearer_token is not None:
        if not bearer_token.strip():
            raise CredentialsError("the bearer token is empty")
        return BearerAuth(bearer_token)
    if key_file is not None:
        return load_ssh_key(key_file=key_file, password=password)
    environ = os.environ if env is None else env
    file_value = environ.get(ENV_KEY_FILE)
    if file_value:
        path = Path(file_value).expanduser()
        if not path.exists():
            raise CredentialsError(
                f"SSH key file {path}, named by the environment variable {ENV_KEY_FILE}, does not exist"
            )
        return load_ssh_key(key_file=path, password=password)
    text_value = environ.get(ENV_KEY)
    if text_value is not None:
        if not text_value.strip():
            raise CredentialsError(f"the environment variable {ENV_KEY} is set but empty")
        try:
            return load_ssh_key(key_text=text_value, password=password)
        except CredentialsError as exc:
            raise CredentialsError(str(exc).replace("the given key text", f"${ENV_KEY}")) from None
    token = environ.get(ENV_BEARER)
    if token is not None:
        if not token.strip():
            raise CredentialsError(f"the environment variable {ENV_BEARER} is set but empty")
        return BearerAuth(token)
    raise NoCredentialsError(_NO_CREDENTIALS)
