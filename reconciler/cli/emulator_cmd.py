from __future__ import annotations

import argparse
import math
import socket
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from reconciler.defaults import METADATA_PATCH_MODES
from reconciler.emulator.middleware import DEFAULT_BODY_READ_TIMEOUT_SECONDS, DEFAULT_MAX_BODY_BYTES
from reconciler.errors import ReconcilerError

_Number = TypeVar("_Number", int, float)


def add_serve_options(parser: argparse.ArgumentParser) -> None:
    """`emulator serve` options kept here: `--bucket`, the hostile-client limits, `--reject-replays`.

    Their defaults live in reconciler/emulator/middleware.py; `--help` shows them.
    """
    parser.add_argument(
        "--bucket",
        action="append",
        default=[],
        metavar="NAME=DIR",
        help="GCS bucket NAME is the files below DIR: registering a missing object of it fails (repeatable)",
    )
    parser.add_argument(
        "--max-body-bytes",
        type=_positive(int),
        default=DEFAULT_MAX_BODY_BYTES,
        metavar="N",
        help="refuse a request body over N bytes with 413 (by Content-Length, or while streaming)",
    )
    parser.add_argument(
        "--body-timeout",
        type=_positive(float),
        default=DEFAULT_BODY_READ_TIMEOUT_SECONDS,
        metavar="S",
        help="answer 408 to a client that stops sending its body for S seconds",
    )
    parser.add_argument(
        "--reject-replays",
        action="store_true",
        help="refuse (401) a v2 signature already accepted within the clock-skew window; "
        "v1 and bearer requests are not checked",
    )
    parser.add_argument(
        "--metadata-patch",
        choices=METADATA_PATCH_MODES,
        default="replace",
        help="what a PATCH of an item's or folder's clientMetadata does: replace the document, or merge "
        "its keys into it (null values kept); Encord's behaviour is unconfirmed, so test both",
    )


def _positive(kind: Callable[[str], _Number]) -> Callable[[str], _Number]:
    """An argparse `type`: `kind(text)`, which must be finite and over 0."""

    def parse(text: str) -> _Number:
        problem = argparse.ArgumentTypeError(f"expected a positive {kind.__name__}, got {text!r}")
        try:
            value = kind(text)
        except ValueError:
            raise problem from None
        if not (value > 0 and math.isfinite(value)):
            raise problem
        return value

    return parse


def parse_buckets(values: list[str]) -> dict[str, Path]:
    """`NAME=DIR` strings -> {bucket name: directory}; every DIR must be an existing directory."""
    buckets: dict[str, Path] = {}
    for value in values:
        name, sep, directory = value.partition("=")
        if not sep or not name or not directory:
            raise ReconcilerError(f"--bucket {value}: expected NAME=DIR")
        if name in buckets:
            raise ReconcilerError(f"--bucket {value}: bucket {name!r} given twice")
        path = Path(directory)
        if not path.is_dir():
            raise ReconcilerError(f"--bucket {value}: {directory} is not a directory")
        buckets[name] = path
    return buckets


def check_port_free(host: str, port: int) -> None:
    """One line instead of uvicorn's exit when the address is taken."""
    if port == 0:
        return
    try:
        with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            probe.bind((host, port))
    except OSError as exc:
        raise ReconcilerError(f"cannot listen on {host}:{port}: {exc.strerror}") from None


def run(args: argparse.Namespace) -> int:
    from reconciler.emulator.serve import serve

    keys = [Path(k) for k in args.authorized_key]
    for key in keys:
        if not key.is_file():
            raise ReconcilerError(f"--authorized-key {key}: no such file")
        try:
            text = key.read_text(encoding="utf-8", errors="replace")
        except OSError as exc:
            raise ReconcilerError(f"--authorized-key {key}: cannot read it ({exc.strerror})") from None
        if "PRIVATE KEY" in text:  # never echo it
            raise ReconcilerError(f"--authorized-key {key} is a private key: give the public one ({key}.pub)")
        if not any(line.startswith("ssh-ed25519 ") for line in text.splitlines()):
            raise ReconcilerError(f"--authorized-key {key}: no `ssh-ed25519 AAAA...` public key line in it")
    check_port_free(args.host, args.port)
    serve(
        host=args.host,
        port=args.port,
        state_path=Path(args.state),
        authorized_key_files=keys,
        request_log_path=Path(args.request_log) if args.request_log else None,
        long_poll_cap_seconds=args.long_poll_cap,
        process_delay_seconds=args.process_delay,
        buckets=parse_buckets(args.bucket or []) or None,
        max_body_bytes=args.max_body_bytes,
        body_read_timeout_seconds=args.body_timeout,
        reject_replays=args.reject_replays,
        metadata_patch=args.metadata_patch,
    )
    return 0
