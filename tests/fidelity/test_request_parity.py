"""Our client sends what the official SDK (encord==0.1.211) sends, as the emulator received it over HTTP.

For every operation reconciler uses, the SDK and `EncordClient` each do the same thing against ONE emulator
(started for this module). The emulator's request log gives, per request: method, raw path, raw query,
parsed JSON body, headers (signatures redacted) and whether it verified the signature. We slice the log to
the requests each client produced and compare them request by request.

What "the same" means here:

* method, path, query (raw, so parameter order and percent-encoding count) and body (parsed JSON) must be
  equal after normalisation (see `Normaliser`): values that are *necessarily* different between the two runs
  (the UUID of the folder each client deleted, of the upload job each client started...) are replaced by
  named placeholders. Wherever we can, both clients act on the *same* objects, so nothing needs replacing.
* body bytes: the log keeps the body parsed (and key-sorted), so byte-level equality (key order, separators,
  escaping) is checked through `Content-Digest` (v2) and `Content-Length` (v1 and v2): when both bodies are
  the same JSON value, these headers must be equal too. When the bodies differ only by a placeholder (move,
  remove data rows), the two headers are only required to be present on both; the byte-level form of those
  bodies is pinned with fixed UUIDs in tests/client/test_sdk_parity.py.
* every other header must be equal, except the transport-level ones listed in `HEADERS_NOT_COMPARED`.
  v1 requests therefore carry equal `ResourceType`/`ResourceID`.
* every request of both clients has a signature the emulator verified, with the same key, and got the
  expected status.

Differences are allowed only where written down below, with the reason: `ALLOWED_DIFFERENCES` for fields
of paired requests, `UNPAIRED_REQUESTS` for extra requests one client makes. Both tables are exact: an
entry that no longer happens fails the test too, so the table cannot go stale.
"""

from __future__ import annotations

import asyncio
import re
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from typing import Any
from uuid import UUID

import pytest
from encord import EncordUserClient  # already imported (warning filtered) by tests/fidelity/conftest.py
from encord.orm.dataset import StorageLocation

from reconciler.encord.auth import SshKeyAuth
from reconciler.encord.client import EncordClient
from reconciler.encord.provider import EncordProvider
from reconciler.plan.model import Action, Change, Kind
from tests.fidelity.conftest import EmulatorServer, running_emulator

pytestmark = pytest.mark.fidelity

# operation -> field -> reason. A field is `method`, `path`, `query`, `body`, `header:<name>`, or
# `query:<param>` (only that query parameter's value may differ; the rest of the query must be equal).
ALLOWED_DIFFERENCES: dict[str, dict[str, str]] = {
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
    return re.sub(rf"(^|&)({re.escape(param)})=[^&]*", r"\1\2=<allowed difference>", query)


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


# -- fixtures -------------------------------------------------------------------------------------------

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


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmulatorServer]:
    with running_emulator(tmp_path_factory.mktemp("request-parity")) as emulator:
        yield emulator


@pytest.fixture(scope="module")
def world(server: EmulatorServer) -> World:
    async def build() -> World:
        async with our_client(server) as client:
            integration = await client.sandbox_create_integration(f"parity-{RUN}", "aws")
            shared = await client.create_folder(f"parity-{RUN}")
            items_folder = await client.create_folder("items", parent=shared.uuid)
            items = await register(client, items_folder.uuid, integration.integration_uuid)
        return World(integration.integration_uuid, shared.uuid, items_folder.uuid, items)

    return asyncio.run(build())


@pytest.fixture(scope="module")
def sdk(server: EmulatorServer) -> Any:
    return EncordUserClient.create_with_ssh_private_key(
        ssh_private_key=server.private_key_pem, domain=server.url
    )


@pytest.fixture
async def ours(server: EmulatorServer) -> AsyncIterator[EncordClient]:
    async with our_client(server) as client:
        yield client


@pytest.fixture
def parity(server: EmulatorServer) -> Parity:
    return Parity(server, SshKeyAuth(server.private_key).key_id)


# -- cloud integrations, metadata schema ----------------------------------------------------------------


async def test_listing_cloud_integrations_sends_what_the_sdk_sends(
    parity: Parity, sdk: Any, ours: EncordClient, world: World
) -> None:
    theirs = parity.sdk(lambda: sdk.get_cloud_integrations())
    mine = await parity.ours(ours.list_cloud_integrations())
    parity.assert_same("list_cloud_integrations", theirs, mine)


