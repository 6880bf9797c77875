"""What plan and apply share: loading the config, naming the backend, computing the plan."""

from __future__ import annotations

import asyncio
import os
import stat
from collections.abc import Coroutine
from pathlib import Path
from typing import Any, TypeVar

from pydantic import ValidationError

from reconciler.backend import (
    Workspace,
    backend_ref,
    journal_for,
    open_workspace,
    sandbox_buckets,
    state_store_for,
)
from reconciler.config.loader import Config, load_config
from reconciler.config.models import EncordBackend
from reconciler.defaults import DEFAULT_CONCURRENCY
from reconciler.encord.auth import ENV_KEY_FILE, load_ssh_key, resolve_auth
from reconciler.encord.provider_items import RegistrationTally
from reconciler.engine import Computed, compute
from reconciler.errors import ConfigError, CredentialsError, NoCredentialsError, ReconcilerError
from reconciler.plan.model import BackendRef, Plan

T = TypeVar("T")

SQLITE_HEADER = b"SQLite format 3\x00"


def load(config_path: str, domain: str | None) -> tuple[Config, BackendRef, str | None]:
    """The configuration, its backend and token, checked as far as can be without a request."""
    return prepare(load_config(config_path), domain)  # its warnings travel in the plan


def prepare(config: Config, domain: str | None) -> tuple[Config, BackendRef, str | None]:
    """A loaded configuration's backend (or `--domain`'s) and token, checked before any request."""
    if domain is not None:
        check_domain(domain)
    ref = backend_ref(config.backend, config.base_dir, domain)
    token = config.backend.bearer_token if isinstance(config.backend, EncordBackend) else None
    offline_backend_checks(config, ref, token)
    return config, ref, token


def check_domain(domain: str) -> None:
    """`--domain` obeys the config's rules for `backend.domain` (never echoed: it may hold a password)."""
    try:
        EncordBackend.model_validate({"kind": "encord", "domain": domain})
    except ValidationError as exc:
        reasons = "; ".join(e["msg"].removeprefix("Value error, ") for e in exc.errors(include_url=False))
        raise ReconcilerError(f"--domain: {reasons}") from None


def _not_regular(path: Path) -> str | None:
    """Why an existing `path` cannot be read as a file (a fifo would block, a device never end)."""
    try:
        mode = path.stat().st_mode
    except OSError:
        return None  # missing: said by whoever reads it
    if stat.S_ISREG(mode):
        return None
    kind = "a directory" if stat.S_ISDIR(mode) else "a fifo" if stat.S_ISFIFO(mode) else "a special file"
    return f"{path} is not a regular file ({kind})"


def offline_backend_checks(
    config: Config, ref: BackendRef | None = None, token: str | None = None, *, need_credentials: bool = True
) -> None:
    """What plan checks before its first request, each problem at its line in the config: the
    credentials can be loaded, the sandbox's state, key and bucket directories can be used. Without
    `need_credentials` (validate: offline, and run where no secret is, as for a fork's pull request), no
    credential at all is fine; one that is given must still be usable."""
    ref = ref or backend_ref(config.backend, config.base_dir)
    if token is None and isinstance(config.backend, EncordBackend):
        token = config.backend.bearer_token
    where = config.where("(backend)")

    def at(key: str) -> str:
        return config.where(f"(backend).{key}") if f"(backend).{key}" in config.locations else where

    problems: list[str] = []
    if ref.kind == "encord":
        key_file = ref.options.get("ssh_key_file")
        env_file = os.environ.get(ENV_KEY_FILE) if not (key_file or token) else None
        for path, field in ((key_file, "backend.ssh_key_file"), (env_file, ENV_KEY_FILE)):
            problem = _not_regular(Path(path).expanduser()) if path else None
            if problem:
                problems.append(f"{at('ssh_key_file')}: {field}: {problem}")
        if not problems:
            try:
                resolve_auth(key_file=Path(key_file) if key_file else None, bearer_token=token)
            except CredentialsError as exc:
                if isinstance(exc, NoCredentialsError) and not need_credentials:
                    return
                problems.append(f"{at('ssh_key_file' if key_file else 'bearer_token')}: backend: {exc}")
    else:
        problems.extend(_sandbox_problems(config, ref, at))
    if problems:
        raise ConfigError(problems)


def _sandbox_problems(config: Config, ref: BackendRef, at: Any) -> list[str]:
    from reconciler.emulator.store import state_path_problem  # the emulator owns the state file

    problems: list[str] = []
    state = Path(ref.location)
    problem = state_path_problem(state) or _not_regular(state)
    if problem is None and state.is_file() and state.stat().st_size:
        with state.open("rb") as handle:
            if handle.read(len(SQLITE_HEADER)) != SQLITE_HEADER:
                problem = f"{state}: cannot use the sandbox state (SQLite): not an SQLite database file"
    key = state.with_suffix(".key")
    if problem is None and key.exists():
        problem = _not_regular(key)
        if problem is None and key.stat().st_size:
            try:
                load_ssh_key(key_file=key)
            except CredentialsError:
                problem = (
                    f"{key}: the sandbox's own key cannot be read (not an OpenSSH Ed25519 private key); "
                    "delete it, and a new one is made"
                )
    if problem is not None:
        problems.append(f"{at('state')}: backend.state: {problem}")
    for name, directory in sandbox_buckets(ref).items():
        if not directory.is_dir():
            where = (
                config.where(f"(backend).buckets.{name}")
                if f"(backend).buckets.{name}" in config.locations
                else at("buckets")
            )
            problems.append(f"{where}: backend.buckets.{name}: {directory} is not a directory")
    return problems


def concurrency(ref: BackendRef) -> int:
    return int(ref.options.get("concurrency", DEFAULT_CONCURRENCY))


def run_async(coro: Coroutine[Any, Any, T]) -> T:
    """`asyncio.run`, with the result kept outside the main task: at exit asyncio formats the task's repr
    (signal handler bookkeeping), and the repr of a large plan costs a noticeable part of a second."""
    results: list[T] = []

    async def main() -> None:
        results.append(await coro)

    asyncio.run(main())
    return results[0]


def config_dir(config: Config | None, plan: Plan | None = None) -> Path | None:
    if config is not None:
        return config.base_dir
    if plan is not None and plan.config_source:
        source = Path(plan.config_source)
        return source if source.is_dir() else source.parent
    return None


async def compute_in(
    ws: Workspace,
    config: Config,
    ref: BackendRef,
    only: dict[str, set[tuple[str, ...]]] | None = None,
    targets: list[str] | None = None,
) -> Computed:
    recorded = state_store_for(ref, config.base_dir).load()
    return await compute(
        config,
        ws.client,
        ref,
        concurrency=concurrency(ref),
        gcs=ws,
        only=only,
        targets=targets,
        recorded=recorded,
    )


def compute_plan(
    config: Config, ref: BackendRef, token: str | None, targets: list[str] | None = None
) -> Plan:
    async def run() -> Plan:
        async with open_workspace(ref, bearer_token=token) as ws:
            return (await compute_in(ws, config, ref, targets=targets)).plan

    return run_async(run())


async def resume(ws: Workspace, ref: BackendRef, config: Config | None, tally: RegistrationTally) -> int:
    from reconciler.apply.run import resume_interrupted  # apply's machinery: not loaded by plan

    return await resume_interrupted(ws.client, journal_for(ref, config_dir(config)), tally)
