from __future__ import annotations

import argparse
import socket
from pathlib import Path

from reconciler.errors import ReconcilerError


def add_bucket_option(parser: argparse.ArgumentParser) -> None:
    """`--bucket NAME=DIR` (repeatable) for `emulator serve`."""
    parser.add_argument(
        "--bucket",
        action="append",
        default=[],
        metavar="NAME=DIR",
        help="GCS bucket NAME is the files below DIR: registering a missing object of it fails (repeatable)",
    )


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
        # `getattr`: the option exists once main.py's parser calls `add_bucket_option`.
        buckets=parse_buckets(args.bucket or []) or None,
    )
    return 0
