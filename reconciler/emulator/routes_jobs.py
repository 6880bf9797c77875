"""v2 data-upload job routes: start, poll (long-poll) and cancel; processing is in jobs.py."""

from __future__ import annotations

import asyncio
import contextlib

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from reconciler.emulator.context import emulator, json_body
from reconciler.emulator.errors import bad_request, forbidden
from reconciler.emulator.jobs import cancelled_result, job_view, parse_upload_request
from reconciler.emulator.lookups import folder_or_403, text_field
from reconciler.emulator.pagination import parse_uuid, query_int
from reconciler.emulator.store import Row, Tx, new_uuid, now_iso


async def start_upload_job(request: Request) -> JSONResponse:
    body = await json_body(request)
    _, document = parse_upload_request(body)
    assert isinstance(body, dict)
    integration = body.get("integrationHash")
    if integration is None:
        raise bad_request("integrationHash is required: the emulator registers cloud files only")
    ignore_errors = body.get("ignoreErrors", False)
    if not isinstance(ignore_errors, bool):
        raise bad_request("'ignoreErrors' must be a boolean")
    file_name = text_field(body, "fileName")
    em = emulator(request)
    job_uuid = new_uuid()
    with em.store.tx() as tx:
        folder = folder_or_403(tx, request.path_params["folder"])["uuid"]
        integration_row = tx.integration(parse_uuid(str(integration), "integrationHash"))
        if integration_row is None:
            raise forbidden(f"Cloud integration {integration} does not exist or you do not have access to it")
        tx.add_job(
            {
                "uuid": job_uuid,
                "folder": folder,
                "integration": integration_row["uuid"],
                "ignore_errors": int(ignore_errors),
                "file_name": file_name,
                # The body minus auth-irrelevant noise; re-parsed by the processor.
                "request": {"externalFiles": document}
                if "externalFiles" in body
                else {"dataItems": document},
                "status": "PENDING",
                "result": None,
                "created_at": now_iso(),
            }
        )
    em.runner.ensure_running(job_uuid)
    return JSONResponse(job_uuid)


def _job_in_folder(tx: Tx, request: Request) -> Row:
    folder = folder_or_403(tx, request.path_params["folder"])["uuid"]
    job = tx.job(parse_uuid(request.path_params["job"], "Upload job"))
    if job is None or job["folder"] != folder:
        raise forbidden(f"Upload job {request.path_params['job']} does not exist in folder {folder}")
    return job


async def poll_upload_job(request: Request) -> JSONResponse:
    em = emulator(request)
    timeout = query_int(request.query_params, "timeoutSeconds", 60)
    with em.store.tx() as tx:
        job = _job_in_folder(tx, request)
    if job["status"] == "PENDING" and timeout > 0:
        # Long-poll: hold the request until the job finishes or the (capped) timeout passes.
        done = em.runner.ensure_running(job["uuid"])
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(done.wait(), timeout=min(float(timeout), em.long_poll_cap_seconds))
        with em.store.tx() as tx:
            job = _job_in_folder(tx, request)
    return JSONResponse(job_view(job))


async def cancel_upload_job(request: Request) -> JSONResponse:
    em = emulator(request)
    with em.store.tx() as tx:
        job = _job_in_folder(tx, request)
        result = cancelled_result(job)
        cancelled = tx.finish_job(job["uuid"], "CANCELLED", result)
    if cancelled:
        em.runner.wake(job["uuid"])
    return JSONResponse({"unitsCancelledCount": result["unitsCancelledCount"] if cancelled else 0})


async def not_supported(request: Request) -> Response:
    raise bad_request(f"{request.method} {request.url.path} is not supported by the emulator")
