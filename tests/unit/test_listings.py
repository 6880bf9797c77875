"""The cost rule that picks item listings: fewest expected pages, ties to single listings."""

from __future__ import annotations

from reconciler.encord.listings import choose_listings


def tree(roots: int, mids: int, leaves: int) -> list[str]:
    paths = []
    for r in range(roots):
        paths.append(f"r{r}")
        for m in range(mids):
            paths.append(f"r{r}/m{m}")
            paths += [f"r{r}/m{m}/l{leaf}" for leaf in range(leaves)]
    return paths


def test_leaves_named_under_an_unneeded_parent_share_one_recursive_listing() -> None:
    known = tree(1, 2, 10)
    needed = [f"r0/m0/l{i}" for i in range(9)]  # nine of ten leaves; the parent itself is not named
    assert choose_listings(known, needed, (), page_size=1000) == [("r0/m0", True)]


def test_a_few_folders_of_a_large_tree_are_listed_alone() -> None:
    known = tree(1, 10, 10)
    needed = ["r0/m0/l0", "r0/m7/l3"]
    assert choose_listings(known, needed, (), page_size=1000) == [("r0/m0/l0", False), ("r0/m7/l3", False)]


def test_a_tie_goes_to_single_listings() -> None:
    # one needed leaf of a two-folder subtree: one page either way, and the single reads nothing extra
    assert choose_listings(["a", "a/x"], ["a/x"], (), page_size=1000) == [("a/x", False)]


def test_the_rule_climbs_as_far_as_it_pays() -> None:
    known = tree(2, 10, 10)
    needed = [p for p in known if p.startswith("r0/") and p.count("/") == 2]  # every leaf of r0
    assert choose_listings(known, needed, (), page_size=1000) == [("r0", True)]


def test_small_pages_make_wide_listings_dearer() -> None:
    known = tree(1, 2, 10)
    needed = [f"r0/m0/l{i}" for i in range(5)]
    # at 100 items a page a recursive listing of r0/m0 costs 11 pages, five singles cost five
    assert choose_listings(known, needed, (), page_size=100) == [(f"r0/m0/l{i}", False) for i in range(5)]


def test_a_managed_folder_is_never_inside_a_recursive_listing() -> None:
    known = tree(1, 1, 10)
    needed = [f"r0/m0/l{i}" for i in range(1, 10)]
    listings = choose_listings(known, needed, ["r0/m0/l0"], page_size=1000)
    assert listings == [(p, False) for p in sorted(needed)]


def test_a_guess_of_large_folders_keeps_listings_single() -> None:
    known = tree(1, 1, 10)
    needed = [f"r0/m0/l{i}" for i in range(9)]
    listings = choose_listings(known, needed, (), page_size=1000, expected=lambda _p: 5000)
    assert listings == [(p, False) for p in sorted(needed)]


def test_nothing_needed_lists_nothing() -> None:
    assert choose_listings(tree(1, 1, 1), [], (), page_size=1000) == []


def test_a_whole_needed_subtree_is_one_listing_whatever_the_guess() -> None:
    known = tree(1, 2, 3)
    listings = choose_listings(known, known, (), page_size=10, expected=lambda _p: 10_000)
    assert listings == [("r0", True)]


def test_a_parent_over_many_partly_needed_children_is_one_listing() -> None:
    # each child: itself and 9 leaves, 1,000 items guessed, about 1.5 pages listed alone; the parent's 101
    # folders are about 10.6 pages in one listing, fewer than ten children's last pages half empty
    known = tree(1, 10, 9)
    needed = [p for p in known if p.count("/") == 2 and not p.endswith("/l8")]
    assert choose_listings(known, needed, (), page_size=1000) == [("r0", True)]
