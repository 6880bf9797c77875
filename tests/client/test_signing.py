"""v2 and v1 signatures verify independently; the signed bytes are the bytes on the wire."""

from __future__ import annotations

import json
import warnings
from typing import Any
from uuid import UUID

import httpx
import pytest

from reconciler.encord import signing
from reconciler.encord.auth import SshKeyAuth
from tests.client.conftest import BEARER, F1, I1, folder_json, item_json, ok
from tests.client.verify import verify_v1, verify_v2

WEIRD = ["a b", "100%", "x/y", "ünï©ødé", "~*'()!;:@&=+$,?#[]", "", "tab\tnl\n"]


def _requests_prepared(params: list[tuple[str, Any]] | None = None, json_payload: Any = None) -> Any:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import requests

    return requests.Request("POST", "http://h/p", params=params, json=json_payload).prepare()


@pytest.mark.parametrize("value", WEIRD)
def test_query_encoding_matches_requests(value: str) -> None:
    params: list[tuple[str, Any]] = [
        ("search", value),
        ("isRecursive", True),
        ("desc", False),
        ("itemTypes", ["image", value]),
        ("empty", []),
        ("none", None),
        ("pageSize", 50),
        ("uuid", UUID(F1)),
    ]
    expected = _requests_prepared(params).path_url.split("?", 1)[1]
    assert signing.encode_query(params) == expected


def test_json_body_matches_requests() -> None:
    payload = {
        "name": "n é/%",
        "clientMetadata": json.dumps({"a": 1, "ü": [None, True]}),
        "n": None,
        "f": 1.5,
    }
    assert signing.json_body(payload) == _requests_prepared(json_payload=payload).body


async def test_v2_get_with_special_query_verifies(make_client: Any, ssh_auth: SshKeyAuth) -> None:
    client, rec = make_client(lambda r: ok({"result": []}), clock=lambda: 1_700_000_000.9)
    async with client:
        await client._http.v2(
            "GET",
            "cloud-integrations",
            query=[("search", "a b%/ü"), ("flag", True), ("off", False), ("l", ["x", "y/z"]), ("n", None)],
        )
    request = rec.requests[0]
    assert (
        request.url.raw_path
        == b"/v2/public/cloud-integrations?search=a+b%25%2F%C3%BC&flag=True&off=False&l=x&l=y%2Fz"
    )
    keyid, created = verify_v2(request)
    assert keyid == ssh_auth.key_id
    assert created == 1_700_000_000  # int(now), as SDK 0.1.211 (no back-dating)
    assert request.headers["Content-Digest"] == "sha-256=:47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=:"
    assert "Content-Type" not in request.headers


async def test_v2_post_body_verifies(make_client: Any) -> None:
    client, rec = make_client(lambda r: ok(folder_json()) if r.method == "POST" else ok({"results": []}))
    async with client:
        await client.create_folder(
            "n é/%", description="d", client_metadata={"a": 1, "b": "ü"}, parent=UUID(F1)
        )
    post = rec.requests[-1]
    assert post.method == "POST"
    verify_v2(post)
    assert post.headers["Content-Type"] == "application/json"
    assert post.content == (
        b'{"name": "n \\u00e9/%", "description": "d", "parent": "' + F1.encode() + b'", '
        b'"clientMetadata": "{\\"a\\": 1, \\"b\\": \\"\\\\u00fc\\"}"}'
    )


async def test_every_attempt_is_signed_afresh_with_a_new_trace_id(make_client: Any) -> None:
    responses = iter([ok({"message": "busy"}, 503), ok(item_json())])
    client, rec = make_client(lambda r: next(responses))
    async with client:
        await client.update_item(UUID(F1), UUID(I1), client_metadata={"k": [1, None]})
    assert len(rec.requests) == 2
    for request in rec.requests:
        verify_v2(request)
    traces = [r.headers["X-Cloud-Trace-Context"] for r in rec.requests]
    assert traces[0] != traces[1]
    assert all(len(t.split("/")[0]) == 32 and t.endswith("/1;o=1") for t in traces)


async def test_user_agent_names_reconciler_and_httpx(make_client: Any) -> None:
    client, rec = make_client(lambda r: ok(None))
    async with client:
        await client.get_metadata_schema()
    assert rec.requests[0].headers["User-Agent"].startswith("reconciler/")
    assert f"httpx/{httpx.__version__}" in rec.requests[0].headers["User-Agent"]


async def test_v1_authorization_verifies(make_client: Any, ssh_auth: SshKeyAuth) -> None:
    row = {"data_hash": "dh", "data_title": "t", "data_type": "IMAGE"}
    client, rec = make_client(lambda r: ok({"status": 200, "response": [row]}))
    async with client:
        rows = await client.link_items("d-hash", [UUID(I1)])
    assert rows[0].data_hash == "dh"
    request = rec.requests[0]
    assert request.url.raw_path == b"/public"
    assert verify_v1(request) == ssh_auth.key_id
    assert request.headers["ResourceType"] == "dataset"
    assert request.headers["ResourceID"] == "d-hash"
    assert request.headers["Content-Type"] == "application/json"
    assert request.headers["Accept"] == "application/json"
    assert request.content == (
        b'{"query_type": "datasetlinkitems", "query_method": "POST", "values": {"uid": "d-hash", '
        b'"payload": {"item_uuids": ["' + I1.encode() + b'"], "duplicates_behavior": "SKIP"}}}'
    )


async def test_bearer_mode_sends_no_signature_headers(make_client: Any, bearer_auth: Any) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/public":
            return ok({"status": 200, "response": None})
        return ok(folder_json())

    client, rec = make_client(handler, auth=bearer_auth)
    async with client:
        await client.update_folder(UUID(F1), name="x")
        await client.remove_data("d", ["h"])
    for request in rec.requests:
        assert request.headers["Authorization"] == f"Bearer {BEARER}"
        for name in ("Content-Digest", "Signature-Input", "Signature"):
            assert name not in request.headers


@pytest.mark.parametrize(
    "domain", ["https://api.encord.com", "https://api.us.encord.com/", "http://127.0.0.1:8765"]
)
async def test_domains_build_v2_and_v1_urls(domain: str, ssh_auth: SshKeyAuth) -> None:
    from reconciler.encord.client import EncordClient

    seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(str(request.url))
        if request.url.path == "/public":
            return ok({"status": 200, "response": None})
        return ok(None)

    async with EncordClient(domain, ssh_auth, transport=httpx.MockTransport(handler)) as client:
        await client.get_metadata_schema()
        await client.remove_data("d", ["h"])
    base = domain.rstrip("/")
    assert seen == [f"{base}/v2/public/organisation/client-metadata-schema-v2", f"{base}/public"]


async def test_bad_domain_is_refused(ssh_auth: SshKeyAuth) -> None:
    from reconciler.encord.client import EncordClient
    from reconciler.errors import EncordError

    with pytest.raises(EncordError):
        EncordClient("api.encord.com", ssh_auth)
