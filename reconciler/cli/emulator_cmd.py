from __future__ import annotations

import argparse
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


def run(args: argparse.Namespace) -> int:
    from reconciler.emulator.serve import serve

    keys = [Path(k) for k in args.authorized_key]
    for key in keys:
        if not key.is_file():
            raise ReconcilerError(f"--authorized-key {key}: no such file")
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
