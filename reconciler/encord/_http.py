"""The wire layer under `EncordClient`: builds, signs, sends and retries; what an answer means (its value, or
an error and whether it may be retried) is read in `_answers.py`.

One `attempt` = one HTTP exchange with a fresh trace id and a fresh signature. `Retry` says what an
operation may do after a failure:

* `Retry.SAFE` — repeating the request is harmless (reads, full replacements, PATCH, move, link with
  SKIP, delete): retry 429/500/502/503 (413 with `Retry-After`) and every transport error.
* `Retry.NEVER` — a create: retry only when the request certainly did not take effect (the connection
  was never made, or 429 / 413-with-Retry-After, which are rejections before processing). When the
  outcome is unknown (5xx, timeout or drop after sending) raise `AmbiguousFailure`, so the caller can
  read back before deciding to try again.
"""

from __future__ import annotations

import enum
import importlib.metadata
import logging
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import urlsplit

import httpx

from reconciler.encord import signing
from reconciler.encord._answers import Decode, Outcome, Where, parse_v1, parse_v2
from reconciler.encord.auth import Auth, BearerAuth, SshKeyAuth
from reconciler.encord.retry import RetryPolicy
from reconciler.encord.whole_requests import request_guard, whole_request_transport
from reconciler.errors import (
    EncordError,
    EncordInvalidArgumentError,
    EncordNotFoundError,
    EncordPermissionError,
    EncordTransportError,
)

_log = logging.getLogger("reconciler.encord")

# Awaited before each attempt of a write; raises when the write may not be sent (lock lost, stopping).
Guard = Callable[[], Awaitable[None]]

V2_PREFIX = "/v2/public/"
V1_PATH = "/public"

# Transport errors after which the request certainly never reached the server.
_NOT_SENT_ERRORS: tuple[type[Exception], ...] = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)
# Transport errors that will not go away by trying again.
_PERMANENT_ERRORS: tuple[type[Exception], ...] = (httpx.UnsupportedProtocol, httpx.LocalProtocolError)


class Retry(enum.Enum):
    SAFE = "safe"
    NEVER = "never"


class AmbiguousFailure(Exception):
    """A non-idempotent request failed in a way that leaves open whether it took effect."""

    def __init__(self, error: EncordError) -> None:
        super().__init__(str(error))
        self.error = error


_NO_BODY = object()


def _version(dist: str) -> str:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return "0+unknown"


USER_AGENT = f"reconciler/{_version('reconciler-encord')} httpx/{httpx.__version__}"


def _new_trace_id() -> str:
    return uuid.uuid4().hex


