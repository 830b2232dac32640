"""``DeletionGuard`` on its own: the largest deletion a sync makes without --allow-mass-delete."""

from __future__ import annotations

import pytest

from sync.services.guard import DeletionGuard, DeletionRefused


@pytest.mark.parametrize(
    ("live_total", "limit"),
    [
        (0, 10),  # an empty mirror: the floor applies
        (50, 10),  # 10% of 50 is 5, below the floor
        (100, 10),  # 10% of 100 is the floor itself
        (1000, 100),
        (1009, 100),  # rounded down: 100.9 rows is not a deletion of 101
    ],
)
def test_the_limit_is_the_share_of_the_live_rows_but_never_below_the_floor(live_total, limit):
    assert DeletionGuard(max_share=0.10, min_count=10).limit(live_total) == limit


def test_a_deletion_up_to_the_limit_passes():
    guard = DeletionGuard(max_share=0.10, min_count=10)

    guard.check(resource="products", count=100, live_total=1000)  # raises nothing
    guard.check(resource="products", count=0, live_total=0)


def test_a_deletion_one_past_the_limit_is_refused_with_the_figures():
    guard = DeletionGuard(max_share=0.10, min_count=10)

    with pytest.raises(DeletionRefused) as refused:
        guard.check(resource="products", count=101, live_total=1000)

    assert (refused.value.resource, refused.value.count, refused.value.live_total, refused.value.limit) == (
        "products",
        101,
        1000,
        100,
    )
    assert str(refused.value) == (
        "refused to delete 101 of 1000 products (10%, limit 100): "
        "check the store; if the deletion is real, run again with --allow-mass-delete"
    )


def test_below_the_floor_even_the_whole_catalog_may_go():
    DeletionGuard(max_share=0.10, min_count=10).check(resource="categories", count=10, live_total=10)


def test_allow_lets_any_deletion_through():
    DeletionGuard(max_share=0.10, min_count=10, allow=True).check(resource="products", count=1000, live_total=1000)


def test_a_share_of_zero_refuses_anything_past_the_floor():
    guard = DeletionGuard(max_share=0.0, min_count=0)

    with pytest.raises(DeletionRefused):
        guard.check(resource="products", count=1, live_total=1000)
