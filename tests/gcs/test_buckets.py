"""CORS, IAM and listing against gcp-storage-emulator, through the same HTTP as real GCS."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
import requests
from google.api_core.client_options import ClientOptions
from google.auth.credentials import AnonymousCredentials
from google.cloud import storage

from reconciler.config.sources import CorsRule
from reconciler.gcs import (
    GcsBucketNotFoundError,
    GcsConflictError,
    ObjectInfo,
    add_iam_member,
    iter_objects,
    read_cors,
    read_iam_bindings,
    remove_iam_member,
    write_cors,
)
from reconciler.gcs.emulator import EmulatorServer

from .conftest import BUCKET

VIEWER = "roles/storage.objectViewer"
ADMIN = "roles/storage.admin"
ENCORD = "serviceAccount:encord@p.iam.gserviceaccount.com"
ALICE = "user:alice@example.com"
BOB = "user:bob@example.com"


def test_cors_round_trip_keeps_rules_and_order(client: storage.Client) -> None:
    rules = [
        {
            "origins": ["https://b.example", "https://a.example"],
            "methods": ["GET", "HEAD"],
            "response_headers": ["Content-Type", "Range"],
            "max_age_seconds": 600,
        },
        {"origins": ["*"], "methods": ["GET"], "response_headers": [], "max_age_seconds": 0},
    ]
    write_cors(client, BUCKET, rules)
    assert read_cors(client, BUCKET) == rules


def test_cors_from_the_config_model_reads_back_equal(client: storage.Client) -> None:
    rule = CorsRule().model_dump()
    write_cors(client, BUCKET, [rule])
    assert read_cors(client, BUCKET) == [rule]


def test_write_cors_replaces_everything_and_empty_clears(client: storage.Client) -> None:
    write_cors(client, BUCKET, [{"origins": ["*"], "methods": ["GET"]}] * 2)
    write_cors(client, BUCKET, [{"origins": ["https://x.example"], "methods": ["PUT"]}])
    assert [r["origins"] for r in read_cors(client, BUCKET)] == [["https://x.example"]]
    write_cors(client, BUCKET, [])
    assert read_cors(client, BUCKET) == []


def test_cors_fields_gcs_leaves_out_read_as_empty(client: storage.Client) -> None:
    bucket = client.bucket(BUCKET)
    bucket.cors = [{"origin": ["*"]}]
    bucket.patch()
    assert read_cors(client, BUCKET) == [
        {"origins": ["*"], "methods": [], "response_headers": [], "max_age_seconds": 0}
    ]


def test_write_cors_rejects_unknown_keys(client: storage.Client) -> None:
    with pytest.raises(ValueError, match="origin"):
        write_cors(client, BUCKET, [{"origin": ["*"]}])


def test_new_bucket_has_no_cors_and_no_bindings(client: storage.Client) -> None:
    assert read_cors(client, BUCKET) == []
    assert read_iam_bindings(client, BUCKET) == {}


def test_iam_add_and_remove_touch_only_that_member(client: storage.Client) -> None:
    add_iam_member(client, BUCKET, VIEWER, BOB)
    add_iam_member(client, BUCKET, ADMIN, ALICE)
    add_iam_member(client, BUCKET, VIEWER, ENCORD)
    assert read_iam_bindings(client, BUCKET) == {ADMIN: [ALICE], VIEWER: [ENCORD, BOB]}

    remove_iam_member(client, BUCKET, VIEWER, ENCORD)
    assert read_iam_bindings(client, BUCKET) == {ADMIN: [ALICE], VIEWER: [BOB]}
    remove_iam_member(client, BUCKET, ADMIN, ALICE)
    assert read_iam_bindings(client, BUCKET) == {VIEWER: [BOB]}


def test_iam_edits_are_idempotent_and_write_nothing_when_done(client: storage.Client) -> None:
    add_iam_member(client, BUCKET, VIEWER, ENCORD)
    etag = client.bucket(BUCKET).get_iam_policy().etag
    add_iam_member(client, BUCKET, VIEWER, ENCORD)
    remove_iam_member(client, BUCKET, ADMIN, ENCORD)
    assert client.bucket(BUCKET).get_iam_policy().etag == etag
    assert read_iam_bindings(client, BUCKET) == {VIEWER: [ENCORD]}


def test_conditional_bindings_are_not_read_as_grants(client: storage.Client) -> None:
    bucket = client.bucket(BUCKET)
    policy = bucket.get_iam_policy(requested_policy_version=3)
    policy.version = 3
    condition = {"title": "t", "expression": 'resource.name.startsWith("x")'}
    policy.bindings.append({"role": VIEWER, "members": {ALICE}, "condition": condition})
    bucket.set_iam_policy(policy)

    add_iam_member(client, BUCKET, VIEWER, ALICE)
    assert read_iam_bindings(client, BUCKET) == {VIEWER: [ALICE]}
    remove_iam_member(client, BUCKET, VIEWER, ALICE)
    assert read_iam_bindings(client, BUCKET) == {}
    kept = bucket.get_iam_policy(requested_policy_version=3).bindings
    assert [b.get("condition") for b in kept] == [condition]


def test_emulator_refuses_a_stale_iam_etag(client: storage.Client) -> None:
    bucket = client.bucket(BUCKET)
    first, second = bucket.get_iam_policy(), bucket.get_iam_policy()
    first.bindings.append({"role": VIEWER, "members": {ALICE}})
    bucket.set_iam_policy(first)
    second.bindings.append({"role": VIEWER, "members": {BOB}})
    with pytest.raises(Exception, match="412"):
        bucket.set_iam_policy(second)


@pytest.fixture
def racing_client(
    emulator: EmulatorServer, client: storage.Client
) -> Iterator[Callable[[int], storage.Client]]:
    """A client whose first `races` IAM policy reads are each followed by another writer's edit."""
    sessions: list[requests.Session] = []

    def make(races: int) -> storage.Client:
        raced: list[str] = []

        def after_response(response: requests.Response, *args: Any, **kwargs: Any) -> None:
            request = response.request
            is_iam_read = request.method == "GET" and request.path_url.split("?")[0].endswith("/iam")
            if is_iam_read and len(raced) < races:
                raced.append(f"user:racer{len(raced)}@example.com")
                add_iam_member(client, BUCKET, ADMIN, raced[-1])

        session = requests.Session()
        session.hooks["response"].append(after_response)
        sessions.append(session)
        return storage.Client(
            project="reconciler-sandbox",
            credentials=AnonymousCredentials(),
            client_options=ClientOptions(api_endpoint=emulator.url),
            _http=session,
        )

    yield make
    for session in sessions:
        session.close()


