"""`reconciler lock status` and `reconciler lock release`: the apply lock of a configuration."""

from __future__ import annotations

import argparse
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.markup import escape

from reconciler import lock
from reconciler.cli import output
from reconciler.config.loader import DEFAULT_CONFIG, load_config

if TYPE_CHECKING:
    from reconciler.plan.model import BackendRef


def add_lock_parser(subparsers: Any) -> None:
    """Register `lock status [CONFIG]` and `lock release [CONFIG] [--force]` on the main subparsers."""
    p = subparsers.add_parser(
        "lock", help="the apply lock: who holds it; remove a lease whose run is gone", allow_abbrev=False
    )
    sub = p.add_subparsers(dest="lock_command", required=True, metavar="SUBCOMMAND", help="the lock command")
    s = sub.add_parser("status", help="who holds the apply lock, or that it is free", allow_abbrev=False)
    _add_location(s)
    s.set_defaults(func=run_status)
    r = sub.add_parser(
        "release",
        help="remove a GCS lease left by an apply that is gone (a local lock is free once its process ends)",
        allow_abbrev=False,
    )
    _add_location(r)
    r.add_argument("--force", action="store_true", help="remove the lease although it has not expired")
    r.set_defaults(func=run_release)


def _add_location(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "config",
        nargs="?",
        default=DEFAULT_CONFIG,
        metavar="CONFIG",
        help="configuration file or directory whose lock it is (default: %(default)s)",
    )
    p.add_argument(
        "--location", metavar="LOCK", help="a lock (gs://bucket/path or a local file) instead of the config's"
    )


def location_of(args: argparse.Namespace) -> tuple[str, BackendRef | None]:
    """The lock's location, and the config's backend (None with --location)."""
    if args.location:
        return str(args.location if lock.is_gcs(args.location) else Path(args.location).resolve()), None
    config = load_config(args.config)
    from reconciler.backend import backend_ref  # after the config is read: bad input fails fast

    ref = backend_ref(config.backend, config.base_dir)
    return lock.lock_location(ref, config.base_dir, config.backend.lock), ref


@contextmanager
def _served(ref: BackendRef | None) -> Iterator[None]:
    """A gs:// lock on a sandbox bucket is read through the sandbox's GCS."""
    if ref is None:
        yield
        return
    from reconciler.backend import sandbox_lock_gcs

    with sandbox_lock_gcs(ref):
        yield


def run_status(args: argparse.Namespace) -> int:
    location, ref = location_of(args)
    with _served(ref):
        holder = lock.status(location)
    if holder is None:
        output.out(f"The apply lock {escape(location)} is [green]free[/].")
    elif holder.expired():
        output.out(
            f"The apply lock {escape(location)} holds an [yellow]expired[/] lease of "
            f"{escape(holder.describe())}: the next apply takes it over."
        )
    else:
        output.out(f"The apply lock {escape(location)} is [red]held[/] by {escape(holder.describe())}.")
    return 0


def run_release(args: argparse.Namespace) -> int:
    location, ref = location_of(args)
    with _served(ref):
        removed = lock.release(location, force=args.force)
    if removed is None:
        output.out(f"The apply lock {escape(location)} is free: nothing to release.")
    else:
        output.out(f"Released the apply lock {escape(location)}, held by {escape(removed.describe())}.")
    return 0