async def test_reading_the_metadata_schema_sends_what_the_sdk_sends(
    parity: Parity, sdk: Any, ours: EncordClient
) -> None:
    theirs = parity.sdk(lambda: sdk.metadata_schema())
    mine = await parity.ours(ours.get_metadata_schema())
    parity.assert_same("get_metadata_schema", theirs, mine)


SCHEMA_BEFORE = {
    "a": {"ty": "variant", "hint": "text"},
    "kept": {"ty": "enum", "values": ["x", "y"]},
}


def _schema_change(key: str, action: Action, shape: dict[str, Any] | None = None) -> Change:
    payload: dict[str, Any] = {"key": key} if shape is None else {"key": key, "shape": shape}
    return Change(address=f"schema.{key}", kind=Kind.SCHEMA_KEY, action=action, payload=payload)


async def test_writing_the_metadata_schema_sends_the_document_the_sdk_sends(
    parity: Parity, sdk: Any, ours: EncordClient
) -> None:
    """SDK: read, add/delete keys, save. Ours: the provider's read-modify-write of the same changes."""

    def sdk_edit() -> None:
        schema = sdk.metadata_schema()
        schema.add_scalar("b", data_type="number")
        schema.add_enum("e", values=["z", "a"])
        schema.add_embedding("emb", size=4)
        schema.delete_key("a")
        schema.save()

    changes = [
        _schema_change("b", Action.CREATE, {"type": "number"}),
        _schema_change("e", Action.CREATE, {"type": "enum", "values": ["z", "a"]}),
        _schema_change("emb", Action.CREATE, {"type": "embedding", "size": 4}),
        _schema_change("a", Action.DELETE),
    ]
    await ours.set_metadata_schema(SCHEMA_BEFORE)  # both start from the same document
    theirs = parity.sdk(sdk_edit)
    await ours.set_metadata_schema(SCHEMA_BEFORE)
    mine = await parity.ours(EncordProvider(ours).apply_schema(changes))

    assert [e["method"] for e in theirs] == ["GET", "POST"]
    parity.assert_same("set_metadata_schema", theirs, mine)


# -- folders --------------------------------------------------------------------------------------------

FOLDER_NAME = "new é/% folder"


async def test_creating_a_root_folder_sends_what_the_sdk_sends(
    parity: Parity, sdk: Any, ours: EncordClient
) -> None:
    name = f"{FOLDER_NAME} {RUN}"
    theirs = parity.sdk(lambda: sdk.create_storage_folder(name, description="d ü", client_metadata=METADATA))
    mine = await parity.ours(ours.create_folder(name, description="d ü", client_metadata=METADATA))
    parity.assert_same("create_root_folder", theirs, mine)


async def test_creating_a_nested_folder_sends_what_the_sdk_sends(
    parity: Parity, sdk: Any, ours: EncordClient, world: World
) -> None:
    theirs = parity.sdk(lambda: sdk.create_storage_folder(FOLDER_NAME, parent_folder=world.shared))
    mine = await parity.ours(ours.create_folder(FOLDER_NAME, parent=world.shared))
    names: dict[str, str | UUID] = {"parent": world.shared}
    parity.assert_same("create_nested_folder", theirs, mine, sdk_names=names, our_names=names)


async def test_listing_root_folders_sends_what_the_sdk_sends(
    parity: Parity, sdk: Any, ours: EncordClient, world: World
) -> None:
    # page_size=1000: reconciler always asks for the largest page (the SDK's default is 100).
    theirs = parity.sdk(lambda: list(sdk.list_storage_folders(page_size=1000)))
    mine = await parity.ours(ours.list_folders())
    parity.assert_same("list_root_folders", theirs, mine)


async def test_listing_subfolders_sends_what_the_sdk_sends(
    parity: Parity, sdk: Any, ours: EncordClient, world: World
) -> None:
    folder = sdk.get_storage_folder(world.shared)
    theirs = parity.sdk(lambda: list(folder.list_subfolders(page_size=1000)))
    mine = await parity.ours(ours.list_folders(world.shared))
    parity.assert_same("list_subfolders", theirs, mine)


async def test_getting_a_folder_sends_what_the_sdk_sends(
    parity: Parity, sdk: Any, ours: EncordClient, world: World
) -> None:
    theirs = parity.sdk(lambda: sdk.get_storage_folder(world.shared))
    mine = await parity.ours(ours.get_folder(world.shared))
    parity.assert_same("get_folder", theirs, mine)