def test_iam_edit_retries_once_when_the_policy_changed_meanwhile(
    client: storage.Client, racing_client: Callable[[int], storage.Client]
) -> None:
    add_iam_member(racing_client(1), BUCKET, VIEWER, ENCORD)
    assert read_iam_bindings(client, BUCKET) == {ADMIN: ["user:racer0@example.com"], VIEWER: [ENCORD]}


def test_iam_edit_gives_up_after_a_second_conflict(
    client: storage.Client, racing_client: Callable[[int], storage.Client]
) -> None:
    with pytest.raises(GcsConflictError) as caught:
        add_iam_member(racing_client(2), BUCKET, VIEWER, ENCORD)
    assert caught.value.bucket == BUCKET
    assert "\n" not in str(caught.value)
    assert ENCORD not in read_iam_bindings(client, BUCKET).get(VIEWER, [])


@pytest.mark.parametrize(
    "call",
    [
        lambda c: read_cors(c, "no-such-bucket"),
        lambda c: write_cors(c, "no-such-bucket", []),
        lambda c: read_iam_bindings(c, "no-such-bucket"),
        lambda c: add_iam_member(c, "no-such-bucket", VIEWER, ENCORD),
        lambda c: remove_iam_member(c, "no-such-bucket", VIEWER, ENCORD),
        lambda c: list(iter_objects(c, "no-such-bucket", "")),
    ],
    ids=["read_cors", "write_cors", "read_iam", "add_member", "remove_member", "iter_objects"],
)
def test_missing_bucket_is_a_gcs_error_naming_it(
    client: storage.Client, call: Callable[[storage.Client], object]
) -> None:
    with pytest.raises(GcsBucketNotFoundError, match=r"^bucket 'no-such-bucket' does not exist \(or"):
        call(client)


def test_iter_objects_filters_by_prefix_and_reports_size_and_type(client: storage.Client) -> None:
    bucket = client.bucket(BUCKET)
    bucket.blob("img/a.jpg").upload_from_string(b"abc", content_type="image/jpeg")
    bucket.blob("img/sub/b.png").upload_from_string(b"abcd", content_type="image/png")
    bucket.blob("img-old/c.jpg").upload_from_string(b"x", content_type="image/jpeg")
    pages = list(iter_objects(client, BUCKET, "img/"))
    assert pages == [
        [
            ObjectInfo(name="img/a.jpg", size=3, content_type="image/jpeg"),
            ObjectInfo(name="img/sub/b.png", size=4, content_type="image/png"),
        ]
    ]
    assert sum(len(page) for page in iter_objects(client, BUCKET, "")) == 3
    assert list(iter_objects(client, BUCKET, "nothing/")) == []


def test_a_shared_client_serves_calls_from_many_threads(client: storage.Client) -> None:
    write_cors(client, BUCKET, [{"origins": ["*"], "methods": ["GET"]}])
    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(lambda _: read_cors(client, BUCKET), range(32)))
    assert all(r == results[0] for r in results)
