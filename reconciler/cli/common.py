"""What plan and apply share: loading the config and naming the backend."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any, TypeVar

from reconciler.backend import backend_ref, open_client
from reconciler.config.loader import Config, load_config
from reconciler.config.models import EncordBackend
from reconciler.engine import make_plan
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


def compute_plan(config: Config, ref: BackendRef, token: str | None) -> Plan:
    async def compute() -> Plan:
        async with open_client(ref, bearer_token=token) as client:
            return await make_plan(config, client, ref, concurrency=concurrency(ref))

    return run_async(compute())