class HttpCore:
    def __init__(
        self,
        domain: str,
        auth: Auth,
        *,
        transport: httpx.AsyncBaseTransport | None,
        timeout_seconds: float,
        policy: RetryPolicy,
        max_connections: int,
        clock: Callable[[], float] = time.time,
        trace_id_factory: Callable[[], str] = _new_trace_id,
        compress: bool = True,
    ) -> None:
        parts = urlsplit(domain.strip().rstrip("/"))
        if parts.scheme not in ("http", "https") or not parts.netloc or parts.query or parts.fragment:
            raise EncordInvalidArgumentError(
                f"invalid Encord domain {domain!r}: expected scheme://host[:port], e.g. https://api.encord.com"
            )
        self._origin = f"{parts.scheme}://{parts.netloc}"
        self._prefix = parts.path  # kept (the SDK's urljoin would drop it for v2; see client docs)
        self.domain = self._origin + self._prefix
        self._auth = auth
        self._policy = policy
        self._clock = clock
        self._trace_id_factory = trace_id_factory
        self._timeout = httpx.Timeout(timeout_seconds)
        limits = httpx.Limits(max_connections=max_connections, max_keepalive_connections=max_connections)
        self._client = httpx.AsyncClient(
            transport=transport or whole_request_transport(limits),
            limits=limits,
            timeout=self._timeout,
            follow_redirects=False,
        )
        # In process (the sandbox) compressing answers costs CPU on both sides and saves nothing.
        self._accept_encoding = None if compress else "identity"
        if self._accept_encoding:
            self._client.headers["Accept-Encoding"] = self._accept_encoding

    async def aclose(self) -> None:
        await self._client.aclose()

    # -- public entry points ----------------------------------------------------------------------
    async def v2(
        self,
        method: str,
        path: str,
        *,
        query: signing.QueryParams = (),
        payload: Any = _NO_BODY,
        retry: Retry = Retry.SAFE,
        gone_ok_after_retry: bool = False,
        read_timeout: float | None = None,
        decode: Decode | None = None,
        guard: Guard | None = None,
    ) -> Any:
        """A v2 REST call; `path` is relative to `/v2/public/`. Returns decoded JSON (None for 204), or
        `decode(body bytes)` of a 200 when given (a lean model validated straight from the bytes)."""
        return await self.signed(
            method,
            V2_PREFIX + path.lstrip("/"),
            query=query,
            payload=payload,
            retry=retry,
            gone_ok_after_retry=gone_ok_after_retry,
            read_timeout=read_timeout,
            decode=decode,
            guard=guard,
        )

    async def signed(
        self,
        method: str,
        path: str,
        *,
        query: signing.QueryParams = (),
        payload: Any = _NO_BODY,
        retry: Retry = Retry.SAFE,
        gone_ok_after_retry: bool = False,
        read_timeout: float | None = None,
        decode: Decode | None = None,
        guard: Guard | None = None,
    ) -> Any:
        """Any request signed the v2 way; `path` is absolute below the domain (e.g. `/sandbox/...`)."""
        target = signing.request_target(self._prefix + path, signing.encode_query(query))
        body = b"" if payload is _NO_BODY else _json_or_refuse(payload, f"{method} {path}")

        def build(trace_id: str) -> httpx.Request:
            headers = self._common_headers(trace_id)
            if body:
                headers["Content-Type"] = "application/json"
            if isinstance(self._auth, BearerAuth):
                headers["Authorization"] = f"Bearer {self._auth.token}"
            else:
                headers.update(
                    signing.sign_v2(
                        method,
                        target,
                        body,
                        key=self._auth.private_key,
                        key_id=self._auth.key_id,
                        created=int(self._clock()),
                    )
                )
            return self._request(method, target, body, headers, read_timeout)

        def parse(response: httpx.Response, where: Where) -> Outcome:
            return parse_v2(response, where, self._policy, decode)

        return await self._run(method, target, build, parse, retry, gone_ok_after_retry, guard)

    async def v1(
        self,
        query_type: str,
        query_method: str,
        *,
        uid: Any,
        payload: Any,
        resource_type: str = "",
        resource_id: str = "",
        retry: Retry = Retry.SAFE,
        gone_ok_after_retry: bool = False,
        decode: Decode | None = None,
        guard: Guard | None = None,
    ) -> Any:
        """A v1 RPC call (`POST {domain}/public`); returns the envelope's `response`.

        With `decode`, a 200 is first given to it as bytes: it returns the `response` of a successful
        envelope or raises ValueError, and then the generic path below reads the body (and its error)."""
        try:
            body = signing.v1_body(query_type, query_method, uid, payload)
        except (TypeError, ValueError) as exc:
            raise EncordInvalidArgumentError(
                f"{query_type}/{query_method}: cannot send as JSON: {exc}"
            ) from None
        target = self._prefix + V1_PATH

        def build(trace_id: str) -> httpx.Request:
            if isinstance(self._auth, SshKeyAuth):
                authorization = signing.sign_v1(body, key=self._auth.private_key, key_id=self._auth.key_id)
            else:
                authorization = f"Bearer {self._auth.token}"
            headers = {
                "Accept": "application/json",
                "Content-Type": "application/json",
                "Accept-Encoding": self._accept_encoding or "gzip",
                "ResourceType": resource_type,
                "ResourceID": resource_id,
                "Authorization": authorization,
                **self._common_headers(trace_id),
            }
            return self._request("POST", target, body, headers, None)

        def parse(response: httpx.Response, where: Where) -> Outcome:
            if decode is not None and response.status_code == 200:
                try:
                    return Outcome(value=decode(response.content))
                except ValueError:
                    pass  # an error envelope or an unexpected shape: the generic path says which
            return parse_v1(response, where, self._policy)

        label = f"{query_type}/{query_method}"
        return await self._run(label, target, build, parse, retry, gone_ok_after_retry, guard)

    # -- machinery --------------------------------------------------------------------------------
    def _common_headers(self, trace_id: str) -> dict[str, str]:
        return {"User-Agent": USER_AGENT, "X-Cloud-Trace-Context": f"{trace_id}/1;o=1"}

    def _request(
        self, method: str, target: str, body: bytes, headers: dict[str, str], read_timeout: float | None
    ) -> httpx.Request:
        url = httpx.URL(self._origin + target)
        # What we signed must be what goes on the wire: httpx must not re-encode the target.
        if url.raw_path != target.encode("ascii"):
            raise AssertionError(f"httpx altered the request target {target!r} -> {url.raw_path!r}")
        timeout = self._timeout
        if read_timeout is not None and read_timeout > (timeout.read or 0):
            t = self._timeout
            timeout = httpx.Timeout(connect=t.connect, read=read_timeout, write=t.write, pool=t.pool)
        return self._client.build_request(method, url, content=body or None, headers=headers, timeout=timeout)

    async def _run(
        self,
        label: str,
        target: str,
        build: Callable[[str], httpx.Request],
        parse: Callable[[httpx.Response, Where], Outcome],
        retry: Retry,
        gone_ok_after_retry: bool,
        guard: Guard | None = None,
    ) -> Any:
        path = target.split("?", 1)[0]
        previous_ambiguous = False
        attempt = 0
        while True:
            attempt += 1
            if guard is not None:
                # Right before each attempt, after any wait for a slot or a retry's pause: a runner
                # that stalled there must find out it lost the lock before it writes, not after.
                await guard()
            trace_id = self._trace_id_factory()
            token = request_guard.set(guard)
            try:
                outcome = await self._attempt(label, path, build(trace_id), trace_id, attempt, parse)
            finally:
                request_guard.reset(token)
            if outcome.error is None:
                return outcome.value
            error = outcome.error
            if (
                gone_ok_after_retry
                and previous_ambiguous
                and isinstance(error, EncordNotFoundError | EncordPermissionError)
            ):
                _log.debug("%s %s: gone after an ambiguous earlier attempt; treating as done", label, path)
                return None
            certainly_unprocessed = outcome.not_sent or outcome.rejected_unprocessed
            if retry is Retry.SAFE:
                may_retry = outcome.retryable_status or outcome.transport_retryable
            else:
                may_retry = certainly_unprocessed
                if not may_retry and (outcome.server_failure or outcome.transport_retryable):
                    raise AmbiguousFailure(error)
            if not may_retry or attempt > self._policy.max_retries:
                raise error
            previous_ambiguous = previous_ambiguous or not certainly_unprocessed
            delay = self._policy.delay(attempt, outcome.retry_after)
            _log.debug("%s %s: retry %d in %.2f s", label, path, attempt, delay)
            await self._policy.sleep(delay)

    async def _attempt(
        self,
        label: str,
        path: str,
        request: httpx.Request,
        trace_id: str,
        attempt: int,
        parse: Callable[[httpx.Response, Where], Outcome],
    ) -> Outcome:
        try:
            response = await self._client.send(request)
        except httpx.HTTPError as exc:
            name = type(exc).__name__
            _log.debug("%s %s -> %s (attempt %d, trace %s)", label, path, name, attempt, trace_id)
            error = EncordTransportError(
                f"{label} {path}: {name}: {exc or 'connection failed'}", trace_id=trace_id
            )
            if isinstance(exc, _PERMANENT_ERRORS):
                return Outcome(error=error)
            return Outcome(error=error, not_sent=isinstance(exc, _NOT_SENT_ERRORS), transport_retryable=True)
        _log.debug("%s %s -> %d (attempt %d, trace %s)", label, path, response.status_code, attempt, trace_id)
        return parse(response, (label, path, trace_id))


def _json_or_refuse(payload: Any, where: str) -> bytes:
    try:
        return signing.json_body(payload)
    except (TypeError, ValueError) as exc:  # e.g. a datetime or NaN in client metadata
        raise EncordInvalidArgumentError(f"{where}: cannot send the body as JSON: {exc}") from None
