"""Listing against fake-gcs-server, which pages like GCS does (gcp-storage-emulator never pages)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import closing

import pytest
from google.cloud import storage

from reconciler.gcs import GcsBucketNotFoundError, iter_objects, storage_client

from .conftest import FakeGcs


@pytest.fixture
def fake_client(fake_gcs: FakeGcs) -> Iterator[storage.Client]:
    with closing(storage_client(fake_gcs.url)) as client:
        yield client


def test_listing_follows_page_tokens_past_ten_thousand(
    fake_gcs: FakeGcs, fake_client: storage.Client
) -> None:
    pages = list(iter_objects(fake_client, fake_gcs.bucket, fake_gcs.prefix, page_size=1000))
    names = [info.name for page in pages for info in page]
    assert len(pages) > 1
    assert max(len(page) for page in pages) <= 1000
    assert len(names) == len(set(names)) == fake_gcs.under_prefix
    assert all(name.startswith(fake_gcs.prefix) for name in names)
    assert {info.size for page in pages for info in page} == {1}


def test_prefix_selects_only_names_that_start_with_it(fake_gcs: FakeGcs, fake_client: storage.Client) -> None:
    other = [i.name for page in iter_objects(fake_client, fake_gcs.bucket, "other/") for i in page]
    assert other == ["other/a.txt", "other/b.txt"]
    # "photos/" leaves out "photos-old.txt"; an empty prefix lists the whole bucket.
    everything = [
        i.name for page in iter_objects(fake_client, fake_gcs.bucket, "", page_size=5000) for i in page
    ]
    assert len(everything) == fake_gcs.under_prefix + len(fake_gcs.other)
    assert set(fake_gcs.other) <= set(everything)


def test_missing_bucket_on_fake_gcs(fake_client: storage.Client) -> None:
    with pytest.raises(GcsBucketNotFoundError):
        list(iter_objects(fake_client, "no-such-bucket", ""))
