"""The request-parity machinery: capture both clients' requests from the emulator's request log, normalise
them and compare; the written-down differences; the objects both clients work on.

Used by test_request_parity*.py (their module docstring explains what "the same" means); the fixtures
(`server`, `world`, `sdk`, `ours`, `parity`) are in conftest.py.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from uuid import UUID

from reconciler.encord.auth import SshKeyAuth
from reconciler.encord.client import EncordClient

if TYPE_CHECKING:
    from tests.fidelity.conftest import EmulatorServer

# operation -> field -> reason. A field is `method`, `path`, `query`, `body`, `header:<name>`, or
# `query:<param>` (only that query parameter's value may differ; the rest of the query must be equal).
ALLOWED_DIFFERENCES: dict[str, dict[str, str]] = {
    "iter_item_refs": {
        "query:includeClientMetadata": (
            "the plan reads only identities from the recursive listing, so it asks the server to leave client "
            "metadata out (`includeClientMetadata=False`, a ListItemsParams field the SDK's find_items leaves "
            "unset); reader.py"
        ),
    },
    "iter_item_facts": {
        "query:includeClientMetadata": (
            "a rule's `where` needs the items' client metadata, so the recursive listing asks for it "
            "(`includeClientMetadata=True`, the ListItemsParams field the SDK's find_items leaves unset); "
            "reader.py"
        ),
    },
    "delete_folder": {
        "header:content-length": (
            "requests adds `Content-Length: 0` to a body-less DELETE, httpx sends no Content-Length; both "
            "mean 'no content' (RFC 9110 §8.6), the signed Content-Digest (of the empty body) is equal and "
            "the header is not part of the signature"
        ),
    },
    "get_upload_job": {
        "query:timeoutSeconds": (
            "the SDK's add_private_data_to_folder_get_result sends its whole polling budget (default 7 days) "
            "as the long-poll timeout of every poll; our get_upload_job sends one poll's timeout (default "
            "60 s) and its caller decides how often to poll. Only the server-side hold time differs."
        ),
    },
}

# operation -> side ("sdk" | "ours") -> ("METHOD /normalised/path", reason): one extra request that has no
# counterpart on the other side and is left out of the pairing.
UNPAIRED_REQUESTS: dict[str, dict[str, tuple[str, str]]] = {
    "create_root_folder": {
        "ours": (
            "GET /v2/public/storage/folders",
            "create_folder is not idempotent, so it snapshots the same-named folders first: after an "
            "ambiguous failure it compares against the snapshot before retrying (client.py, Idempotency)",
        ),
    },
    "create_nested_folder": {
        "ours": (
            "GET /v2/public/storage/folders/<parent>/folders",
            "the same snapshot of same-named folders, taken in the parent (client.py, Idempotency)",
        ),
    },
    "create_dataset": {
        "ours": (
            "GET /v2/public/datasets/list",
            "create_dataset snapshots the same-titled datasets before the non-idempotent create "
            "(client.py, Idempotency)",
        ),
    },
    "move_folder": {
        "sdk": (
            "GET /v2/public/storage/folders/<moved>",
            "StorageFolder.move_to_folder re-reads the folder to refresh the Python object; our "
            "move_folder returns nothing and does not (client.py docstring)",
        ),
    },
    "move_folder_to_root": {
        "sdk": (
            "GET /v2/public/storage/folders/<moved>",
            "StorageFolder.move_to_folder re-reads the folder to refresh the Python object; our "
            "move_folder returns nothing and does not (client.py docstring)",
        ),
    },
    "update_folder_without_changes": {
        "ours": (
            "GET /v2/public/storage/folders/<shared>",
            "update_folder with nothing to change returns the folder, so it GETs it; the SDK's "
            "StorageFolder.update sends nothing at all (client.py docstring)",
        ),
    },
}

# Headers left out of the comparison: they describe the HTTP library or the request instance, not the
# Encord protocol. Every other header (Content-Digest, Content-Type, Content-Length, Host, ResourceType,
# ResourceID, and any header either client starts sending) is compared.
HEADERS_NOT_COMPARED: dict[str, str] = {
    "user-agent": "names the client: `reconciler/<v> httpx/<v>` by design (client.py docstring)",
    "x-cloud-trace-context": "a fresh random trace id per request (same `<32 hex>/1;o=1` format on both)",
    "accept": "HTTP-library default (requests sends none on v2; httpx sends */*); v1 values are equal anyway",
    "accept-encoding": "HTTP-library default (requests: identity on v2, gzip on v1; httpx: gzip, deflate)",
    "connection": "HTTP-library default (httpx sends keep-alive, requests' v2 prepared requests send none)",
    "signature": "redacted in the log; verified by the emulator (`signature_valid`) instead",
    "signature-input": "redacted in the log; verified by the emulator (`signature_valid`) instead",
    "authorization": "redacted in the log; verified by the emulator (`signature_valid`) instead",
}

# Headers whose value is a function of the body bytes (see the module docstring).
BODY_BYTES_HEADERS = ("content-digest", "content-length")

SIDES = ("sdk", "ours")


# -- normalisation --------------------------------------------------------------------------------------


class Normaliser:
    """Replaces known per-run values (UUIDs, hashes) by named placeholders, everywhere they occur.

    Each side has its own mapping, so `<moved>` is the SDK's folder in the SDK's requests and our folder
    in ours. Substitution is on substrings of the raw path and query and of every string (and key) of the
    body; the values registered are UUIDs and hex hashes, which percent-encoding leaves unchanged.
    """

    def __init__(self, names: dict[str, str | UUID] | None = None) -> None:
        # longest first, so that a value containing another one is replaced whole
        pairs = [(str(value), f"<{name}>") for name, value in (names or {}).items()]
        self._pairs = sorted(pairs, key=lambda pair: -len(pair[0]))

    def text(self, value: str) -> str:
        for concrete, placeholder in self._pairs:
            value = value.replace(concrete, placeholder)
        return value

    def json(self, value: Any) -> Any:
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, list):
            return [self.json(v) for v in value]
        if isinstance(value, dict):
            return {self.text(k): self.json(v) for k, v in value.items()}
        return value


@dataclass(frozen=True)
class Wire:
    """One request as compared: everything but the transport-level headers, normalised."""

    method: str
    path: str
    query: str
    body: Any
    headers: dict[str, str]
    raw_body: Any  # before normalisation: decides whether the body-bytes headers are comparable

    @property
    def signature(self) -> str:
        return f"{self.method} {self.path}"

    def field(self, name: str) -> Any:
        if name.startswith("header:"):
            return self.headers.get(name.removeprefix("header:"))
        return getattr(self, name)


def to_wire(entry: dict[str, Any], normaliser: Normaliser) -> Wire:
    headers = {k: v for k, v in entry["headers"].items() if k not in HEADERS_NOT_COMPARED}
    return Wire(
        method=entry["method"],
        path=normaliser.text(entry["path"]),
        query=normaliser.text(entry["query"]),
        body=normaliser.json(entry["body"]),
        headers=headers,
        raw_body=entry["body"],
    )


def _mask_query_param(query: str, param: str) -> str:
    """The query without `param` (every occurrence): a value that differs, or a parameter one side adds."""
    return "&".join(p for p in query.split("&") if p.partition("=")[0] != param)


def differences(theirs: Wire, ours: Wire) -> dict[str, tuple[Any, Any]]:
    """field -> (SDK value, our value) for every field that differs, in `ALLOWED_DIFFERENCES` terms."""
    found: dict[str, tuple[Any, Any]] = {}
    for name in ("method", "path", "body"):
        if theirs.field(name) != ours.field(name):
            found[name] = (theirs.field(name), ours.field(name))
    if theirs.query != ours.query:
        params = {
            key
            for query in (theirs.query, ours.query)
            for key, _, _ in (p.partition("=") for p in query.split("&"))
        }
        differing = [
            p
            for p in sorted(params)
            if _mask_query_param(theirs.query, p) == _mask_query_param(ours.query, p)
        ]
        name = f"query:{differing[0]}" if differing else "query"
        found[name] = (theirs.query, ours.query)
    same_bytes_expected = theirs.raw_body == ours.raw_body
    for header in sorted(set(theirs.headers) | set(ours.headers)):
        a: str | bool | None = theirs.headers.get(header)
        b: str | bool | None = ours.headers.get(header)
        if header in BODY_BYTES_HEADERS and not same_bytes_expected:
            a, b = a is not None, b is not None  # different bodies: only presence is comparable
        if a != b:
            found[f"header:{header}"] = (a, b)
    return found


# -- capture --------------------------------------------------------------------------------------------


@dataclass
class Parity:
    server: EmulatorServer
    key_id: str

    def mark(self) -> int:
        return len(self.server.read_log())

    def since(self, mark: int) -> list[dict[str, Any]]:
        return self.server.read_log()[mark:]

    def sdk(self, call: Callable[[], Any]) -> list[dict[str, Any]]:
        """The requests the SDK makes while running `call` (nothing else talks to the emulator meanwhile)."""
        mark = self.mark()
        call()
        return self.since(mark)

    async def ours(self, call: Awaitable[Any]) -> list[dict[str, Any]]:
        mark = self.mark()
        await call
        return self.since(mark)

    def assert_same(
        self,
        operation: str,
        theirs: list[dict[str, Any]],
        ours: list[dict[str, Any]],
        *,
        sdk_names: dict[str, str | UUID] | None = None,
        our_names: dict[str, str | UUID] | None = None,
    ) -> None:
        assert theirs or ours, f"{operation}: neither client sent a request"
        for side, entries in zip(SIDES, (theirs, ours), strict=True):
            for e in entries:
                where = f"{operation}: {side} {e['method']} {e['path']}"
                assert e["signature_valid"] is True, f"{where}: the emulator did not verify the signature"
                assert (e["auth"], e["key_id"]) == ("ssh", self.key_id), where
                assert e["status"] in (200, 204), f"{where}: status {e['status']}"
                if e["path"].startswith("/v2/"):
                    assert e["headers"].get("content-digest", "").startswith("sha-256=:"), where

        wires = {
            "sdk": [to_wire(e, Normaliser(sdk_names)) for e in theirs],
            "ours": [to_wire(e, Normaliser(our_names)) for e in ours],
        }
        for side, (signature, _reason) in UNPAIRED_REQUESTS.get(operation, {}).items():
            listed = [w.signature for w in wires[side]]
            assert signature in listed, (
                f"{operation}: the written-down extra {side} request {signature!r} was not sent "
                f"(sent: {listed}); update UNPAIRED_REQUESTS"
            )
            del wires[side][listed.index(signature)]

        assert [w.signature for w in wires["ours"]] == [w.signature for w in wires["sdk"]], (
            f"{operation}: the two clients sent different request sequences"
        )
        found: dict[str, tuple[Any, Any]] = {}
        for sdk_wire, our_wire in zip(wires["sdk"], wires["ours"], strict=True):
            found.update(differences(sdk_wire, our_wire))
        allowed = ALLOWED_DIFFERENCES.get(operation, {})
        unexpected = {field: values for field, values in found.items() if field not in allowed}
        assert unexpected == {}, f"{operation}: differences (SDK, ours) not in ALLOWED_DIFFERENCES"
        stale = sorted(set(allowed) - set(found))
        assert stale == [], f"{operation}: allowed differences that no longer occur: {stale}"


# -- shared objects -------------------------------------------------------------------------------------

RUN = uuid.uuid4().hex[:8]
IMAGES = [f"s3://parity-bucket/{RUN}/ü {n}.jpg" for n in ("a", "b")]
REGISTRATION = {"images": [{"objectUrl": url} for url in IMAGES], "skip_duplicate_urls": True}
METADATA = {"split": "train", "ü": [1.5, None, True], "nested": {"k": "v"}}


@dataclass(frozen=True)
class World:
    """Objects both clients work on, made once per module through our client (outside every capture)."""

    integration: UUID
    shared: UUID  # a root folder the tests put their folders in
    items_folder: UUID  # holds the registered IMAGES
    items: tuple[UUID, ...]


def our_client(server: EmulatorServer) -> EncordClient:
    return EncordClient(server.url, SshKeyAuth(server.private_key))


async def register(client: EncordClient, folder: UUID, integration: UUID) -> tuple[UUID, ...]:
    job = await client.start_upload_job(folder, external_files=REGISTRATION, integration_uuid=integration)
    state = await client.get_upload_job(folder, job, timeout_seconds=10)
    assert state.status == "DONE", state
    return tuple(i.item_uuid for i in state.items_with_names)
