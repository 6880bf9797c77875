"""The corpus of bad inputs: every case is generated here, in code, as a table.

A case is (class, name, files to write, command, where the problem is, words the message must hold).
`where` is `file:line` (the CLI prints `file:line:col:`), `file:/json/pointer` for an entry of a JSON
registration file (as the README documents), or a file alone for problems that have no line (a config
entry that is a dangling symlink, an unusable sandbox state path...). Files are written relative to a
fresh directory, and the CLI runs there, so messages name them as written here.

`absent` lists strings that must never be printed: the values of environment variables that hold
secrets, and passwords. Every case must exit 1 without a traceback (see test_corpus.py for the bounds).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa

from reconciler.config.yamlbase import MAX_FILE_BYTES, MAX_NODES
from tests.hardening.harness import Directory, Fifo, FileSpec, Mode, Sized, Symlink

SECRET = "s3cr3t-Tok3n-9f2bd7"  # what an environment variable holding a credential expands to
PASSWORD = "hunter2-Pa55word"


@dataclass(frozen=True)
class Case:
    cls: str
    name: str
    files: Mapping[str, FileSpec]
    argv: tuple[str, ...]
    where: str
    expect: tuple[str, ...]
    env: Mapping[str, str] = field(default_factory=dict)
    absent: tuple[str, ...] = ()
    xfail: str | None = None
    nonroot: bool = False  # a mode-000 file is readable by root: the case is skipped there

    @property
    def id(self) -> str:
        return f"{self.cls}-{self.name}"

    @property
    def command(self) -> str:
        return self.argv[0]


def line_of(text: str, marker: str, nth: int = 1) -> int:
    """The 1-based line of the `nth` line that holds `marker`."""
    found = [i for i, line in enumerate(text.splitlines(), start=1) if marker in line]
    assert len(found) >= nth, f"marker {marker!r} not in the text"
    return found[nth - 1]


class Corpus:
    """Collects cases; each helper takes the words the message must hold."""

    def __init__(self) -> None:
        self.cases: list[Case] = []
        self.cls = ""

    def add(self, case: Case) -> None:
        assert all(c.id != case.id for c in self.cases), case.id
        self.cases.append(case)

    def yaml(
        self,
        name: str,
        text: str | bytes | Sized,
        marker: str | int | None,
        *expect: str,
        command: str = "validate",
        env: Mapping[str, str] | None = None,
        absent: tuple[str, ...] = (),
        extra: Mapping[str, FileSpec] | None = None,
        xfail: str | None = None,
    ) -> None:
        """One config file `r.yaml`; the problem is at the line holding `marker` (or line `marker`)."""
        if marker is None:
            where = "r.yaml"
        elif isinstance(marker, int):
            where = f"r.yaml:{marker}"
        else:
            assert isinstance(text, str)
            where = f"r.yaml:{line_of(text, marker)}"
        self.add(
            Case(
                self.cls,
                name,
                {**(extra or {}), "r.yaml": text},
                (command, "r.yaml"),
                where,
                tuple(expect),
                dict(env or {}),
                absent,
                xfail,
            )
        )

    def raw(
        self,
        name: str,
        files: Mapping[str, FileSpec],
        argv: tuple[str, ...],
        where: str,
        *expect: str,
        env: Mapping[str, str] | None = None,
        absent: tuple[str, ...] = (),
        nonroot: bool = False,
        xfail: str | None = None,
    ) -> None:
        self.add(
            Case(
                self.cls,
                name,
                dict(files),
                argv,
                where,
                tuple(expect),
                dict(env or {}),
                absent,
                xfail,
                nonroot,
            )
        )


# -- key material, made once per session ---------------------------------------------------------------


@cache
def keys() -> dict[str, bytes]:
    """Throwaway keys for the credential cases: a valid Ed25519 private key, its public key, an RSA
    private key, and (when ssh-keygen is installed) a passphrase-protected Ed25519 key."""
    ed = ed25519.Ed25519PrivateKey.generate()
    out = {
        "ed25519": ed.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH, serialization.NoEncryption()
        ),
        "ed25519.pub": ed.public_key().public_bytes(
            serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH
        )
        + b" throwaway\n",
        "rsa": rsa.generate_private_key(public_exponent=65537, key_size=1024).private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH, serialization.NoEncryption()
        ),
    }
    keygen = shutil.which("ssh-keygen")
    if keygen:
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp, "k")
            subprocess.run(
                [keygen, "-q", "-t", "ed25519", "-N", PASSWORD, "-C", "", "-f", str(path)],
                check=True,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            out["encrypted"] = path.read_bytes()
    return out


# -- generators ----------------------------------------------------------------------------------------


def nested_folders(depth: int) -> str:
    lines = ["folders:"]
    indent = "  "
    for level in range(depth):
        lines.append(f"{indent}- name: f{level}")
        if level < depth - 1:
            lines.append(f"{indent}  children:")
            indent += "    "
    return "\n".join(lines) + "\n"


LAUGHS = "a: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n" + "".join(
    f"{b}: &{b} [{', '.join([f'*{a}'] * 9)}]\n" for a, b in zip("abcdefgh", "bcdefghi", strict=True)
)

FITTING_NODES = 50_000
NODE_BUDGET = (
    "reconciler/config/yamlbase.py MAX_NODES (1,000,000, aliases counted in full) lets a document cost over "
    "100 MB and 1 s before it is refused; 50,000 fits (49,990 nodes: 0.6 s, 86 MB). Lowering it moves the "
    "billion-laughs refusal that tests/unit/test_yaml_trust.py asserts at 7:8 (lines 163 and 268) to 5:28."
)


def flat_nodes(count: int) -> str:
    """A config of `count` YAML nodes, nearly all scalars of one flow list (the problem is on line 4)."""
    scalars = count - 9  # the mappings, sequence and keys around them
    return "folders:\n  - name: a\n    client_metadata:\n      k: [" + ", ".join(["1"] * scalars) + "]\n"


def laughs_refusal_line(budget: int) -> int:
    """The line of LAUGHS whose alias first takes the expanded document past `budget` nodes."""
    total, size = 1, 10  # the top mapping; line 1's list and its 9 scalars
    for line in range(1, 10):
        total += 1 + size  # the key, and the list with everything its aliases expand to
        if total > budget:
            return line
        size = 1 + 9 * size
    return 10


ENCORD = "backend:\n  kind: encord\n  domain: {domain}\n  bearer_token: t0ken\n"


def yaml_class(c: Corpus) -> None:
    c.cls = "yaml"
    c.yaml("unclosed-flow", "folders: [a, b\nother: 1\n", 2, "invalid YAML")
    c.yaml("bad-indent", "folders:\n  - name: a\n   description: x\n", 3, "invalid YAML")
    c.yaml("tab-indent", "folders:\n\t- name: a\n", 2, "invalid YAML", "a tab: YAML indents with spaces only")
    c.yaml("unterminated-quote", 'folders:\n  - name: "raw\n', 3, "invalid YAML")
    c.yaml("duplicate-key", "folders:\n  - name: a\n    name: b\n", "name: b", "duplicate key", "first at")
    c.yaml(
        "over-size-limit",
        Sized(b"folders:\n  - name: a\n", MAX_FILE_BYTES + 1),
        1,
        "10,485,760-byte limit",
    )
    c.yaml("not-utf8", b"folders:\n  - name: caf\xe9\n", 2, "not UTF-8", "byte 0xe9", "byte offset 22")
    c.yaml("truncated-utf8", b"folders:\n  - name: \xe2\x82\n", 2, "not UTF-8", "byte offset 19")
    c.yaml("bom-utf16-le", "folders: []\n".encode("utf-16-le").join([b"\xff\xfe", b""]), 1, "UTF-16")
    c.yaml("bom-utf16-be", b"\xfe\xff" + "folders: []\n".encode("utf-16-be"), 1, "UTF-16", "save it as UTF-8")
    c.yaml("bom-utf32-le", b"\xff\xfe\x00\x00" + "folders: []\n".encode("utf-32-le"), 1, "UTF-32")
    c.yaml("nul", "folders:\n  - name: a\x00b\n", 2, "control character U+0000 (NUL)")
    c.yaml("escape", "folders:\n  - name: \x1b[31mred\n", 2, "U+001B (ESC)")
    c.yaml("del", "folders:\n  - name: a\x7f\n", 2, "U+007F")
    c.yaml("c1-control", "folders:\n  - description: a\x9bb\n    name: x\n", 2, "U+009B")
    c.yaml("tag-custom", "folders:\n  - name: !custom a\n", 2, "tag !custom is not allowed")
    c.yaml(
        "tag-python-object",
        "folders:\n  - !!python/object:os.system {name: a}\n",
        2,
        "!!python/object:os.system is not allowed",
    )
    c.yaml(
        "tag-python-apply",
        "folders: !!python/object/apply:subprocess.Popen [[touch, pwned]]\n",
        1,
        "!!python/object/apply:subprocess.Popen is not allowed",
    )
    c.yaml("tag-binary", "folders:\n  - name: !!binary '%%%not base64'\n", 2, "!!binary is not allowed")
    c.yaml("tag-timestamp", "folders:\n  - name: !!timestamp 2024-13-45\n", 2, "!!timestamp is not allowed")
    c.yaml(
        "tag-int-bad",
        "backend:\n  kind: encord\n  max_retries: !!int three\n",
        3,
        "'three' is not a valid !!int",
    )
    c.yaml("tag-seq-on-scalar", "folders: !!seq abc\n", 1, "!!seq cannot be applied to a scalar")
    c.yaml("tag-str-on-map", "folders:\n  - !!str {name: a}\n", 2, "!!str cannot be applied to a mapping")
    c.yaml(
        "tag-directive",
        "%TAG !e! tag:evil.example,2000:\n---\nfolders:\n  - name: !e!x a\n",
        4,
        "tag tag:evil.example,2000:x is not allowed",
    )
    c.yaml("yaml-version", "%YAML 2.0\n---\nfolders: []\n", 1, "invalid YAML")
    c.yaml("cyclic-alias", "folders: &a\n  - name: x\n    children: *a\n", 3, "cyclic alias: *a")
    c.yaml("undefined-alias", "folders:\n  - name: *nowhere\n", 2, "alias *nowhere refers to no anchor")
    c.yaml(
        "billion-laughs",
        LAUGHS + "folders: *i\n",
        laughs_refusal_line(MAX_NODES),
        f"expands the document to more than {MAX_NODES:,} nodes",
    )
    budget = NODE_BUDGET if MAX_NODES > FITTING_NODES else None
    c.yaml("nodes-over-budget", flat_nodes(MAX_NODES + 1), 4, f"more than {MAX_NODES:,} nodes", xfail=budget)
    c.yaml(
        "nodes-under-budget",  # as many nodes as allowed, and a mistake at the end
        flat_nodes(MAX_NODES - 100) + "  - name: b\n    descripton: x\n",
        "descripton",
        "did you mean `description`?",
        xfail=budget,
    )
    copies = int(MAX_NODES * 0.9) // 101
    c.yaml(
        "aliases-under-budget",  # aliases that expand to nine tenths of the budget, and a mistake
        "a: &a [" + ", ".join(["x"] * 100) + "]\nb: [" + ", ".join(["*a"] * copies) + "]\n"
        "folders:\n  - name: x\n    descripton: typo\n",
        "descripton",
        "did you mean `description`?",
        xfail=budget,
    )
    c.yaml("deep-flow", "folders: " + "[" * 1001 + "]" * 1001 + "\n", 1, "nesting deeper than 1000 levels")
    block = "".join(f"{' ' * i}k{i}:\n" for i in range(1001)) + " " * 1001 + "v: 1\n"
    c.yaml("deep-block", block, 1000, "nesting deeper than 1000 levels")
    c.yaml(
        "deep-through-alias",
        "a: &a " + "[" * 600 + "]" * 600 + "\nfolders: " + "[" * 500 + "*a" + "]" * 500 + "\n",
        2,
        "nesting deeper than 1000 levels (through alias *a)",
    )
    c.yaml("two-documents", "folders: []\n---\ndatasets: []\n", 2, "expected a single document")
    c.yaml("merge-scalar", "folders:\n  - <<: 5\n    name: a\n", 2, "the merge key << takes a mapping")
    merged_text = "folders:\n  - &base\n    name: a\n    descripton: typo\n  - <<: *base\n    name: b\n"
    c.yaml(
        "merge-keeps-line", merged_text, "descripton", "folders[0].descripton", "did you mean `description`?"
    )
    merge_list = (
        "folders:\n  - &a {name: a}\n  - &b {name: b, client_metadata: [1]}\n  - <<: [*a, *b]\n    name: c\n"
    )
    c.yaml("merge-list-type-line", merge_list, "client_metadata: [1]", "folders[2].client_metadata")
    c.yaml("top-level-list", "- name: a\n- name: b\n", 1, "expected a mapping of sections")
    c.yaml("top-level-scalar", "just words\n", 1, "expected a mapping of sections")
    c.yaml(
        "complex-key",
        "folders:\n  - ? [a, b]\n    : 1\n    name: x\n",
        2,
        "mapping key must be a plain scalar",
    )
    c.yaml(
        "date-in-metadata",
        "folders:\n  - name: a\n    client_metadata:\n      day: 2024-05-01\n",
        "client_metadata:",
        "not JSON",
        "quote it",
    )
    c.yaml(
        "nan-in-metadata", "folders:\n  - name: a\n    client_metadata: {x: .nan}\n", 3, "not a JSON number"
    )
    c.yaml("too-many-problems", "folders:\n" + "  - name: !x a\n" * 150, None, "too many problems (100)")
    c.yaml("folders-201-deep", nested_folders(201), "name: f200", "200 levels")
    deep_meta = "folders:\n  - name: a\n    client_metadata: " + "{a: " * 990 + "1" + "}" * 990 + "\n"
    c.yaml("metadata-990-deep", deep_meta, 3, "client_metadata", "nested deeper than 100 levels")
    c.yaml(
        "huge-scalar",
        Sized(b"folders:\n  - name: a\n    colour: ", MAX_FILE_BYTES - 64, b"x"),
        3,
        "unknown key",
    )
    c.yaml(
        "huge-comment",
        Sized(b"folders:\n  - nam: a\n#", MAX_FILE_BYTES - 64, b"#"),
        2,
        "did you mean `name`?",
    )
    c.yaml(
        "timeout-infinite",
        ENCORD.format(domain="https://api.encord.com") + "  timeout_seconds: .inf\n",
        "timeout_seconds",
        "finite",
    )
    c.yaml(
        "timeout-nan",
        ENCORD.format(domain="https://api.encord.com") + "  timeout_seconds: .nan\n",
        "timeout_seconds",
        "backend.timeout_seconds",
    )


def files_class(c: Corpus) -> None:
    c.cls = "files"
    good = "folders:\n  - name: raw\n"
    conf = {"conf/a.yaml": good}
    c.raw("dangling-symlink", {**conf, "conf/gone.yaml": Symlink("nowhere.yaml")}, ("validate", "conf"),
          "conf/gone.yaml", "dangling symlink")  # fmt: skip
    c.raw("symlink-loop", {**conf, "conf/x.yaml": Symlink("y.yaml"), "conf/y.yaml": Symlink("x.yaml")},
          ("validate", "conf"), "conf/x.yaml", "symlink loop")  # fmt: skip
    c.raw("unreadable", {**conf, "conf/locked.yaml": Mode(good, 0)}, ("validate", "conf"),
          "conf/locked.yaml", "permission denied", nonroot=True)  # fmt: skip
    c.raw("fifo", {**conf, "conf/pipe.yaml": Fifo()}, ("validate", "conf"), "conf/pipe.yaml",
          "not a regular file (a fifo)")  # fmt: skip
    c.raw("fifo-named", {"pipe.yaml": Fifo()}, ("plan", "pipe.yaml"), "pipe.yaml", "not a regular file")
    c.raw("device-named", {}, ("validate", "/dev/zero"), "/dev/zero", "not a regular file (a device)")
    c.raw("directory-loop", {**conf, "conf/sub/up": Symlink("..")}, ("validate", "conf"), "conf/sub/up",
          "directory loop")  # fmt: skip
    c.raw("yaml-named-directory", {**conf, "conf/d.yaml": Directory()}, ("validate", "conf"), "conf/d.yaml",
          "is a directory")  # fmt: skip
    c.raw("empty-directory", {"conf": Directory()}, ("validate", "conf"), "conf", "no .yaml or .yml files")
    c.raw("missing-config", {}, ("plan", "nowhere.yaml"), "nowhere.yaml", "no such file or directory")
    c.raw("default-missing", {}, ("plan",), "reconciler.yaml", "create reconciler.yaml")
    c.raw("bad-file-in-subdir", {**conf, "conf/sub/b.yml": "folders: [\n"}, ("validate", "conf"),
          "conf/sub/b.yml:2", "invalid YAML")  # fmt: skip
    state_dir = "backend:\n  kind: sandbox\n  state: st\n" + good
    c.raw("state-is-directory", {"r.yaml": state_dir, "st": Directory()}, ("validate", "r.yaml"), "r.yaml:3",
          "backend.state", "is a directory")  # fmt: skip
    c.raw("state-is-directory-plan", {"r.yaml": state_dir, "st": Directory()}, ("plan", "r.yaml"), "r.yaml:3",
          "backend.state", "is a directory")  # fmt: skip
    under_file = "backend:\n  kind: sandbox\n  state: f/sandbox.db\n" + good
    c.raw("state-under-file", {"r.yaml": under_file, "f": "not a directory"}, ("validate", "r.yaml"),
          "r.yaml:3", "f is a file, not a directory")  # fmt: skip
    c.raw("state-under-file-plan", {"r.yaml": under_file, "f": "x"}, ("plan", "r.yaml"), "r.yaml:3",
          "f is a file, not a directory")  # fmt: skip
    not_db = "backend:\n  kind: sandbox\n  state: s.db\n" + good
    c.raw("state-not-sqlite", {"r.yaml": not_db, "s.db": b"this is not a database" * 100}, ("plan", "r.yaml"),
          "r.yaml:3", "s.db", "SQLite")  # fmt: skip
    c.raw("state-key-garbage", {"r.yaml": not_db, "s.key": "garbage"}, ("plan", "r.yaml"), "r.yaml:3",
          "s.key")  # fmt: skip
    buckets = "backend:\n  kind: sandbox\n  buckets: {b1: ./missing-dir}\n" + good
    c.raw("sandbox-bucket-missing", {"r.yaml": buckets}, ("validate", "r.yaml"), "r.yaml:3",
          "missing-dir", "not a directory")  # fmt: skip
    c.raw("sandbox-bucket-missing-plan", {"r.yaml": buckets}, ("plan", "r.yaml"), "r.yaml:3",
          "missing-dir", "not a directory")  # fmt: skip
    c.raw("apply-bad-config", {"r.yaml": "folders:\n  - nme: raw\n"}, ("apply", "r.yaml", "--auto-approve"),
          "r.yaml:2", "unknown key", "`name`")  # fmt: skip
    c.raw("lock-status-bad-config", {"r.yaml": "prune: {folders: some}\n"}, ("lock", "status", "r.yaml"),
          "r.yaml:1", "prune.folders")  # fmt: skip
    c.raw("apply-truncated-plan", {"p.json": '{"format_version": 1, "changes": ['}, ("apply", "p.json"),
          "p.json:1", "not a readable plan file")  # fmt: skip
    c.raw("apply-plan-future-version", {"p.json": '{"format_version": 999, "changes": []}'},
          ("apply", "p.json"), "p.json", "format_version 999")  # fmt: skip
    c.raw("plan-out-directory", {**conf, "outdir": Directory()}, ("plan", "conf", "--out", "outdir"), "--out",
          "is a directory")  # fmt: skip
    c.raw("plan-out-under-file", {**conf, "f": "x"}, ("plan", "conf", "--out", "f/plan.json"), "--out",
          "f is a file")  # fmt: skip
    c.raw("apply-report-directory", {**conf, "outdir": Directory()},
          ("apply", "conf", "--auto-approve", "--report", "outdir"), "--report", "is a directory")  # fmt: skip
    c.raw("apply-retry-fifo", {**conf, "ff": Fifo()}, ("apply", "conf", "--auto-approve", "--retry-failed", "ff"),
          "--retry-failed", "not a regular file (a fifo)")  # fmt: skip
    c.raw("apply-retry-garbage", {**conf, "rep.json": "[1, 2"},
          ("apply", "conf", "--auto-approve", "--retry-failed", "rep.json"), "rep.json",
          "not a registration report")  # fmt: skip
    c.raw("export-out-is-file", {**conf, "afile": "x"}, ("export", "conf", "--out", "afile"), "--out",
          "is a file")  # fmt: skip
    c.raw("lock-status-fifo-config", {"r.yaml": Fifo()}, ("lock", "status", "r.yaml"), "r.yaml",
          "not a regular file")  # fmt: skip


def credentials_class(c: Corpus) -> None:
    c.cls = "backend"
    k = keys()
    for name, domain, words in (
        ("domain-ftp", "ftp://api.encord.com", "must start with https://"),
        ("domain-no-scheme", "api.encord.com", "must start with https://"),
        ("domain-path", "https://api.encord.com/v2", "no path"),
        ("domain-query", "https://api.encord.com?x=1", "no path, query or fragment"),
        ("domain-fragment", "https://api.encord.com#top", "no path, query or fragment"),
        ("domain-port-text", "https://api.encord.com:https", "not a valid URL"),
        ("domain-port-range", "https://api.encord.com:99999", "not a valid URL"),
        ("domain-no-host", "https://", "names no host"),
        ("domain-user", "https://alice@api.encord.com", "must not hold a user name or password"),
    ):
        c.yaml(name, ENCORD.format(domain=domain), "domain:", "backend.domain", words)
    c.yaml(
        "domain-password",
        ENCORD.format(domain=f"https://alice:{PASSWORD}@api.encord.com"),
        "domain:",
        "must not hold a user name or password",
        absent=(PASSWORD,),
    )
    c.yaml(
        "domain-password-from-env",
        ENCORD.format(domain="${ENCORD_URL}"),
        "domain:",
        "must not hold a user name or password",
        env={"ENCORD_URL": f"https://bob:{PASSWORD}@api.encord.com"},
        absent=(PASSWORD,),
    )
    key_backend = "backend:\n  kind: encord\n  ssh_key_file: {path}\n"
    c.yaml("key-missing", key_backend.format(path="keys/none"), 3, "keys/none", "does not exist")
    c.yaml("key-is-public", key_backend.format(path="k.pub"), 3, "not an OpenSSH private key",
           extra={"k.pub": Mode(k["ed25519.pub"], 0o600)})  # fmt: skip
    c.yaml("key-is-rsa", key_backend.format(path="k"), 3, "Ed25519",
           extra={"k": Mode(k["rsa"], 0o600)})  # fmt: skip
    if "encrypted" in k:
        c.yaml("key-has-passphrase", key_backend.format(path="k"), 3, "k", "password",
               extra={"k": Mode(k["encrypted"], 0o600)}, absent=(PASSWORD,))  # fmt: skip
    c.yaml("key-garbage", key_backend.format(path="k"), 3, "not an OpenSSH private key",
           extra={"k": Mode(b"-----BEGIN OPENSSH PRIVATE KEY-----\nAAAA\n", 0o600)})  # fmt: skip
    c.yaml("key-is-directory", key_backend.format(path="kdir"), 3, "kdir", extra={"kdir": Directory()})
    c.yaml("key-is-fifo", key_backend.format(path="kpipe"), 3, "kpipe", extra={"kpipe": Fifo()})
    if os.geteuid() != 0:  # root reads a mode-000 file
        c.yaml("key-unreadable", key_backend.format(path="k"), 3, "cannot read",
               extra={"k": Mode(k["ed25519"], 0)})  # fmt: skip
    c.yaml(
        "key-and-token",
        key_backend.format(path="k") + "  bearer_token: abc\n",
        3,
        "either an SSH key file or a bearer token, not both",
        extra={"k": Mode(k["ed25519"], 0o600)},
    )
    c.yaml("token-empty", "backend:\n  kind: encord\n  bearer_token: ''\n", 3, "bearer token is empty")
    c.yaml("token-blank", "backend:\n  kind: encord\n  bearer_token: '   '\n", 3, "bearer token is empty")
    c.yaml(
        "token-empty-env",
        "backend:\n  kind: encord\n  bearer_token: ${TOKEN}\n",
        3,
        "bearer token is empty",
        env={"TOKEN": ""},
    )
    c.yaml(
        "env-key-file-missing",
        "backend:\n  kind: encord\n",
        1,
        "ENCORD_SSH_KEY_FILE",
        "does not exist",
        env={"ENCORD_SSH_KEY_FILE": "/nonexistent/key"},
    )
    c.yaml(
        "env-key-garbage",
        "backend:\n  kind: encord\n",
        1,
        "not an OpenSSH private key",
        env={"ENCORD_SSH_KEY": f"-----BEGIN OPENSSH PRIVATE KEY-----\n{SECRET}\n"},
        absent=(SECRET,),
    )
    c.yaml("env-key-empty", "backend:\n  kind: encord\n", 1, "ENCORD_SSH_KEY is set but empty",
           env={"ENCORD_SSH_KEY": " "})  # fmt: skip
    c.yaml("kind-unknown", "backend:\n  kind: local\n", 1, "unknown kind 'local'", "'sandbox', 'encord'")
    c.yaml("kind-missing", "backend:\n  domain: https://api.encord.com\n", 1, "backend", "kind")
    c.yaml("kind-not-string", "backend:\n  kind: [encord]\n", 1, "unknown kind")
    c.yaml("timeout-negative", ENCORD.format(domain="https://a.b") + "  timeout_seconds: -1\n", "timeout",
           "greater than 0")  # fmt: skip
    c.yaml("retries-too-many", ENCORD.format(domain="https://a.b") + "  max_retries: 11\n", "max_retries",
           "less than or equal to 10")  # fmt: skip
    c.yaml("concurrency-zero", ENCORD.format(domain="https://a.b") + "  concurrency: 0\n", "concurrency",
           "greater than or equal to 1")  # fmt: skip
    c.yaml("retries-float", ENCORD.format(domain="https://a.b") + "  max_retries: 1.5\n", "max_retries",
           "integer")  # fmt: skip
    c.yaml("lock-s3", "backend:\n  kind: sandbox\n  lock: s3://b/lock.json\n", "lock:", "a lock is gs://")
    c.yaml(
        "lock-gs-no-object",
        "backend:\n  kind: sandbox\n  lock: gs://bucket\n",
        "lock:",
        "a GCS lock is an object",
    )
    c.yaml(
        "sandbox-with-domain", "backend:\n  kind: sandbox\n  domain: https://a.b\n", "domain:", "unknown key"
    )
    c.raw(
        "backend-twice",
        {"conf/a.yaml": "backend: {kind: sandbox}\n", "conf/b.yaml": "backend:\n  kind: sandbox\n"},
        ("validate", "conf"),
        "conf/b.yaml:1",
        "backend is declared twice",
        "conf/a.yaml:1",
    )
    c.raw(
        "cli-domain-password",
        {"r.yaml": "folders:\n  - name: raw\n"},
        ("plan", "r.yaml", "--domain", f"https://carol:{PASSWORD}@api.encord.com"),
        "--domain",
        "must not hold a user name or password",
        absent=(PASSWORD,),
    )
    c.raw("cli-domain-ftp", {"r.yaml": "folders:\n  - name: raw\n"},
          ("plan", "r.yaml", "--domain", "ftp://api.encord.com"), "--domain", "https://")  # fmt: skip
    c.raw("cli-bad-target", {"r.yaml": "folders:\n  - name: raw\n"},
          ("plan", "r.yaml", "--target", "nonsense"), "--target", "nonsense")  # fmt: skip
    # plan against Encord checks what it can before its first request (an unreachable domain, no retries)
    unreachable = (
        "backend:\n  kind: encord\n  domain: https://unreachable.invalid\n  max_retries: 0\n"
        "  timeout_seconds: 1\n"
    )
    c.raw("plan-key-missing", {"r.yaml": unreachable + "  ssh_key_file: none.key\n"}, ("plan", "r.yaml"),
          "r.yaml:6", "none.key", "does not exist")  # fmt: skip
    c.raw("plan-no-credentials", {"r.yaml": unreachable}, ("plan", "r.yaml"), "r.yaml:1",
          "no Encord credentials found")  # fmt: skip
    c.raw("plan-key-is-fifo", {"r.yaml": unreachable + "  ssh_key_file: kp\n", "kp": Fifo()},
          ("plan", "r.yaml"), "r.yaml:6", "not a regular file (a fifo)")  # fmt: skip
    c.raw("plan-env-key-file-fifo", {"r.yaml": unreachable, "kp": Fifo()}, ("plan", "r.yaml"), "r.yaml:1",
          "ENCORD_SSH_KEY_FILE", "not a regular file", env={"ENCORD_SSH_KEY_FILE": "kp"})  # fmt: skip


def types_and_limits_class(c: Corpus) -> None:
    c.cls = "types"
    c.yaml("folders-not-list", "folders: raw\n", 1, "folders", "valid list")
    c.yaml("folder-name-number", "folders:\n  - name: 42\n", "name:", "folders[0].name", "string")
    c.yaml("folder-metadata-list", "folders:\n  - name: a\n    client_metadata: [1, 2]\n", 3, "dictionary")
    c.yaml("dataset-recursive-word", "folders: [{name: a}]\ndatasets:\n  - title: t\n    folders:\n"
           "      - {path: a, recursive: maybe}\n", "recursive", "recursive", "boolean")  # fmt: skip
    c.yaml("prune-folders-literal", "prune:\n  folders: some\n", 2, "prune.folders", "'all'", "'nested'")
    c.yaml("provider-unknown", "integrations:\n  - title: i\n    provider: ibm\n", 3, "provider", "'gcp'")
    c.yaml("key-type-unknown", "metadata_schema:\n  keys:\n    k: blob\n", 3, "unknown type", "'enum'")
    c.yaml("enum-values-not-list", "metadata_schema:\n  keys:\n    k: {type: enum, values: red}\n", 3, "list")
    c.yaml(
        "embedding-size-word",
        "metadata_schema:\n  keys:\n    k: {type: embedding, size: big}\n",
        3,
        "integer",
    )
    c.yaml("dataset-folders-number", "datasets:\n  - title: t\n    folders: 5\n", 3, "datasets[0].folders")
    c.yaml("safety-percent-text", "safety:\n  folders:\n    max_delete_percent: lots\n", 3, "integer")
    c.yaml("forget-not-list", "forget: folder.raw\n", 1, "forget", "list")
    c.yaml("description-bool-from-env", "folders:\n  - name: a\n    description: ${DESC}\n", 3,
           "folders[0].description", "string", env={"DESC": "yes"})  # fmt: skip
    c.cls = "limits"
    c.yaml("folder-name-301", f"folders:\n  - name: {'n' * 301}\n", 2, "at most 300 characters")
    c.yaml("folder-name-empty", "folders:\n  - name: ''\n", 2, "at least 1 character")
    c.yaml("folder-name-slash", "folders:\n  - name: a/b\n", 2, "must not contain '/'")
    c.yaml("folder-name-space", "folders:\n  - name: ' a'\n", 2, "white space")
    values = ", ".join(f"v{i}" for i in range(256))
    c.yaml("enum-256-values", f"metadata_schema:\n  keys:\n    k: {{type: enum, values: [{values}]}}\n", 3,
           "at most 255")  # fmt: skip
    c.yaml("enum-duplicates", "metadata_schema:\n  keys:\n    k: {type: enum, values: [a, b, a]}\n", 3,
           "must be unique", "repeated: a")  # fmt: skip
    c.yaml("enum-empty-value", "metadata_schema:\n  keys:\n    k: {type: enum, values: ['', b]}\n", 3,
           "must not be empty")  # fmt: skip
    c.yaml("enum-no-values", "metadata_schema:\n  keys:\n    k: {type: enum, values: []}\n", 3, "at least 1")
    c.yaml("embedding-zero", "metadata_schema:\n  keys:\n    k: {type: embedding, size: 0}\n", 3,
           "greater than or equal to 1")  # fmt: skip
    c.yaml("embedding-4097", "metadata_schema:\n  keys:\n    k: {type: embedding, size: 4097}\n", 3,
           "less than or equal to 4096")  # fmt: skip
    c.yaml("key-dollar", "metadata_schema:\n  keys:\n    $k: text\n", 3, "must not start with '$'")
    c.yaml("key-keyframes", "metadata_schema:\n  keys:\n    key_frames: text\n", 3, "reserved")
    c.yaml("key-symbols", "metadata_schema:\n  keys:\n    'a/b!': text\n", 3, "only letters, digits")
    c.yaml("bucket-uppercase", "integrations:\n  - title: i\n    bucket: Bad_Bucket\n", 3, "GCS bucket name")
    c.yaml("bucket-not-gcp", "integrations:\n  - title: i\n    provider: aws\n    bucket: b-1\n", 2,
           "gcp integrations only")  # fmt: skip
    c.yaml("iam-without-bucket", "integrations:\n  - title: i\n    iam: {member: 'user:a@b.c'}\n", 2,
           "need the integration's `bucket`")  # fmt: skip
    c.yaml("iam-member-shape", "integrations:\n  - title: i\n    bucket: b-1\n    iam: {member: alice}\n",
           4, "an IAM member starts with")  # fmt: skip
    c.yaml("prune-without-data", "folders:\n  - name: a\n    prune: true\n", 2, "`prune: true` needs `data`")
    c.yaml(
        "safety-over-100", "safety:\n  items:\n    max_delete_percent: 150\n", 3, "less than or equal to 100"
    )
    c.yaml("batch-zero", "integrations: [{title: i}]\nfolders:\n  - name: a\n    data:\n      - integration: i\n"
           "        bucket: gs://b/p\n        batch: {images: 0}\n", "batch", "greater than or equal to 1")  # fmt: skip


def names_class(c: Corpus) -> None:
    c.cls = "names"
    c.yaml("unknown-key-near", "folders:\n  - name: a\n    descripton: x\n", 3, "unknown key",
           "did you mean `description`?")  # fmt: skip
    c.yaml("unknown-section-near", "folder:\n  - name: a\n", 1, "did you mean `folders`?")
    c.yaml(
        "unknown-backend-key",
        "backend:\n  kind: encord\n  ssh_keyfile: k\n",
        3,
        "did you mean `ssh_key_file`?",
    )
    c.yaml(
        "unknown-key-far", "folders:\n  - name: a\n    zzzzqqq: 1\n", 3, "`reconciler schema` lists every key"
    )
    c.yaml("undeclared-folder", "folders:\n  - name: raw\ndatasets:\n  - title: t\n    folders: [raw/missing]\n",
           "raw/missing", "folder 'raw/missing' is not declared")  # fmt: skip
    c.yaml("no-folders-section", "datasets:\n  - title: t\n    folders: [raw]\n", 3,
           "no `folders` section is declared")  # fmt: skip
    c.yaml(
        "folder-twice-same-file", "folders:\n  - name: a\n  - name: a\n", 3, "folder 'a' is declared twice"
    )
    two = {"conf/a.yaml": "folders:\n  - name: raw\n", "conf/b.yaml": "folders:\n  - name: raw\n"}
    c.raw("folder-twice", two, ("validate", "conf"), "conf/b.yaml:2", "folder 'raw' is declared twice",
          "conf/a.yaml:2")  # fmt: skip
    c.raw("dataset-twice", {"conf/a.yaml": "datasets:\n  - title: t\n", "conf/b.yaml": "\ndatasets:\n  - title: t\n"},
          ("validate", "conf"), "conf/b.yaml:3", "dataset 't' is declared twice")  # fmt: skip
    c.raw("key-twice", {"conf/a.yaml": "metadata_schema:\n  keys: {k: text}\n",
                        "conf/b.yaml": "metadata_schema:\n  keys:\n    k: text\n"},
          ("validate", "conf"), "conf/b.yaml:3", "metadata key 'k' is declared twice")  # fmt: skip
    c.raw("schema-prune-disagrees", {"conf/a.yaml": "metadata_schema:\n  prune: true\n",
                                     "conf/b.yaml": "metadata_schema:\n  prune: false\n"},
          ("validate", "conf"), "conf/b.yaml:2", "metadata_schema.prune disagrees")  # fmt: skip
    c.raw("integration-twice", {"conf/a.yaml": "integrations: [{title: i}]\n",
                                "conf/b.yaml": "integrations:\n  - title: i\n"},
          ("validate", "conf"), "conf/b.yaml:2", "integration 'i' is declared twice")  # fmt: skip
    c.raw("prune-twice", {"conf/a.yaml": "prune: {folders: all}\n", "conf/b.yaml": "prune: {folders: none}\n"},
          ("validate", "conf"), "conf/b.yaml:1", "prune is declared twice")  # fmt: skip
    c.yaml("bucket-twice", "integrations:\n  - {title: i, bucket: b-1}\n  - {title: j, bucket: b-1}\n", 3,
           "also named by integration 'i'")  # fmt: skip
    ordered = (
        "folders:\n  - name: a\n    descripton: x\n"  # line 3
        "  - name: ${UNSET_VAR}\n"  # line 4
        "datasets:\n  - title: t\n    folders: [missing]\n"  # line 7
    )
    c.yaml("all-at-once-in-order", ordered, 3, "unknown key", "UNSET_VAR is not set")
    markup = "folders:\n  - name: raw\ndatasets:\n  - title: t\n    folders: ['[bold red]boom[/bold red]']\n"
    c.yaml("markup-literal", markup, 5, "'[bold red]boom[/bold red]' is not declared")
    c.yaml("markup-plan", markup, 5, "'[bold red]boom[/bold red]' is not declared", command="plan")
    c.yaml("emoji-literal", "folders:\n  - name: raw\n  - name: raw\n    description: ':thumbs_up:'\n"
           "datasets:\n  - title: t\n    folders: [':thumbs_up:']\n", 3, ":thumbs_up:' is not declared")  # fmt: skip
    c.yaml("markup-in-key", "folders:\n  - name: a\n    '[red]x[/red]': 1\n", 3, "[red]x[/red]")
    c.yaml("markup-metadata-key", "metadata_schema:\n  keys:\n    '[b]k!': text\n", 3, "[b]k!")
    c.yaml("forget-not-an-address", "forget: [bogus]\n", 1, "forget[0]", "folder.<path>")
    c.yaml("forget-empty-path", "forget:\n  - folder./\n", 2, "folder.<path>")
    c.yaml(
        "markup-folder-twice", "folders:\n  - name: '[i]x'\n  - name: '[i]x'\n", 3, "'[i]x' is declared twice"
    )


def interpolation_class(c: Corpus) -> None:
    c.cls = "interpolation"
    c.yaml("unclosed", "folders:\n  - name: ${FOO\n", 2, "malformed ${...}")
    c.yaml("colon-without-dash", "folders:\n  - name: ${FOO:default}\n", 2, "malformed ${...}")
    c.yaml("leading-digit", "folders:\n  - name: ${1ABC}\n", 2, "malformed ${...}")
    c.yaml("empty-name", "folders:\n  - name: x${}\n", 2, "malformed ${...}")
    c.yaml("unset", "folders:\n  - name: ${NOT_SET_ANYWHERE}\n", 2, "NOT_SET_ANYWHERE is not set",
           "${NOT_SET_ANYWHERE:-default}")  # fmt: skip
    c.yaml("unset-in-list", "datasets:\n  - title: t\n    folders:\n      - a\n      - ${NOPE}\n", 5,
           "datasets[0].folders[1]", "NOPE is not set")  # fmt: skip
    c.yaml("unset-in-flow", "folders: [{name: a, description: '${NOPE}'}]\n", 1, "NOPE is not set")
    c.yaml(
        "forget-secret",
        "forget:\n  - ${SECRET}\n",
        2,
        "folder.<path>",
        env={"SECRET": SECRET},
        absent=(SECRET,),
    )
    c.yaml(  # a variable holding a word of the format is no secret: the choices are still listed as is
        "vocabulary-kept",
        "integrations:\n  - {title: a, provider: '${PROVIDER}'}\n  - {title: b, provider: ibm}\n",
        3,
        "'gcp', 'aws', 'azure' or 'otc'",
        env={"PROVIDER": "gcp"},
    )
    c.yaml(
        "number-into-string", "folders:\n  - name: ${N}\n", 2, "folders[0].name", "string", env={"N": "12345"}
    )

    # A value that came from ${VAR} is never echoed, wherever it is misplaced.
    env = {"SECRET": SECRET}
    for name, text, marker, words in (
        (
            "secret-wrong-type",
            "backend:\n  kind: encord\n  timeout_seconds: ${SECRET}\n",
            "timeout",
            "number",
        ),
        ("secret-key-type", "metadata_schema:\n  keys:\n    k: ${SECRET}\n", "k:", "${SECRET}"),
        (
            "secret-key-type-object",
            "metadata_schema:\n  keys:\n    k: {type: '${SECRET}'}\n",
            "k:",
            "${SECRET}",
        ),
        ("secret-backend-kind", "backend:\n  kind: ${SECRET}\n", 1, "unknown kind '${SECRET}'"),
        ("secret-provider", "integrations:\n  - title: i\n    provider: ${SECRET}\n", "provider", "provider"),
        ("secret-prune-literal", "prune:\n  folders: ${SECRET}\n", "folders", "prune.folders"),
        (
            "secret-folder-ref",
            "folders: [{name: raw}]\ndatasets:\n  - title: t\n    folders: ['raw/${SECRET}']\n",
            "folders: ['raw",
            "${SECRET}",
        ),
        (
            "secret-folder-ref-object",
            "folders: [{name: raw}]\ndatasets:\n  - title: t\n    folders:\n      - path: ${SECRET}\n",
            "path:",
            "${SECRET}",
        ),
        ("secret-dataset-twice", "datasets:\n  - title: ${SECRET}\n  - title: ${SECRET}\n", 3, "${SECRET}"),
        ("secret-folder-twice", "folders:\n  - name: ${SECRET}\n  - name: ${SECRET}\n", 3, "${SECRET}"),
        (
            "secret-integration-twice",
            "integrations:\n  - title: ${SECRET}\n  - title: ${SECRET}\n",
            3,
            "${SECRET}",
        ),
        (
            "secret-enum-twice",
            "metadata_schema:\n  keys:\n    k:\n      type: enum\n      values: ['${SECRET}', '${SECRET}']\n",
            "values:",
            "must be unique",
        ),
        ("secret-folder-slash", "folders:\n  - name: a/${SECRET}\n", 2, "must not contain '/'"),
        (
            "secret-iam-member",
            "integrations:\n  - title: i\n    bucket: b-1\n    iam: {member: '${SECRET}'}\n",
            4,
            "IAM member",
        ),
        ("secret-bucket-name", "integrations:\n  - title: i\n    bucket: ${SECRET}\n", 3, "bucket name"),
        ("secret-lock", "backend:\n  kind: sandbox\n  lock: s3://${SECRET}\n", "lock", "a lock is"),
        (
            "secret-data-integration",
            "integrations: [{title: i}]\nfolders:\n  - name: a\n    data:\n"
            "      - integration: ${SECRET}\n        json: d.json\n",
            "name: a",
            "${SECRET}",
        ),
        (
            "secret-glob",
            "integrations: [{title: i}]\nfolders:\n  - name: a\n    data:\n"
            "      - integration: i\n        bucket: gs://b/p\n        include: ['[z-a]${SECRET}']\n",
            "integration: i",
            "bad glob",
        ),
        (
            "secret-title-template",
            "integrations: [{title: i}]\nfolders:\n  - name: a\n    data:\n"
            "      - integration: i\n        bucket: gs://b/p\n        title: '{${SECRET}}'\n",
            "integration: i",
            "placeholder",
        ),
        (
            "secret-listing-bucket",
            "integrations: [{title: i, bucket: b-1}]\nfolders:\n  - name: a\n    data:\n"
            "      - integration: i\n        bucket: gs://${SECRET}/p\n",
            "integration: i",
            "integration 'i' reads",
        ),
        (
            "secret-data-path",
            "integrations: [{title: i}]\nfolders:\n  - name: a\n    data:\n"
            "      - integration: i\n        json: ${SECRET}.json\n",
            "json:",
            "${SECRET}",
        ),
        (
            "secret-date-metadata",
            "folders:\n  - name: a\n    client_metadata:\n      when: ${SECRET}\n",
            3,
            "not JSON",
        ),
    ):
        secret_env = env if "date" not in name else {"SECRET": "2024-05-01"}
        c.yaml(name, text, marker, words, env=secret_env, absent=(secret_env["SECRET"],))


def registration_class(c: Corpus) -> None:
    c.cls = "registration"
    head = (
        "integrations:\n  - title: i\n    bucket: b-1\n"
        "metadata_schema:\n  keys:\n    split: {type: enum, values: [train, val]}\n"
        "folders:\n  - name: a\n    data:\n"
    )

    def json_case(name: str, doc: str | bytes, where: str, *words: str, strict: bool = False) -> None:
        text = head.replace("bucket: b-1", "bucket: b-1\n    strict_client_only: true") if strict else head
        c.raw(name, {"r.yaml": text + "      - {integration: i, json: d/x.json}\n", "d/x.json": doc},
              ("validate", "r.yaml"), where, *words)  # fmt: skip

    def csv_case(name: str, doc: str | bytes, where: str, *words: str) -> None:
        c.raw(name, {"r.yaml": head + "      - {integration: i, csv: d/x.csv}\n", "d/x.csv": doc},
              ("validate", "r.yaml"), where, *words)  # fmt: skip

    url = "gs://b-1/x.jpg"
    json_case("json-malformed", '{\n  "images": [\n    {"objectUrl": "gs://b-1/a.jpg",}\n  ]\n}\n',
              "d/x.json:3", "not valid JSON")  # fmt: skip
    json_case(
        "json-top-array", '\n  [{"objectUrl": "gs://b-1/a.jpg"}]\n', "d/x.json:2", "expected a JSON object"
    )
    json_case("json-empty", "  \n", "d/x.json:1", "the file is empty")
    json_case(
        "json-not-utf8", b'{"images": [\n{"objectUrl": "gs://b-1/\xff.jpg"}]}', "d/x.json:2", "not UTF-8"
    )
    json_case("json-utf16", '{"images": []}'.encode("utf-16"), "d/x.json:1", "UTF")
    json_case("json-unknown-key", '{"imagez": []}', "d/x.json:/imagez", "did you mean 'images'?")
    json_case("json-list-not-array", '{"images": {"objectUrl": "x"}}', "d/x.json:/images", "must be an array")
    json_case(
        "json-entry-not-object", '{"images": ["gs://b-1/a.jpg"]}', "d/x.json:/images/0", "must be an object"
    )
    json_case("json-missing-url", '{"images": [{"title": "t"}]}', "d/x.json:/images/0", "missing objectUrl")
    json_case(
        "json-url-number",
        '{"images": [{"objectUrl": 5}]}',
        "d/x.json:/images/0/objectUrl",
        "non-empty string",
    )
    long_url = "gs://b-1/" + "a" * 17000 + ".jpg"
    json_case("json-url-too-long", json.dumps({"images": [{"objectUrl": long_url}]}), "d/x.json:/images/0",
              "Encord's limit is 16,384")  # fmt: skip
    json_case("json-url-whitespace", '{"images": [{"objectUrl": "gs://b-1/a b.jpg"}]}', "d/x.json:/images/0",
              "whitespace")  # fmt: skip
    json_case("json-wrong-bucket", '{"images": [{"objectUrl": "gs://other/a.jpg"}]}', "d/x.json:/images/0",
              "bucket 'other'")  # fmt: skip
    json_case("json-not-cloud-url", '{"images": [{"objectUrl": "https://example.com/a.jpg"}]}',
              "d/x.json:/images/0", "cannot read this URL")  # fmt: skip
    json_case("json-type-mismatch", '{"images": [{"objectUrl": "gs://b-1/a.mp4"}]}', "d/x.json:/images/0",
              "Expected an image, got a file of type video/mp4")  # fmt: skip
    json_case("json-title-too-long", json.dumps({"images": [{"objectUrl": url, "title": "t" * 301}]}),
              "d/x.json:/images/0", "limit is 300")  # fmt: skip
    json_case("json-duplicate-key", '{"images": [{"objectUrl": "gs://b-1/a.jpg", "objectUrl": "gs://b-1/b.jpg"}]}',
              "d/x.json:/images/0/objectUrl", "given more than once")  # fmt: skip
    json_case("json-duplicate-url", json.dumps({"images": [{"objectUrl": url}, {"objectUrl": url}]}),
              "d/x.json:/images/1", "declared twice", "first at d/x.json:/images/0")  # fmt: skip
    json_case("json-metadata-enum", json.dumps({"images": [{"objectUrl": url, "clientMetadata": {"split": "tran"}}]}),
              "d/x.json:/images/0", "must be one of 'train', 'val'", "did you mean 'train'?")  # fmt: skip
    json_case("json-metadata-unknown-key", json.dumps({"images": [{"objectUrl": url, "clientMetadata": {"splt": "a"}}]}),
              "d/x.json:/images/0", "not in the metadata schema", "did you mean 'split'?")  # fmt: skip
    json_case("json-group-no-frames", '{"image_groups": [{"title": "g"}]}', "d/x.json:/image_groups/0",
              "without frames")  # fmt: skip
    json_case("json-group-no-title", json.dumps({"image_groups": [{"objectUrl_0": url}]}), "d/x.json:/image_groups/0",
              "needs a title")  # fmt: skip
    json_case("json-frame-twice", json.dumps({"dicom_series": [{"title": "s", "objectUrl_1": "gs://b-1/1.dcm",
                                                                "objectUrl_01": "gs://b-1/2.dcm"}]}),
              "d/x.json:/dicom_series/0/objectUrl_01", "both give frame 1")  # fmt: skip
    json_case("json-flag-not-bool", '{"skip_duplicate_urls": "yes"}', "d/x.json:/skip_duplicate_urls",
              "true or false")  # fmt: skip
    json_case("json-deep", "[" * 100_000 + "]" * 100_000, "d/x.json:1", "nested too deeply")
    json_case("json-strict-media", json.dumps({"images": [{"objectUrl": url}]}), "d/x.json:/images/0",
              "strict client-only", "imageMetadata", strict=True)  # fmt: skip
    json_case("json-nan", '{"images": [{"objectUrl": "gs://b-1/a.jpg", "clientMetadata": {"split": NaN}}]}',
              "d/x.json:1", "NaN")  # fmt: skip
    csv_case("csv-bad-quote", 'ObjectUrl\n"gs://b-1/a.mp4\n', "d/x.csv:2", "not valid CSV")
    csv_case("csv-nul", "ObjectUrl\ngs://b-1/a.mp4\x00\n", "d/x.csv:2", "NUL byte")
    csv_case("csv-not-utf8", b"ObjectUrl\ngs://b-1/\xff.mp4\n", "d/x.csv:2", "not UTF-8")
    csv_case("csv-unknown-column", "ObjectUrl,Titel\ngs://b-1/a.mp4,x\n", "d/x.csv:1", "unknown column 'Titel'",
             "did you mean 'Title'?")  # fmt: skip
    csv_case("csv-semicolons", "ObjectUrl;Title\ngs://b-1/a.mp4;x\n", "d/x.csv:1", "separated by commas")
    csv_case("csv-width", "ObjectUrl,Title\ngs://b-1/a.mp4,x\ngs://b-1/b.mp4\n", "d/x.csv:3",
             "1 cell, but the header has 2 columns")  # fmt: skip
    csv_case(
        "csv-datatype", "ObjectUrl,DataType\ngs://b-1/a.jpg,picture\n", "d/x.csv:2", "DataType 'picture'"
    )
    csv_case("csv-metadata-json", "ObjectUrl,ClientMetadata\ngs://b-1/a.mp4,{split: train}\n", "d/x.csv:2",
             "ClientMetadata is not valid JSON")  # fmt: skip
    csv_case("csv-empty", "\n\n", "d/x.csv:1", "the file is empty")
    csv_case("csv-both-forms", "ObjectUrl,Image\ngs://b-1/a.jpg,gs://b-1/b.jpg\n", "d/x.csv:1", "not both")
    csv_case("csv-too-many", "ObjectUrl\n" + "".join(f"gs://b-1/v{i}.mp4\n" for i in range(10_001)),
             "d/x.csv:10002", "more than 10,000 entries")  # fmt: skip
    csv_case("csv-group-no-frames", "Image Group,ObjectUrl_0\ng1,\n", "d/x.csv:2", "has no frames")

    def source(name: str, spec: str, files: Mapping[str, FileSpec], where: str, *words: str) -> None:
        c.raw(name, {"r.yaml": head + spec, **files}, ("validate", "r.yaml"), where, *words)

    source("json-missing-file", "      - {integration: i, json: d/none.json}\n", {}, "d/none.json",
           "No such file")  # fmt: skip
    source("json-is-directory", "      - {integration: i, json: d/dir.json}\n", {"d/dir.json": Directory()},
           "d/dir.json", "directory")  # fmt: skip
    source("json-is-fifo", "      - {integration: i, json: d/p.json}\n", {"d/p.json": Fifo()}, "d/p.json",
           "not a regular file")  # fmt: skip
    source(
        "json-is-device",
        "      - {integration: i, json: /dev/zero}\n",
        {},
        "/dev/zero",
        "is outside the configuration",
    )
    source("csv-dangling", "      - {integration: i, csv: d/gone.csv}\n", {"d/gone.csv": Symlink("nowhere.csv")},
           "d/gone.csv", "No such file")  # fmt: skip
    source("data-both-kinds", "      - {integration: i, json: a.json, csv: b.csv}\n", {}, "r.yaml:10",
           "exactly one of")  # fmt: skip
    source("data-bucket-only-key", "      - {integration: i, json: a.json, include: ['*']}\n", {}, "r.yaml:10",
           "only a `bucket` source takes these")  # fmt: skip
    source("data-bad-bucket-url", "      - {integration: i, bucket: 'b-1/p'}\n", {}, "r.yaml:10",
           "gs://bucket-name")  # fmt: skip
    source("data-integration-undeclared", "      - {integration: nope, json: d/x.json}\n",
           {"d/x.json": '{"images": []}'}, "r.yaml:8", "integration 'nope' is not declared")  # fmt: skip
    source("bucket-bad-glob", "      - {integration: i, bucket: 'gs://b-1/p', include: ['[z-a]']}\n", {},
           "r.yaml:10", "bad glob")  # fmt: skip
    source("bucket-bad-template", "      - {integration: i, bucket: 'gs://b-1/p', title: '{nope}'}\n", {},
           "r.yaml:10", "unknown placeholder {nope}")  # fmt: skip
    source("bucket-other-bucket", "      - {integration: i, bucket: 'gs://b-2/p'}\n", {}, "r.yaml:10",
           "the listing is in bucket 'b-2'")  # fmt: skip
    source("sidecar-malformed", "      - {integration: i, bucket: 'gs://b-1/p', metadata: m.json}\n",
           {"m.json": '{\n  "gs://b-1/p/a.jpg": {"split": "train"},,\n}\n'}, "m.json:2", "invalid JSON")  # fmt: skip
    source("sidecar-jsonl-line", "      - {integration: i, bucket: 'gs://b-1/p', metadata: m.jsonl}\n",
           {"m.jsonl": '{"objectUrl": "gs://b-1/p/a.jpg", "clientMetadata": {}}\n{"objectUrl": 3}\n'},
           "m.jsonl:2", "objectUrl")  # fmt: skip
    source("sidecar-missing", "      - {integration: i, bucket: 'gs://b-1/p', metadata: none.jsonl}\n", {},
           "none.jsonl", "cannot read")  # fmt: skip
    source("sidecar-is-fifo", "      - {integration: i, bucket: 'gs://b-1/p', metadata: m.jsonl}\n",
           {"m.jsonl": Fifo()}, "m.jsonl", "not a regular file")  # fmt: skip
    c.raw("plan-json-malformed", {"r.yaml": head + "      - {integration: i, json: d/x.json}\n",
                                  "d/x.json": '{"images": [\n}'},
          ("plan", "r.yaml"), "d/x.json:2", "not valid JSON")  # fmt: skip
    source("csv-is-fifo", "      - {integration: i, csv: d/p.csv}\n", {"d/p.csv": Fifo()}, "r.yaml:10",
           "not a regular file (a fifo)")  # fmt: skip
    source("sidecar-dangling", "      - {integration: i, bucket: 'gs://b-1/p', metadata: m.json}\n",
           {"m.json": Symlink("gone.json")}, "r.yaml:10", "m.json", "No such file")  # fmt: skip


GENERATORS: list[Callable[[Corpus], None]] = [
    yaml_class,
    files_class,
    credentials_class,
    types_and_limits_class,
    names_class,
    interpolation_class,
    registration_class,
]


def build() -> list[Case]:
    corpus = Corpus()
    for generate in GENERATORS:
        generate(corpus)
    return corpus.cases


def classes(cases: list[Case]) -> Iterator[tuple[str, int]]:
    counts: dict[str, int] = {}
    for case in cases:
        counts[case.cls] = counts.get(case.cls, 0) + 1
    yield from counts.items()
