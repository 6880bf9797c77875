"""Listing against fake-gcs-server, which pages like GCS does (gcp-storage-emulator never pages)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import closing

import pytest
from google.cloud import storage

from benchmarks.latency_proxy import ProxyOptions, ProxyThread
from reconciler.gcs import GcsBucketNotFoundError, iter_objects, storage_client
from reconciler.gcs.listing import iter_objects_parallel

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


@pytest.mark.parametrize("workers", [1, 4, 16])
@pytest.mark.parametrize("page_size", [1000, 137])
def test_parallel_listing_yields_every_name_once_in_name_order(
    fake_gcs: FakeGcs, fake_client: storage.Client, workers: int, page_size: int
) -> None:
    sequential = [
        i.name for page in iter_objects(fake_client, fake_gcs.bucket, fake_gcs.prefix) for i in page
    ]
    pages = list(
        iter_objects_parallel(
            fake_client, fake_gcs.bucket, fake_gcs.prefix, workers=workers, page_size=page_size
        )
    )
    names = [info.name for page in pages for info in page]
    assert names == sequential
    assert all(page for page in pages)
    assert {info.size for page in pages for info in page} == {1}


def test_parallel_listing_of_the_whole_bucket_and_of_a_small_prefix(
    fake_gcs: FakeGcs, fake_client: storage.Client
) -> None:
    everything = [i.name for page in iter_objects_parallel(fake_client, fake_gcs.bucket, "") for i in page]
    assert len(everything) == fake_gcs.under_prefix + len(fake_gcs.other)
    assert everything == sorted(everything)
    other = [i.name for page in iter_objects_parallel(fake_client, fake_gcs.bucket, "other/") for i in page]
    assert other == ["other/a.txt", "other/b.txt"]
    assert list(iter_objects_parallel(fake_client, fake_gcs.bucket, "nothing-here/")) == []


def test_parallel_listing_keeps_few_pages_waiting_for_a_slow_consumer(
    fake_gcs: FakeGcs, fake_client: storage.Client
) -> None:
    listing = iter_objects_parallel(
        fake_client, fake_gcs.bucket, fake_gcs.prefix, workers=8, page_size=100, buffered_pages=3
    )
    first = next(listing)
    listing.close()  # the consumer stops early: the workers are let go
    assert first[0].name == f"{fake_gcs.prefix}img-00000.jpg"


def test_parallel_listing_on_a_missing_bucket(fake_client: storage.Client) -> None:
    with pytest.raises(GcsBucketNotFoundError):
        list(iter_objects_parallel(fake_client, "no-such-bucket", ""))


def test_parallel_listing_through_faults_lists_every_name_once(fake_gcs: FakeGcs) -> None:
    """10% of requests answered 503 or 429 and 3% of connections reset (half after fake-gcs-server
    answered): the library's retries absorb them, and no range is lost or listed twice."""
    host, port = fake_gcs.url.removeprefix("http://").rsplit(":", 1)
    options = ProxyOptions(host, int(port), latency_ms=0, error_rate=0.10, reset_rate=0.03, seed=16)
    with ProxyThread(options) as proxy, closing(storage_client(proxy.url)) as client:
        pages = list(iter_objects_parallel(client, fake_gcs.bucket, fake_gcs.prefix, page_size=250))
        faults = proxy.stats.faults
    names = [info.name for page in pages for info in page]
    assert names == [f"{fake_gcs.prefix}img-{i:05d}.jpg" for i in range(fake_gcs.under_prefix)]
    assert faults >= 3  # the seed does meet faults
