"""``Listing`` on its own (not through the command): shrinking a failing page, and stopping."""

from __future__ import annotations

import pytest

from sync.services.paging import MAX_FAILED_PAGES_IN_A_ROW, IdSet, Listing
from sync.services.results import SyncStats
from sync.woocommerce.client import WooCommerceClient

ANY_STATUS = {"status": "any"}


def listing_client() -> WooCommerceClient:
    # No retries: every failure reaches the listing at once.
    return WooCommerceClient.from_settings(max_retries=0, timeout=5.0)


def store_ids(server) -> list[int]:
    # status=any is every status but the trash, as in WooCommerce
    return sorted(pid for pid, product in server.catalog.products.items() if product["status"] != "trash")


def test_a_page_the_store_cannot_serve_whole_is_read_again_in_smaller_pieces(make_sandbox):
    # given a store whose proxy answers 504 to any page of more than 20 products
    server = make_sandbox(products=120, variable_share=0.0, seed=61, page_limit=20)
    stats = SyncStats()

    with listing_client() as client:
        listing = Listing(client=client, endpoint="products", per_page=50, stats=stats, params=ANY_STATUS)
        pages = list(listing)

    # then pages of 50 failed, pages of 25 failed, and every product arrived in pages of 5, once
    assert sorted(item["id"] for page in pages for item in page.items) == store_ids(server)
    assert [page.number for page in pages] == [1, 2, 3]
    assert [page.total_pages for page in pages] == [3, 3, 3]
    assert listing.complete is True
    assert stats.failed_pages == []
    assert stats.pages == 3
    # pages 1 and 2 fail as 50 and as two 25s; page 3 (the last 20) as 50 and as one 25, whose 5s end short
    assert server.stats["by_status"]["504"] == 2 * 3 + 2


def test_a_page_that_fails_even_in_the_smallest_pieces_is_recorded_and_skipped(make_sandbox):
    # given a store that serves at most 2 products per page: 50 -> 25 -> 5 still fails
    server = make_sandbox(products=30, variable_share=0.0, seed=67, page_limit=2)
    stats = SyncStats()

    with listing_client() as client:
        listing = Listing(client=client, endpoint="products", per_page=50, stats=stats, params=ANY_STATUS)
        pages = list(listing)

    assert pages == []
    assert listing.complete is False
    assert [(p["endpoint"], p["page"]) for p in stats.failed_pages] == [("products", 1)]
    assert server.stats["by_status"]["504"] == 3  # 50, its first 25, that one's first 5: given up


def test_a_500_is_not_shrunk_the_page_is_skipped_and_the_listing_goes_on(make_sandbox):
    server = make_sandbox(products=60, variable_share=0.0, seed=71)
    stats = SyncStats()

    def next_request_fails(items: list[dict]) -> None:
        # runs on the fetching thread right after page 1 arrived, before page 2 is asked for
        if server.faults is None:
            server.set_faults(kinds=("500",), count=1, paths=r"/products$")

    with listing_client() as client:
        listing = Listing(
            client=client,
            endpoint="products",
            per_page=20,
            stats=stats,
            params=ANY_STATUS,
            fetch_variations=next_request_fails,
        )
        pages = list(listing)

    # page 2's 500 is the store's own error, not its size: asked once, skipped, and page 3 still read
    assert [page.number for page in pages] == [1, 3]
    assert listing.failed_pages == [2]
    assert [(p["endpoint"], p["page"]) for p in stats.failed_pages] == [("products", 2)]
    assert listing.complete is False
    assert server.stats["by_status"]["500"] == 1
    assert server.stats["by_endpoint"]["GET products"] == 3


def test_a_stop_request_ends_the_listing_after_the_page_in_hand(make_sandbox):
    server = make_sandbox(products=100, variable_share=0.0, seed=73)
    stats = SyncStats()
    consumed: list[int] = []

    with listing_client() as client:
        listing = Listing(
            client=client,
            endpoint="products",
            per_page=10,
            stats=stats,
            params=ANY_STATUS,
            should_stop=lambda: len(consumed) >= 2,
        )
        for page in listing:
            consumed.append(page.number)

    assert consumed == [1, 2]
    assert listing.interrupted is True
    assert listing.finished is False
    assert listing.complete is False
    assert server.stats["by_endpoint"]["GET products"] <= 3  # at most the one page fetched ahead


def test_a_store_that_goes_down_stops_the_listing_after_pages_fail_in_a_row(make_sandbox):
    server = make_sandbox(products=100, variable_share=0.0, seed=79)
    stats = SyncStats()

    def store_goes_down(items: list[dict]) -> None:
        # runs on the fetching thread right after page 1 arrived, before page 2 is asked for
        server.set_faults(rate=1.0, kinds=("500",), paths=r"/products$")

    with listing_client() as client:
        listing = Listing(
            client=client,
            endpoint="products",
            per_page=10,
            stats=stats,
            params=ANY_STATUS,
            fetch_variations=store_goes_down,
        )
        pages = list(listing)

    assert [page.number for page in pages] == [1]
    assert [p["page"] for p in stats.failed_pages] == list(range(2, 2 + MAX_FAILED_PAGES_IN_A_ROW))
    assert stats.notes == [
        f"stopped reading products at page {1 + MAX_FAILED_PAGES_IN_A_ROW}: {MAX_FAILED_PAGES_IN_A_ROW} pages in a "
        "row failed (the store looks down); the rest of the listing was not read"
    ]
    assert listing.complete is False
    assert server.stats["by_endpoint"]["GET products"] == 1 + MAX_FAILED_PAGES_IN_A_ROW


@pytest.mark.parametrize("per_page", [7, 100])
def test_an_undisturbed_listing_yields_every_item_once_and_is_complete(make_sandbox, per_page):
    server = make_sandbox(products=45, variable_share=0.0, seed=83)
    stats = SyncStats()

    with listing_client() as client:
        listing = Listing(client=client, endpoint="products", per_page=per_page, stats=stats, params=ANY_STATUS)
        ids = [item["id"] for page in listing for item in page.items]

    assert sorted(ids) == store_ids(server)
    assert len(ids) == len(set(ids))
    assert listing.complete is True


def test_id_set_holds_ids_in_any_order_once_each():
    # given ids mostly ascending (a listing by id), with repeats, a step back, a negative and one beyond 64 bits
    ids = IdSet([3, 5, 5, 9, 4, 9, 12, -7, 2**70, 3, 13])

    # then it is the set of those ids, whatever order they came in
    assert sorted(ids) == [-7, 3, 4, 5, 9, 12, 13, 2**70]
    assert len(ids) == 8
    assert all(i in ids for i in (-7, 3, 4, 5, 9, 12, 13, 2**70))
    assert not any(i in ids for i in (0, 6, 11, 14, 2**63, "3", None))
    # set operations that callers use (a set minus the listed ids)
    assert sorted({1, 3, 4, 6, 2**70} - ids) == [1, 6]
    assert ids == {-7, 3, 4, 5, 9, 12, 13, 2**70}


def test_id_set_of_an_ascending_listing_is_compact():
    # given 200,000 ids as a listing by id returns them
    ids = IdSet(range(100_000, 300_000))

    # then they are kept in the sorted array (8 bytes each), none in the fallback set
    assert len(ids) == 200_000 and 299_999 in ids and 99_999 not in ids
    assert len(ids._others) == 0 and ids._sorted.itemsize == 8
