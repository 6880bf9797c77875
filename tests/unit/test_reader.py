"""The read path's pure parts: building the tree from parent UUIDs, choosing listings, the priority gate."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime
from uuid import UUID

from reconciler.encord.reader import CHAINS, SINGLES, Gate, build_tree, listing_plan
from reconciler.encord.wire import WireFolder
from reconciler.live import LiveFolder


def folder(name: str, parent: UUID | None = None, **extra: object) -> WireFolder:
    return WireFolder.model_validate({"uuid": str(uuid.uuid4()), "parent": parent, "name": name, **extra})


def test_paths_are_built_from_parents_in_any_order() -> None:
    root = folder("raw")
    cams = folder("cams", root.uuid)
    front = folder("front", cams.uuid)
    tree = build_tree([front, cams, root], [])
    assert list(tree) == ["raw", "raw/cams", "raw/cams/front"]
    assert tree["raw/cams/front"].parent_uuid == str(cams.uuid)


def test_a_slash_in_a_name_stays_one_segment() -> None:
    root = folder("raw")
    slashed = folder("raw/cams")
    nested = folder("cams", root.uuid)
    tree = build_tree([slashed, nested, root], [])
    assert set(tree) == {"raw", "raw/cams", "raw%2Fcams"}
    assert tree["raw%2Fcams"].uuid == str(slashed.uuid)


def test_a_duplicate_path_keeps_the_first_and_leaves_the_others_subtree_out() -> None:
    old = folder("raw", created_at=datetime(2024, 1, 1, tzinfo=UTC))
    new = folder("raw", created_at=datetime(2025, 1, 1, tzinfo=UTC))
    only_in_new = folder("extra", new.uuid)
    problems: list[str] = []
    tree = build_tree([new, only_in_new, old], problems)
    assert set(tree) == {"raw"} and tree["raw"].uuid == str(old.uuid)
    assert problems == ["two live folders have the path 'raw'; rename one in Encord"]


def test_mirror_folders_and_orphans_are_not_part_of_the_tree() -> None:
    mirror = folder("mirror", syncedDatasetHash=str(uuid.uuid4()))
    below_mirror = folder("inside", mirror.uuid)
    orphan = folder("orphan", uuid.uuid4())  # its parent is not visible to us
    assert build_tree([mirror, below_mirror, orphan], []) == {}


def live(*paths: str) -> dict[str, LiveFolder]:
    return {
        p: LiveFolder(
            uuid=str(uuid.uuid4()), path=p, parent_uuid=None, name=p, description="", client_metadata={}
        )
        for p in paths
    }


TREE = live("a", "a/x", "a/x/1", "a/y", "b", "b/z", "c")


def test_a_whole_subtree_is_one_recursive_listing() -> None:
    needed, listings = listing_plan(TREE, [("a", True)], ())
    assert needed == {"a", "a/x", "a/x/1", "a/y"}
    assert listings == [("a", True)]


def test_a_folder_alone_is_its_own_listing() -> None:
    assert listing_plan(TREE, [("a", False), ("c", True)], ())[1] == [("a", False), ("c", False)]


def test_a_subtree_with_a_hole_is_split_down_to_whole_subtrees() -> None:
    # a/x is managed (its items are read with the folder's data): the rest of a's subtree is listed around it
    needed, listings = listing_plan(TREE, [("a", True)], ["a/x"])
    assert needed == {"a", "a/x/1", "a/y"}
    assert listings == [("a", False), ("a/x/1", False), ("a/y", False)]


def test_unknown_folders_need_nothing() -> None:
    assert listing_plan(TREE, [("nope", True)], ()) == (set(), [])


async def test_the_gate_serves_chains_before_singles_and_never_exceeds_its_limit() -> None:
    gate = Gate(2)
    order: list[str] = []
    holding = 0
    peak = 0
    release = asyncio.Event()

    async def hold(name: str, priority: int) -> None:
        nonlocal holding, peak
        async with gate.hold(priority):
            holding += 1
            peak = max(peak, holding)
            order.append(name)
            await release.wait()
            holding -= 1

    first = [asyncio.create_task(hold(f"first{n}", SINGLES)) for n in range(2)]
    await asyncio.sleep(0)
    waiting = [asyncio.create_task(hold("single", SINGLES)), asyncio.create_task(hold("chain", CHAINS))]
    await asyncio.sleep(0)
    release.set()
    await asyncio.gather(*first, *waiting)
    assert order == ["first0", "first1", "chain", "single"]
    assert peak == 2


async def test_a_cancelled_waiter_gives_its_place_to_the_next() -> None:
    gate = Gate(1)
    release = asyncio.Event()
    done: list[str] = []

    async def hold(name: str) -> None:
        async with gate.hold(SINGLES):
            await release.wait()
            done.append(name)

    holder = asyncio.create_task(hold("holder"))
    await asyncio.sleep(0)
    cancelled = asyncio.create_task(hold("cancelled"))
    after = asyncio.create_task(hold("after"))
    await asyncio.sleep(0)
    cancelled.cancel()
    release.set()
    await asyncio.gather(holder, after)
    assert done == ["holder", "after"]


async def test_a_gate_slot_is_a_semaphore_many_tasks_can_share() -> None:
    gate = Gate(3)
    slot = gate.slot(CHAINS)
    holding = peak = 0

    async def work() -> None:
        nonlocal holding, peak
        async with slot:
            holding += 1
            peak = max(peak, holding)
            await asyncio.sleep(0.001)
            holding -= 1

    await asyncio.gather(*(work() for _ in range(20)))
    assert peak == 3 and holding == 0
    async with gate.hold(SINGLES):  # every place was given back
        pass