async def test_updating_a_folder_sends_what_the_sdk_sends(
    parity: Parity, sdk: Any, ours: EncordClient, world: World
) -> None:
    folder = sdk.get_storage_folder(world.shared)
    theirs = parity.sdk(lambda: folder.update(description="d ü/%", client_metadata=METADATA))
    mine = await parity.ours(ours.update_folder(world.shared, description="d ü/%", client_metadata=METADATA))
    parity.assert_same("update_folder", theirs, mine)


async def test_updating_a_folder_with_nothing_to_change_reads_it_where_the_sdk_sends_nothing(
    parity: Parity, sdk: Any, ours: EncordClient, world: World
) -> None:
    folder = sdk.get_storage_folder(world.shared)
    theirs = parity.sdk(folder.update)
    mine = await parity.ours(ours.update_folder(world.shared))
    assert theirs == []
    names: dict[str, str | UUID] = {"shared": world.shared}
    parity.assert_same("update_folder_without_changes", theirs, mine, sdk_names=names, our_names=names)


@pytest.mark.parametrize(("operation", "to_root"), [("move_folder", False), ("move_folder_to_root", True)])
async def test_moving_a_folder_sends_what_the_sdk_sends(
    parity: Parity, sdk: Any, ours: EncordClient, world: World, operation: str, to_root: bool
) -> None:
    # Each client moves a folder of its own (from the shared folder into a target, or to the root).
    target = await ours.create_folder(f"target-{operation}", parent=world.shared)
    sdk_moved = await ours.create_folder(f"moved-{operation}", parent=world.shared)
    our_moved = await ours.create_folder(f"moved-{operation}", parent=world.shared)
    new_parent = None if to_root else target.uuid

    folder = sdk.get_storage_folder(sdk_moved.uuid)
    theirs = parity.sdk(lambda: folder.move_to_folder(new_parent))
    mine = await parity.ours(ours.move_folder(our_moved.uuid, new_parent))
    parity.assert_same(
        operation,
        theirs,
        mine,
        sdk_names={"moved": sdk_moved.uuid, "target": target.uuid},
        our_names={"moved": our_moved.uuid, "target": target.uuid},
    )
    assert (await ours.get_folder(our_moved.uuid)).parent == new_parent


async def test_deleting_a_folder_sends_what_the_sdk_sends(
    parity: Parity, sdk: Any, ours: EncordClient, world: World
) -> None:
    sdk_doomed = await ours.create_folder("doomed", parent=world.shared)
    our_doomed = await ours.create_folder("doomed", parent=world.shared)

    folder = sdk.get_storage_folder(sdk_doomed.uuid)
    theirs = parity.sdk(folder.delete)
    mine = await parity.ours(ours.delete_folder(our_doomed.uuid))
    parity.assert_same(
        "delete_folder",
        theirs,
        mine,
        sdk_names={"doomed": sdk_doomed.uuid},
        our_names={"doomed": our_doomed.uuid},
    )


# -- items and upload jobs ------------------------------------------------------------------------------


async def test_listing_items_of_a_folder_sends_what_the_sdk_sends(
    parity: Parity, sdk: Any, ours: EncordClient, world: World
) -> None:
    folder = sdk.get_storage_folder(world.items_folder)
    theirs = parity.sdk(lambda: list(folder.list_items(page_size=1000)))
    mine = await parity.ours(ours.list_items(world.items_folder))
    parity.assert_same("list_items", theirs, mine)


async def test_updating_item_client_metadata_sends_what_the_sdk_sends(
    parity: Parity, sdk: Any, ours: EncordClient, world: World
) -> None:
    item = sdk.get_storage_item(world.items[0])
    theirs = parity.sdk(lambda: item.update(client_metadata=METADATA))
    mine = await parity.ours(ours.update_item(world.items_folder, world.items[0], client_metadata=METADATA))
    parity.assert_same("update_item", theirs, mine)


