"""Run the emulator as a real HTTP server (uvicorn), e.g. for the official SDK.

`reconciler emulator serve --host 127.0.0.1 --port 8765 --state s.db --authorized-key id.pub`
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Mapping
from pathlib import Path

import uvicorn

from reconciler.emulator.app import create_app
from reconciler.emulator.middleware import DEFAULT_BODY_READ_TIMEOUT_SECONDS, DEFAULT_MAX_BODY_BYTES

READY_LINE = "emulator listening on http://{host}:{port}"


def serve(
    host: str,
    port: int,
    state_path: Path,
    authorized_key_files: list[Path],
    request_log_path: Path | None = None,
    *,
    long_poll_cap_seconds: float = 60.0,
    process_delay_seconds: float = 0.0,
    buckets: Mapping[str, Path] | None = None,
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
    body_read_timeout_seconds: float = DEFAULT_BODY_READ_TIMEOUT_SECONDS,
    reject_replays: bool = False,
    metadata_patch: str = "replace",
) -> None:
    """Serve until interrupted; prints READY_LINE (flushed) once the socket accepts connections."""
    keys = [line for path in authorized_key_files for line in path.read_text().splitlines() if line.strip()]
    app = create_app(
        state_path,
        keys,
        request_log_path=request_log_path,
        long_poll_cap_seconds=long_poll_cap_seconds,
        process_delay_seconds=process_delay_seconds,
        buckets=buckets,
        max_body_bytes=max_body_bytes,
        body_read_timeout_seconds=body_read_timeout_seconds,
        reject_replays=reject_replays,
        metadata_patch=metadata_patch,
    )
    server = uvicorn.Server(
        uvicorn.Config(
            app, host=host, port=port, log_level="warning", lifespan="off", timeout_graceful_shutdown=5
        )
    )
    asyncio.run(_serve_announcing(server, host, port))


async def _serve_announcing(server: uvicorn.Server, host: str, port: int) -> None:
    task = asyncio.create_task(server.serve())
    while not server.started and not task.done():
        await asyncio.sleep(0.02)
    if server.started:
        bound = port
        for listener in server.servers:  # --port 0: the port the system chose
            for sock in listener.sockets:
                bound = int(sock.getsockname()[1])
        sys.stdout.write(READY_LINE.format(host=host, port=bound) + "\n")
        sys.stdout.flush()
    await task
