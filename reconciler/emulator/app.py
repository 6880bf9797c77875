"""The emulator's ASGI application factory."""

from __future__ import annotations

import inspect
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.middleware.gzip import GZipMiddleware
from starlette.requests import Request

from reconciler.defaults import METADATA_PATCH_MODES
from reconciler.emulator import routes_storage, routes_v1, routes_v2
from reconciler.emulator.auth import Verifier, parse_authorized_key
from reconciler.emulator.context import Emulator
from reconciler.emulator.errors import ApiError
from reconciler.emulator.jobs import JobRunner
from reconciler.emulator.middleware import (
    DEFAULT_BODY_READ_TIMEOUT_SECONDS,
    DEFAULT_MAX_BODY_BYTES,
    AuthMiddleware,
    RequestLog,
)
from reconciler.emulator.responses import JSONResponse
from reconciler.emulator.store import Store

# Responses of at least this many bytes are gzipped for a client that sends `Accept-Encoding: gzip` (the
# SDK's `requests` does). Level 1: JSON listings still shrink 10-20x, at a third of level 9's CPU.
GZIP_MINIMUM_BYTES = 1024
GZIP_LEVEL = 1
# Compressed inline, never in Starlette's worker threads (which it uses from 128 KiB on, where it can): the
# emulator answers one request at a time under the store's lock, and the hand-off to a thread and back
# cost more than it overlapped (a 200,000-item plan: the emulator's CPU 2.95 -> 2.75 s, the plan's wall
# 3.7 -> 3.45 s, four alternating runs). Older Starlette compresses inline anyway.
_GZIP_INLINE: dict[str, Any] = (
    {"thread_minimum_size": 2**62}
    if "thread_minimum_size" in inspect.signature(GZipMiddleware.__init__).parameters
    else {}
)


async def _api_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ApiError)
    return JSONResponse({"message": exc.message}, status_code=exc.status)


async def _http_error(_request: Request, exc: Exception) -> JSONResponse:
    # Unknown routes (404) and wrong methods (405) answer in the same `{"message"}` shape.
    assert isinstance(exc, HTTPException)
    return JSONResponse({"message": exc.detail}, status_code=exc.status_code, headers=exc.headers)


def create_app(
    state_path: str | Path,
    authorized_keys: list[str],
    *,
    request_log_path: str | Path | None = None,
    clock_skew_seconds: int = 300,
    user_email: str = "sandbox@reconciler.local",
    long_poll_cap_seconds: float = 60.0,
    process_delay_seconds: float = 0.0,
    buckets: Mapping[str, Path] | None = None,
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
    body_read_timeout_seconds: float = DEFAULT_BODY_READ_TIMEOUT_SECONDS,
    reject_replays: bool = False,
    metadata_patch: str = "replace",
) -> Starlette:
    """Build the emulator. Everything is initialised here (no lifespan needed, as with httpx.ASGITransport).

    `process_delay_seconds` holds each upload job PENDING that long before processing (a test knob).
    `buckets` maps GCS bucket names to local directories whose files are the bucket's objects:
    registering an object of such a bucket that has no file is a per-unit error (README.md).
    A body over `max_body_bytes` is refused with 413; a body message not received within
    `body_read_timeout_seconds` with 408 (README.md, "Limits"). `reject_replays` refuses a v2 signature
    already accepted within the clock-skew window (README.md, "Replays"). `metadata_patch` is what a PATCH
    of clientMetadata does: `replace` the document or `merge` its keys in (README.md, "Items").
    """
    if metadata_patch not in METADATA_PATCH_MODES:
        raise ValueError(f"metadata_patch must be one of {METADATA_PATCH_MODES}")
    keys = dict(parse_authorized_key(entry) for entry in authorized_keys)
    store = Store(state_path)

    def token_key_id(token: str) -> str | None:
        with store.tx() as tx:
            return tx.token_key_id(token)

    verifier = Verifier(keys, token_key_id, time.time, clock_skew_seconds)
    request_log = RequestLog(Path(request_log_path)) if request_log_path is not None else None
    app = Starlette(
        routes=[*routes_v2.ROUTES, *routes_storage.ROUTES, *routes_v1.ROUTES],
        middleware=[
            Middleware(
                AuthMiddleware,
                verifier=verifier,
                request_log=request_log,
                known_key_ids=frozenset(keys),
                max_body_bytes=max_body_bytes,
                body_read_timeout_seconds=body_read_timeout_seconds,
                reject_replays=reject_replays,
            ),
            # Inside the auth middleware: it sees (and logs) the status of the compressed response, and
            # what it refuses itself is never compressed. Compression happens once the handler has
            # answered, so long-polls are held exactly as before.
            Middleware(
                GZipMiddleware, minimum_size=GZIP_MINIMUM_BYTES, compresslevel=GZIP_LEVEL, **_GZIP_INLINE
            ),
        ],
        exception_handlers={ApiError: _api_error, HTTPException: _http_error},
    )
    app.state.emulator = Emulator(
        store=store,
        runner=JobRunner(
            store,
            user_email,
            process_delay_seconds,
            {name: str(Path(path).resolve()) for name, path in (buckets or {}).items()},
        ),
        user_email=user_email,
        long_poll_cap_seconds=long_poll_cap_seconds,
        metadata_patch=metadata_patch,
    )
    return app
