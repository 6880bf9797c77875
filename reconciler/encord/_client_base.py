"""The plumbing under `EncordClient`: construction, request slots, paging, create-once, parsing helpers.

`EncordClient` (client.py) is this plus its operations; the item and upload-job operations are in
client_items.py. Nothing here is public API beyond what `EncordClient` exposes.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Protocol, Self, TypeVar
from uuid import UUID

import httpx
from pydantic import BaseModel, ValidationError

from reconciler.defaults import DEFAULT_CONCURRENCY, DEFAULT_PAGE_SIZE
from reconciler.encord._http import AmbiguousFailure, HttpCore, Retry, _new_trace_id
from reconciler.encord.auth import Auth
from reconciler.encord.retry import RetryPolicy
from reconciler.encord.signing import quote_segment
from reconciler.errors import EncordAmbiguousError, EncordInvalidArgumentError, EncordServerError

_log = logging.getLogger("reconciler.encord")

_M = TypeVar("_M", bound=BaseModel)


def seg(value: UUID | str) -> str:
    return quote_segment(str(value))


def parse_wire(model: type[_M], data: Any, what: str) -> _M:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise EncordServerError(
            f"unexpected {what} from Encord: {exc.error_count()} validation error(s)"
        ) from exc


def parse_uuid(value: Any, what: str) -> UUID:
    try:
        return UUID(str(value))
    except ValueError:
        raise EncordServerError(f"unexpected {what} from Encord: not a UUID") from None


class _Page(Protocol):
    @property
    def next_page_token(self) -> str | None: ...

    @classmethod
    def model_validate_json(cls, json_data: bytes) -> Self: ...


_P = TypeVar("_P", bound=_Page)


def _next_token(path: str, token: Any, seen: set[str]) -> str | None:
    """The token of the next page, None at the end; "" also ends; a repeating token is an error."""
    if token is None or token == "":
        return None
    if not isinstance(token, str) or token in seen:
        raise EncordServerError(f"GET {path}: the server repeated page token {token!r}; stopping")
    seen.add(token)
    return token


@dataclass
class SentCreate:
    """A create this client sent: if the run stalls with it on the wire and loses its lock meanwhile, it may
    land after another apply created the same thing (no fencing on Encord's side), so it is checked."""

    what: str
    started: float  # time.monotonic() before its first attempt
    count_same: Callable[[], Awaitable[int]]  # how many objects now carry its parent and name
    finished: float | None = None


# v2 requests that are POSTs but only read.
_READS_BY_POST = frozenset({"storage/items/get-bulk"})
# The creates remembered for `twins_since`: only those of the last seconds before a stall matter.
_SENT_CREATES_KEPT = 1024


class ClientBase:
    def __init__(
        self,
        domain: str,
        auth: Auth,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        timeout_seconds: float = 180.0,
        max_retries: int = 3,
        backoff_factor: float = 1.5,
        max_connections: int = DEFAULT_CONCURRENCY,
        page_size: int = DEFAULT_PAGE_SIZE,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        rng: random.Random | None = None,
        clock: Callable[[], float] = time.time,
        trace_id_factory: Callable[[], str] = _new_trace_id,
        compress: bool = True,
    ) -> None:
        if not 1 <= page_size <= DEFAULT_PAGE_SIZE:
            raise EncordInvalidArgumentError(f"page_size must be between 1 and 1000, got {page_size}")
        if max_retries < 0:
            raise EncordInvalidArgumentError("max_retries must be >= 0")
        self._policy = RetryPolicy(
            max_retries=max_retries,
            backoff_factor=backoff_factor,
            sleep=sleep,
            rng=rng or random.Random(),
        )
        self._http = HttpCore(
            domain,
            auth,
            transport=transport,
            timeout_seconds=timeout_seconds,
            policy=self._policy,
            max_connections=max_connections,
            clock=clock,
            trace_id_factory=trace_id_factory,
            compress=compress,
        )
        self._page_size = page_size
        # Bounds requests in flight for every transport (httpx.Limits does not apply to ASGITransport).
        self._slots = asyncio.Semaphore(max_connections)
        # Awaited before every request that changes something (apply sets it to its lock's guard): a
        # request that may not be sent raises there, and nothing is written.
        self.write_guard: Callable[[], Awaitable[None]] | None = None
        self._sent_creates: deque[SentCreate] = deque(maxlen=_SENT_CREATES_KEPT)

    @property
    def page_size(self) -> int:
        return self._page_size

    @property
    def domain(self) -> str:
        return self._http.domain

    def __repr__(self) -> str:
        return f"EncordClient({self._http.domain!r})"

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()

    # -- plumbing ---------------------------------------------------------------------------------
    async def _v2(self, method: str, path: str, **kwargs: Any) -> Any:
        guard = self.write_guard if method != "GET" and path not in _READS_BY_POST else None
        async with self._slots:
            return await self._http.v2(method, path, guard=guard, **kwargs)

    async def _signed(self, method: str, path: str, **kwargs: Any) -> Any:
        guard = self.write_guard if method != "GET" else None
        async with self._slots:
            return await self._http.signed(method, path, guard=guard, **kwargs)

    async def _v1(self, query_type: str, query_method: str, **kwargs: Any) -> Any:
        guard = self.write_guard if query_method != "GET" else None
        async with self._slots:
            return await self._http.v1(query_type, query_method, guard=guard, **kwargs)

    async def _pages(
        self, path: str, query: Callable[[str | None], list[tuple[str, Any]]]
    ) -> AsyncIterator[list[Any]]:
        """Follow `nextPageToken` until null/absent; "" also ends; a repeating token is an error."""
        token: str | None = None
        seen: set[str] = set()
        while True:
            page = await self._v2("GET", path, query=query(token))
            if not isinstance(page, dict) or not isinstance(page.get("results"), list):
                raise EncordServerError(f"GET {path}: expected a page object with `results`")
            yield page["results"]
            token = _next_token(path, page.get("nextPageToken", page.get("next_page_token")), seen)
            if token is None:
                return

    async def _lean_pages(
        self, path: str, query: Callable[[str | None], list[tuple[str, Any]]], page_model: type[_P]
    ) -> AsyncIterator[_P]:
        """As `_pages`, each page validated by `page_model` straight from the response bytes. The next page
        is asked for as soon as this one's token is known, so it is on its way while the caller uses this
        one (a folder's pages come one after another: a million items, 1,000 round trips). Still one
        request of the listing in flight at a time."""
        seen: set[str] = set()

        def fetch(token: str | None) -> asyncio.Future[_P]:
            decode = page_model.model_validate_json
            return asyncio.ensure_future(self._v2("GET", path, query=query(token), decode=decode))

        coming: asyncio.Future[_P] | None = fetch(None)
        try:
            while coming is not None:
                page = await coming
                token = _next_token(path, page.next_page_token, seen)
                coming = fetch(token) if token is not None else None
                yield page
        finally:
            if coming is not None:  # the caller stopped early, or failed: the page on its way is not wanted
                coming.cancel()
                coming.add_done_callback(_retrieved)

    async def _create_once(
        self,
        what: str,
        path: str,
        body: dict[str, Any],
        read_back: Callable[[], Awaitable[Any | None]],
        count_same: Callable[[], Awaitable[int]],
    ) -> Any:
        """POST a create; after each ambiguous failure, read back and repeat only if it did not happen."""
        sent = SentCreate(what, time.monotonic(), count_same)
        self._sent_creates.append(sent)
        try:
            return await self._create_rounds(what, path, body, read_back)
        finally:
            sent.finished = time.monotonic()

    async def _create_rounds(
        self, what: str, path: str, body: dict[str, Any], read_back: Callable[[], Awaitable[Any | None]]
    ) -> Any:
        rounds = self._policy.max_retries + 1
        for round_ in range(1, rounds + 1):
            try:
                return await self._v2("POST", path, payload=body, retry=Retry.NEVER)
            except AmbiguousFailure as amb:
                last = amb.error
            _log.warning("creating %s failed ambiguously (%s); checking whether it happened", what, last)
            await self._policy.sleep(self._policy.delay(round_))
            found = await read_back()
            if found is not None:
                _log.info("%s was created despite the error; using it", what)
                return found
        raise EncordAmbiguousError(
            f"creating {what} failed {rounds} times and it was not found afterwards; last error: {last}"
        )

    async def twins_since(self, confirmed_at: float) -> list[str]:
        """After the lock was lost: the creates that may have landed after it passed on (not finished when the
        lease was last confirmed ours) and whose object now exists more than once. Reads only."""
        found = []
        for sent in list(self._sent_creates):
            if sent.finished is not None and sent.finished <= confirmed_at:
                continue
            count = await sent.count_same()
            if count > 1:
                found.append(f"{sent.what} now exists {count} times")
        return found


def _retrieved(future: asyncio.Future[Any]) -> None:
    """Mark a dropped request's outcome as seen (asyncio logs a failure nobody retrieved)."""
    if not future.cancelled():
        future.exception()
