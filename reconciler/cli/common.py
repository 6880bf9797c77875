"""What plan and apply share: loading the config, naming the backend, computing the plan."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from pathlib import Path
from typing import Any, TypeVar

from reconciler.backend import Workspace, backend_ref, journal_for, open_workspace, state_store_for
from reconciler.config.loader import Config, load_config
from reconciler.config.models import EncordBackend
from reconciler.encord.provider_items import RegistrationTally
from reconciler.engine import Computed, compute, resume_interrupted
from reconciler.plan.model import BackendRef, Plan

T = TypeVar("T")


def load(config_path: str, domain: str | None) -> tuple[Config, BackendRef, str | None]:
    config = load_config(config_path)  # its warnings travel in the plan
    ref = backend_ref(config.backend, config.base_dir, domain)
    token = config.backend.bearer_token if isinstance(config.backend, EncordBackend) else None
    return config, ref, token


def concurrency(ref: BackendRef) -> int:
    return int(ref.options.get("concurrency", 8))


def run_async(coro: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coro)


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
    return await resume_interrupted(ws.client, journal_for(ref, config_dir(config)), tally)
