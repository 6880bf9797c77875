"""The GCS lease against fake-gcs-server: take, refuse, take over an expired lease, renew, lose, release."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import pytest
from google.cloud import storage

from reconciler.gcs.errors import GcsError
from reconciler.gcs.objects import read_object, write_object
from reconciler.lock import (
    Lease,
    LeaseInfo,
    LeaseLostError,
    LockError,
    LockHeldError,
    OwnerInfo,
    acquire,
    release,
    status,
)
from reconciler.lock import gcs as lock_gcs
from tests.lock.conftest import BUCKET, plant_expired, start_fake_gcs, stop

ALICE = OwnerInfo(owner="alice", host="ci-1", pid=101, ci_url="https://github.com/acme/data/actions/runs/11")
BOB = OwnerInfo(owner="bob", host="ci-2", pid=202)


def _name(location: str) -> str:
    return location.removeprefix(f"gs://{BUCKET}/")


def _stored(gcs: storage.Client, location: str) -> tuple[dict[str, object], int] | None:
    found = read_object(gcs, BUCKET, _name(location))
    return (json.loads(found.data), found.generation) if found else None


def _wait_until(condition: Callable[[], bool], timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return False


def test_acquire_writes_the_holder_and_release_removes_it(
    fake_gcs: str, gcs: storage.Client, location: str
) -> None:
    with acquire(location, owner_info=ALICE, endpoint=fake_gcs) as lease:
        stored = _stored(gcs, location)
        assert stored is not None
        doc = stored[0]
        assert doc["owner"] == "alice" and doc["host"] == "ci-1" and doc["pid"] == 101
        assert doc["ci_url"] == "https://github.com/acme/data/actions/runs/11"
        assert doc["lease_id"] == lease.info.lease_id
        assert str(doc["started_at"]).endswith("Z") and str(doc["expires_at"]).endswith("Z")
        held = status(location, endpoint=fake_gcs)
        assert held is not None and held.lease_id == lease.info.lease_id and not held.expired()
        assert held.expires_at is not None
        assert timedelta(seconds=299) <= held.expires_at - held.started_at <= timedelta(seconds=301)
        assert not lease.lost
        lease.check()
    assert _stored(gcs, location) is None
    assert status(location, endpoint=fake_gcs) is None


def test_a_second_apply_is_refused_with_the_holder_named(fake_gcs: str, location: str) -> None:
    with acquire(location, owner_info=ALICE, endpoint=fake_gcs) as lease:
        with pytest.raises(LockHeldError) as refused, acquire(location, owner_info=BOB, endpoint=fake_gcs):
            pytest.fail("a second holder got in")
        message = str(refused.value)
        assert "\n" not in message
        for part in ("alice", "host ci-1", "pid 101", "https://github.com/acme/data/actions/runs/11"):
            assert part in message
        assert f"since {lease.info.started_at:%Y-%m-%dT%H:%M}" in message
        assert (
            lease.info.expires_at is not None and f"expires {lease.info.expires_at:%Y-%m-%dT%H:%M}" in message
        )
        assert "reconciler lock release --force" in message
        assert refused.value.holder is not None and refused.value.holder.owner == "alice"


def test_waiting_takes_the_lock_once_it_is_released(fake_gcs: str, location: str) -> None:
    first = acquire(location, owner_info=ALICE, endpoint=fake_gcs)
    first.take()
    threading.Timer(0.5, first.release).start()
    began = time.monotonic()
    with acquire(location, owner_info=BOB, endpoint=fake_gcs, wait=10.0, ttl=10.0) as second:
        assert second.info.owner == "bob"
        assert 0.3 < time.monotonic() - began < 5


def test_an_expired_lease_is_taken_over(fake_gcs: str, gcs: storage.Client, location: str) -> None:
    plant_expired(gcs, location)
    held = status(location, endpoint=fake_gcs)
    assert held is not None and held.expired()
    with acquire(location, owner_info=BOB, endpoint=fake_gcs) as lease:
        stored = _stored(gcs, location)
        assert (
            stored is not None
            and stored[0]["owner"] == "bob"
            and stored[0]["lease_id"] == lease.info.lease_id
        )
    assert status(location, endpoint=fake_gcs) is None


def _race(takers: list[Lease]) -> list[str]:
    """Every taker tries at once (threads past one barrier): "won" or "refused" for each, in order."""
    barrier = threading.Barrier(len(takers))
    outcomes = [""] * len(takers)

    def take(i: int) -> None:
        barrier.wait()
        try:
            takers[i].take()
            outcomes[i] = "won"
        except LockHeldError:
            outcomes[i] = "refused"

    threads = [threading.Thread(target=take, args=(i,)) for i in range(len(takers))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return outcomes


def test_of_several_takers_of_an_expired_lease_exactly_one_wins(
    fake_gcs: str, location: str, gcs: storage.Client
) -> None:
    for _round in range(5):
        plant_expired(gcs, location)
        takers = [
            acquire(location, owner_info=OwnerInfo(f"taker-{i}", "h", i), endpoint=fake_gcs) for i in range(4)
        ]
        outcomes = _race(takers)
        assert sorted(outcomes) == ["refused", "refused", "refused", "won"]
        winners = [t for t, outcome in zip(takers, outcomes, strict=True) if outcome == "won"]
        stored = _stored(gcs, location)
        assert stored is not None and stored[0]["lease_id"] == winners[0].info.lease_id
        winners[0].release()
        assert _stored(gcs, location) is None


def test_the_lease_is_renewed_while_held(fake_gcs: str, gcs: storage.Client, location: str) -> None:
    with acquire(location, owner_info=ALICE, endpoint=fake_gcs, ttl=1.5) as lease:
        first = _stored(gcs, location)
        assert first is not None
        time.sleep(2.5)  # past the first expiry: renewed every 0.5 s
        later = _stored(gcs, location)
        assert later is not None and later[1] != first[1]
        assert later[0]["lease_id"] == first[0]["lease_id"]
        assert str(later[0]["expires_at"]) > str(first[0]["expires_at"])
        assert not lease.lost
        with pytest.raises(LockHeldError), acquire(location, owner_info=BOB, endpoint=fake_gcs):
            pass
    assert _stored(gcs, location) is None


def test_a_lease_taken_over_is_lost_and_not_released(
    fake_gcs: str, gcs: storage.Client, location: str
) -> None:
    reasons: list[str] = []
    with acquire(location, owner_info=ALICE, endpoint=fake_gcs, ttl=1.5, on_lost=reasons.append) as lease:
        assert release(location, force=True, endpoint=fake_gcs) is not None
        bob = acquire(location, owner_info=BOB, endpoint=fake_gcs)
        bob.take()
        assert _wait_until(lambda: lease.lost)
        with pytest.raises(LeaseLostError, match="taken over by bob"):
            lease.check()
        assert len(reasons) == 1 and "bob" in reasons[0]
    stored = _stored(gcs, location)
    assert stored is not None and stored[0]["owner"] == "bob"  # Alice's exit left Bob's lease alone
    bob.release()
    assert _stored(gcs, location) is None


def test_a_lease_deleted_under_its_holder_is_lost(fake_gcs: str, location: str) -> None:
    with acquire(location, owner_info=ALICE, endpoint=fake_gcs, ttl=1.5) as lease:
        release(location, force=True, endpoint=fake_gcs)
        assert _wait_until(lambda: lease.lost)
        assert lease.lost_reason == "its lease object was deleted"
    assert status(location, endpoint=fake_gcs) is None


def test_release_never_deletes_a_lease_that_is_not_ours(
    fake_gcs: str, gcs: storage.Client, location: str
) -> None:
    # A long TTL: no renewal notices the change; the release itself must.
    with acquire(location, owner_info=ALICE, endpoint=fake_gcs) as lease:
        stored = _stored(gcs, location)
        assert stored is not None
        other = LeaseInfo.new(BOB, ttl=300)
        assert (
            write_object(gcs, BUCKET, _name(location), other.to_json(), if_generation_match=stored[1])
            is not None
        )
        assert not lease.lost
    after = _stored(gcs, location)
    assert after is not None and after[0]["lease_id"] == other.lease_id


def test_a_lease_that_cannot_be_renewed_is_lost_once_it_expires(tmp_path: Path) -> None:
    proc, url = start_fake_gcs(tmp_path)
    location = f"gs://{BUCKET}/unreachable.json"
    try:
        with acquire(location, owner_info=ALICE, endpoint=url, ttl=1.5) as lease:
            stop(proc)
            assert _wait_until(lambda: lease.lost, timeout=6)
            assert (
                lease.lost_reason is not None and "could not renew it before it expired" in lease.lost_reason
            )
    finally:
        stop(proc)


def test_release_removes_only_an_expired_lease_without_force(
    fake_gcs: str, gcs: storage.Client, location: str
) -> None:
    with acquire(location, owner_info=ALICE, endpoint=fake_gcs) as lease:
        with pytest.raises(LockHeldError, match="add --force"):
            release(location, endpoint=fake_gcs)
        removed = release(location, force=True, endpoint=fake_gcs)
        assert removed is not None and removed.lease_id == lease.info.lease_id
    assert release(location, endpoint=fake_gcs) is None  # nothing there
    plant_expired(gcs, location)
    removed = release(location, endpoint=fake_gcs)
    assert removed is not None and removed.owner == "crashed"


def test_an_object_that_is_no_lease_blocks_until_removed_by_force(
    fake_gcs: str, gcs: storage.Client, location: str
) -> None:
    write_object(gcs, BUCKET, _name(location), b"not json", if_generation_match=0)
    with pytest.raises(LockError, match=r"not a reconciler lease.*release --force"):
        acquire(location, owner_info=BOB, endpoint=fake_gcs).take()
    with pytest.raises(LockError, match="not a reconciler lease"):
        release(location, endpoint=fake_gcs)
    removed = release(location, force=True, endpoint=fake_gcs)
    assert removed is not None and "unknown holder" in removed.describe()
    assert status(location, endpoint=fake_gcs) is None


def test_a_missing_bucket_is_one_clear_error(fake_gcs: str) -> None:
    with pytest.raises(GcsError, match="bucket 'no-such-bucket' does not exist"):
        acquire("gs://no-such-bucket/lock.json", owner_info=ALICE, endpoint=fake_gcs).take()


@pytest.mark.parametrize("bad", ["gs://bucket-only", "gs://b/dir/", "gs:///x"])
def test_a_malformed_location_is_refused_at_once(bad: str) -> None:
    with pytest.raises(GcsError, match="not a GCS object location"):
        acquire(bad, owner_info=ALICE)


async def test_async_with_takes_and_releases_in_a_worker_thread(fake_gcs: str, location: str) -> None:
    async with acquire(location, owner_info=ALICE, endpoint=fake_gcs) as lease:
        held = status(location, endpoint=fake_gcs)
        assert held is not None and held.lease_id == lease.info.lease_id
    assert status(location, endpoint=fake_gcs) is None


def test_a_live_holder_on_this_host_is_never_force_released(fake_gcs: str, location: str) -> None:
    with acquire(location, owner_info=OwnerInfo.current(), endpoint=fake_gcs) as lease:
        with pytest.raises(LockHeldError, match="a process that is running on this host"):
            release(location, force=True, endpoint=fake_gcs)
        lease.confirm()  # still ours


def test_before_a_write_the_lease_is_read_back_once_it_was_last_seen_a_while_ago(
    fake_gcs: str, location: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    with acquire(location, owner_info=ALICE, endpoint=fake_gcs) as lease:  # renewed only every 100 s
        assert release(location, force=True, endpoint=fake_gcs) is not None
        lease.confirm()  # seen ours a moment ago: no read, no loss yet
        monkeypatch.setattr(lock_gcs, "CONFIRM_AFTER_SECONDS", 0.0)
        assert lease.needs_confirming()
        with pytest.raises(LeaseLostError, match="its lease object was deleted"):
            lease.confirm()
        with pytest.raises(LeaseLostError):
            asyncio.run(lease.guard())


def test_a_run_that_stalled_past_its_expiry_stops_before_its_next_write(
    fake_gcs: str, location: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    with acquire(location, owner_info=ALICE, endpoint=fake_gcs, ttl=1.5) as lease:
        monkeypatch.setattr(lease, "_renew_once", lambda: None)  # the runner stalls: no renewal
        time.sleep(1.6)
        with pytest.raises(LeaseLostError, match="expired before it was renewed"):
            lease.confirm()
