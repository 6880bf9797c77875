from __future__ import annotations

import argparse
from pathlib import Path

from reconciler.errors import ReconcilerError


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
    )
    return 0
