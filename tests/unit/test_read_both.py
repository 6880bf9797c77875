"""The plan reads Encord and lists buckets at once (engine._read_both): when one fails the other stops
at once, a listing thread included, and a mistake in the config is reported before a network error."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

import pytest

from reconciler import engine
from reconciler.errors import ConfigError


class EncordDown(Exception):
    pass


class SlowBucket:
    def __init__(self) -> None:
        self.pages = 0

    def list_objects(self, bucket: str, prefix: str) -> Iterator[list[str]]:
        for i in range(50):
            time.sleep(0.05)  # 2.5 s of listing in all
            self.pages += 1
            yield [f"p/{i}.jpg"]


def run(
    monkeypatch: pytest.MonkeyPatch, read: Any, load_buckets: Any, gcs: Any
) -> tuple[BaseException, float]:
    monkeypatch.setattr(engine, "load_files", lambda config: SimpleNamespace(has_buckets=True))
    monkeypatch.setattr(engine, "read_scope", lambda *a, **k: None)
    monkeypatch.setattr(engine, "read_live", read)
    monkeypatch.setattr(engine, "load_buckets", load_buckets)
    start = time.monotonic()
    with pytest.raises(Exception) as raised:
        asyncio.run(engine.compute(SimpleNamespace(), None, SimpleNamespace(kind="encord"), gcs=gcs))  # type: ignore[arg-type]
    return raised.value, time.monotonic() - start


def consume(config: Any, data: Any, lister: Any) -> None:
    for _page in lister("b", "p/"):
        pass
    raise ConfigError(["b.yaml:3: a problem found once the whole listing is read"])


def test_an_encord_failure_stops_the_listing_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    async def failing(client: Any, scope: Any, concurrency: int) -> None:
        await asyncio.sleep(0.05)
        raise EncordDown("401 from Encord")

    bucket = SlowBucket()
    error, took = run(monkeypatch, failing, consume, bucket)
    assert isinstance(error, EncordDown) and took < 1.0
    assert bucket.pages < 10


def test_a_config_mistake_found_by_the_listing_comes_first(monkeypatch: pytest.MonkeyPatch) -> None:
    async def slow_read(client: Any, scope: Any, concurrency: int) -> None:
        await asyncio.sleep(30)

    def bad_listing(config: Any, data: Any, lister: Any) -> None:
        raise ConfigError(["r.yaml:7: folders.raw.data[0]: the listing is in bucket 'x'"])

    error, took = run(monkeypatch, slow_read, bad_listing, SlowBucket())
    assert isinstance(error, ConfigError) and took < 1.0  # the read was cancelled, not awaited
