"""What the server answered, in the client's terms: the value, or an `EncordError` with the facts the retry
loop in `_http.py` decides on (was it processed? may it be repeated? after how long?)."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx

from reconciler.encord.retry import RETRY_AFTER_STATUSES, RetryPolicy, parse_retry_after
from reconciler.errors import (
    EncordAuthError,
    EncordError,
    EncordInvalidArgumentError,
    EncordNotFoundError,
    EncordPermissionError,
    EncordRateLimitError,
    EncordServerError,
)

Decode = Callable[[bytes], Any]  # a 200 body's bytes -> the value; raises ValueError on a wrong shape
Where = tuple[str, str, str]  # (operation label, path, trace id): what an error message names


@dataclass(frozen=True)
class Outcome:
    """What one attempt produced: a value, or an error with its retry facts."""

    value: Any = None
    error: EncordError | None = None
    retryable_status: bool = False  # a status the policy may retry
    server_failure: bool = False  # any 5xx: the request may have been processed
    rejected_unprocessed: bool = False  # 429 / 413+Retry-After: the server did not process it
    not_sent: bool = False  # transport error before the request left
    transport_retryable: bool = False  # any transport error worth retrying
    retry_after: int | None = None


def status_outcome(response: httpx.Response, error: EncordError, policy: RetryPolicy) -> Outcome:
    status = response.status_code
    retry_after = parse_retry_after(response.headers.get("Retry-After"))
    if status not in RETRY_AFTER_STATUSES:
        retry_after = None
    retryable = policy.status_is_retryable(status, retry_after)
    return Outcome(
        error=error,
        retryable_status=retryable,
        server_failure=status >= 500,
        rejected_unprocessed=retryable and (status == 429 or status == 413),
        retry_after=retry_after,
    )


def parse_v2(
    response: httpx.Response, where: Where, policy: RetryPolicy, decode: Decode | None = None
) -> Outcome:
    """A v2 answer: the decoded body of a 200 (None for 204), else the error with its retry facts."""
    label, path, trace_id = where
    status = response.status_code
    if status == 204:
        return Outcome(value=None)
    if status == 200:
        try:
            return Outcome(value=response.json() if decode is None else decode(response.content))
        except ValueError as exc:
            shape = "not JSON" if decode is None else f"not of the expected shape ({first_line(exc)})"
            return Outcome(
                error=EncordServerError(
                    f"{label} {path}: HTTP 200 with a body that is {shape}",
                    status=status,
                    trace_id=trace_id,
                )
            )
    message = server_message(response)
    error = v2_error(status, f"{label} {path}: HTTP {status}" + (f": {message}" if message else ""), trace_id)
    return status_outcome(response, error, policy)


def parse_v1(response: httpx.Response, where_: Where, policy: RetryPolicy) -> Outcome:
    """A v1 answer: the envelope's `response`, else the error (enveloped or a bare status)."""
    label, path, trace_id = where_
    status = response.status_code
    where = f"{label} {path}"
    # Like the SDK: rejections before the RPC handler (rate limiter, body size, proxies) arrive
    # as a bare HTTP status without the envelope.
    if status in (413, 429) or status >= 500:
        envelope = json_or_none(response)
        if (
            isinstance(envelope, dict)
            and envelope.get("status") not in (None, 200)
            and "response" in envelope
        ):
            error = v1_error(where, envelope, trace_id)  # an enveloped error: its code says more
        else:
            message = server_message(response)
            error = v2_error(
                status, f"{where}: HTTP {status}" + (f": {message}" if message else ""), trace_id
            )
        return status_outcome(response, error, policy)
    try:
        envelope = response.json()
    except ValueError:
        return Outcome(
            error=EncordServerError(
                f"{where}: HTTP {status}, body is not JSON", status=status, trace_id=trace_id
            )
        )
    if not isinstance(envelope, dict):
        return Outcome(
            error=EncordServerError(f"{where}: unexpected response shape", status=status, trace_id=trace_id)
        )
    if envelope.get("status") == 200:
        return Outcome(value=envelope.get("response"))
    return Outcome(error=v1_error(where, envelope, trace_id))


def first_line(exc: ValueError) -> str:
    return str(exc).splitlines()[0] if str(exc) else type(exc).__name__


def json_or_none(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return None


def server_message(response: httpx.Response) -> str | None:
    body = json_or_none(response)
    if not isinstance(body, dict):
        return None
    message = body.get("message") or body.get("detail")
    if message is None:
        return None
    return message if isinstance(message, str) else json.dumps(message)


def v2_error(status: int, message: str, trace_id: str) -> EncordError:
    cls: type[EncordError]
    if status == 400:
        cls = EncordInvalidArgumentError
    elif status == 401:
        cls = EncordAuthError
    elif status == 403:
        cls = EncordPermissionError
    elif status == 404:
        cls = EncordNotFoundError
    elif status == 413:
        cls = EncordInvalidArgumentError
        message += " (payload too large)"
    elif status == 429:
        cls = EncordRateLimitError
    else:  # 201, 405, 422, 5xx, ...: the SDK's UnknownException
        cls = EncordServerError
    return cls(message, status=status, trace_id=trace_id)


V1_CODES: dict[str, type[EncordError]] = {
    "AUTHENTICATION_ERROR": EncordAuthError,
    "AUTHORISATION_ERROR": EncordPermissionError,
    "RESOURCE_NOT_FOUND_ERROR": EncordNotFoundError,
    "INVALID_ARGUMENTS_ERROR": EncordInvalidArgumentError,
    "OPERATION_NOT_ALLOWED": EncordInvalidArgumentError,
    "METHOD_NOT_ALLOWED_ERROR": EncordInvalidArgumentError,
}


def v1_error(where: str, envelope: dict[str, Any], trace_id: str) -> EncordError:
    response = envelope.get("response")
    code = response[0] if isinstance(response, list) and response else response
    code_text = code if isinstance(code, str) else json.dumps(code)
    detail = envelope.get("payload")
    message = f"{where}: {code_text}"
    if detail is not None:
        message += f": {detail if isinstance(detail, str) else json.dumps(detail)}"
    status = envelope.get("status")
    cls = V1_CODES.get(code_text, EncordServerError)
    return cls(message, status=status if isinstance(status, int) else None, trace_id=trace_id)
