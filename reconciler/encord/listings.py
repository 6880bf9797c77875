"""Which item listings serve the folders whose items a plan needs, chosen by expected pages.

The folder tree is known before any item listing starts. Each needed folder is served either by its own
listing or by a recursive listing at an ancestor (or itself), whose items are attributed by `parent`; the
items of folders nobody needs arrive too and are dropped. So, bottom-up over the tree, each folder takes
the cheaper of

* one recursive listing of its whole subtree: `pages(items of every folder in it)`, or
* its own listing if it is needed (`pages(its items)`, else nothing) plus the best of each child,

where `pages(n) = max(1, n / page size + 1/2)`: the item counts are a guess, so a listing's last page counts
as half full on average instead of rounding the guess up as if it were exact (rounding up made ten
one-page children look cheaper than their parent's eleven pages, which were ten full ones in truth).

A subtree whose every folder is needed is listed recursively whatever the guess (it can never cost more
pages than its parts); otherwise a tie goes to the split (no item is read that nobody needs, and single
listings run side by side where a recursive one is one chain of pages). A subtree that holds a managed
folder is never listed recursively: those folders are read whole, with metadata, by their own listing,
and are where a workspace's bulk lives.

Encord's folders carry no item counts, so `expected` guesses them (`EXPECTED_ITEMS_PER_FOLDER` unless the
caller knows better); a wrong guess costs pages, never correctness.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Collection

from reconciler.defaults import EXPECTED_ITEMS_PER_FOLDER

Listing = tuple[str, bool]  # (folder path, recursive)


def choose_listings(
    known: Collection[str],
    needed: Collection[str],
    managed: Collection[str],
    page_size: int,
    expected: Callable[[str], float] = lambda _path: EXPECTED_ITEMS_PER_FOLDER,
) -> list[Listing]:
    """The listings with the fewest expected pages that together return every needed folder's items."""
    if not needed:
        return []
    children: dict[str, list[str]] = defaultdict(list)
    roots: list[str] = []
    for path in known:
        parent, _, _ = path.rpartition("/")
        (children[parent] if parent else roots).append(path)

    def pages(items: float) -> float:
        return max(1.0, items / page_size + 0.5)

    needed_set, managed_set = set(needed), set(managed)
    # subtree totals, bottom-up: deepest paths first
    order = sorted(known, key=lambda p: p.count("/"), reverse=True)
    items: dict[str, float] = {}
    blocked: dict[str, bool] = {}
    wanted: dict[str, bool] = {}  # some needed folder is in the subtree
    whole: dict[str, bool] = {}  # every folder in the subtree is needed
    best: dict[str, tuple[float, list[Listing]]] = {}
    for path in order:
        kids = children.get(path, ())
        items[path] = expected(path) + sum(items[k] for k in kids)
        blocked[path] = path in managed_set or any(blocked[k] for k in kids)
        wanted[path] = path in needed_set or any(wanted[k] for k in kids)
        whole[path] = path in needed_set and all(whole[k] for k in kids)
        if not wanted[path]:
            continue
        cost, chosen = (pages(expected(path)), [(path, False)]) if path in needed_set else (0.0, [])
        for kid in sorted(kids):
            if wanted[kid]:
                cost += best[kid][0]
                chosen += best[kid][1]
        recursive = pages(items[path])
        if kids and not blocked[path] and (whole[path] or recursive < cost - 1e-9):
            best[path] = (recursive, [(path, True)])
        else:
            best[path] = (cost, chosen)
    listings: list[Listing] = []
    for root in sorted(roots):
        if wanted[root]:
            listings += best[root][1]
    return listings