async def test_starting_an_upload_job_sends_what_the_sdk_sends(
    parity: Parity, sdk: Any, ours: EncordClient, world: World
) -> None:
    # Same folder, same spec: the second job skips the duplicates the first one registered.
    target = await ours.create_folder("uploads", parent=world.shared)
    folder = sdk.get_storage_folder(target.uuid)
    theirs = parity.sdk(lambda: folder.add_private_data_to_folder_start(str(world.integration), REGISTRATION))
    mine = await parity.ours(
        ours.start_upload_job(target.uuid, external_files=REGISTRATION, integration_uuid=world.integration)
    )
    parity.assert_same("start_upload_job", theirs, mine)


async def test_polling_an_upload_job_sends_what_the_sdk_sends(
    parity: Parity, sdk: Any, ours: EncordClient, world: World
) -> None:
    target = await ours.create_folder("polled", parent=world.shared)
    sdk_job = await ours.start_upload_job(
        target.uuid, external_files=REGISTRATION, integration_uuid=world.integration
    )
    our_job = await ours.start_upload_job(
        target.uuid, external_files=REGISTRATION, integration_uuid=world.integration
    )
    folder = sdk.get_storage_folder(target.uuid)
    # Each client with its default timeout: see ALLOWED_DIFFERENCES["get_upload_job"].
    theirs = parity.sdk(lambda: folder.add_private_data_to_folder_get_result(sdk_job))
    mine = await parity.ours(ours.get_upload_job(target.uuid, our_job))
    parity.assert_same("get_upload_job", theirs, mine, sdk_names={"job": sdk_job}, our_names={"job": our_job})
    assert len(theirs) == 1  # the job was DONE at the first poll: no timing-dependent re-polls


# -- datasets -------------------------------------------------------------------------------------------


async def test_creating_a_dataset_sends_what_the_sdk_sends(
    parity: Parity, sdk: Any, ours: EncordClient
) -> None:
    title = f"dataset é/% {RUN}"
    theirs = parity.sdk(
        lambda: sdk.create_dataset(
            title, StorageLocation.AWS, dataset_description="d ü", create_backing_folder=False
        )
    )
    mine = await parity.ours(ours.create_dataset(title, "d ü"))
    parity.assert_same("create_dataset", theirs, mine)


@pytest.mark.parametrize("title", [None, "t x/ü&="])
async def test_listing_datasets_sends_what_the_sdk_sends(
    parity: Parity, sdk: Any, ours: EncordClient, title: str | None
) -> None:
    theirs = parity.sdk(lambda: sdk.get_datasets(title_eq=title))
    mine = await parity.ours(ours.list_datasets(title_eq=title))
    parity.assert_same("list_datasets", theirs, mine)


@pytest.fixture
async def dataset(ours: EncordClient) -> str:
    return str(await ours.create_dataset(f"linked-{uuid.uuid4().hex[:8]}"))


async def test_getting_a_dataset_sends_what_the_sdk_sends(
    parity: Parity, sdk: Any, ours: EncordClient, dataset: str
) -> None:
    theirs = parity.sdk(lambda: sdk.get_dataset(dataset))
    mine = await parity.ours(ours.get_dataset(dataset))
    parity.assert_same("get_dataset", theirs, mine)
    assert theirs[0]["headers"]["resourceid"] == dataset


async def test_linking_items_sends_what_the_sdk_sends(
    parity: Parity, sdk: Any, ours: EncordClient, world: World, dataset: str
) -> None:
    # The same items into the same dataset: our call, second, links nothing new (SKIP duplicates).
    sdk_dataset = sdk.get_dataset(dataset)
    theirs = parity.sdk(lambda: sdk_dataset.link_items(list(world.items)))
    mine = await parity.ours(ours.link_items(dataset, list(world.items)))
    parity.assert_same("link_items", theirs, mine)
    assert len((await ours.get_dataset(dataset)).data_rows) == len(world.items)


async def test_removing_data_rows_sends_what_the_sdk_sends(
    parity: Parity, sdk: Any, ours: EncordClient, world: World, dataset: str
) -> None:
    # Each client removes a different row of the same dataset.
    rows = await ours.link_items(dataset, list(world.items))
    sdk_row, our_row = (r.data_hash for r in rows)
    sdk_dataset = sdk.get_dataset(dataset)
    theirs = parity.sdk(lambda: sdk_dataset.delete_data([sdk_row]))
    mine = await parity.ours(ours.remove_data(dataset, [our_row]))
    parity.assert_same("remove_data", theirs, mine, sdk_names={"row": sdk_row}, our_names={"row": our_row})
    assert (await ours.get_dataset(dataset)).data_rows == []
