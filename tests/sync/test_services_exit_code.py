"""``exit_code``: a sync outcome mapped to the documented exit code (what cron and systemd read)."""

from __future__ import annotations

import datetime

import pytest

from sync.management.commands.sync_woocommerce import (
    EXIT_CONFIGURATION,
    EXIT_FAILED,
    EXIT_INTERRUPTED,
    EXIT_MASS_DELETE_REFUSED,
    EXIT_PARTIAL,
    EXIT_SUCCEEDED,
    exit_code,
)
from sync.models import SyncMode, SyncStatus
from sync.services.guard import DeletionRefused
from sync.services.results import SyncStats
from sync.services.runs import SyncOptions, SyncOutcome
from sync.woocommerce.client import (
    WooCommerceClientError,
    WooCommerceError,
    WooCommerceNotFound,
    WooCommerceRateLimited,
    WooCommerceTimeout,
    WooCommerceUnauthorized,
    WooCommerceUnavailable,
)

AT = datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC)
REFUSED = DeletionRefused(resource="products", count=500, live_total=1000, limit=100)


def outcome(status: str, **kwargs) -> SyncOutcome:
    return SyncOutcome(
        options=SyncOptions(mode=SyncMode.FULL, per_page=100),
        status=status,
        stats=SyncStats(),
        started_at=AT,
        finished_at=AT,
        **kwargs,
    )


def error(cls: type[WooCommerceError]) -> WooCommerceError:
    return cls("the store said no", endpoint="products", status=None)


def test_a_succeeded_run_exits_0():
    assert exit_code(outcome(SyncStatus.SUCCEEDED)) == EXIT_SUCCEEDED == 0


@pytest.mark.parametrize("cls", [WooCommerceUnauthorized, WooCommerceNotFound, WooCommerceClientError])
def test_a_refused_request_is_a_configuration_problem_and_exits_4(cls):
    assert exit_code(outcome(SyncStatus.FAILED, error=error(cls))) == EXIT_CONFIGURATION == 4


@pytest.mark.parametrize("cls", [WooCommerceTimeout, WooCommerceUnavailable, WooCommerceRateLimited])
def test_a_store_that_stays_unreachable_exits_1(cls):
    assert exit_code(outcome(SyncStatus.FAILED, error=error(cls))) == EXIT_FAILED == 1


def test_a_failed_run_without_a_woocommerce_error_exits_1():
    assert exit_code(outcome(SyncStatus.FAILED)) == EXIT_FAILED


def test_an_interrupted_run_exits_6_even_when_a_deletion_was_also_refused():
    assert exit_code(outcome(SyncStatus.PARTIAL, interrupted=True)) == EXIT_INTERRUPTED == 6
    assert exit_code(outcome(SyncStatus.PARTIAL, interrupted=True, deletion_refused=REFUSED)) == EXIT_INTERRUPTED


def test_a_refused_mass_deletion_exits_5():
    assert exit_code(outcome(SyncStatus.PARTIAL, deletion_refused=REFUSED)) == EXIT_MASS_DELETE_REFUSED == 5


def test_a_partial_run_exits_3():
    assert exit_code(outcome(SyncStatus.PARTIAL)) == EXIT_PARTIAL == 3


def test_an_error_wins_over_an_interruption():
    interrupted_and_refused = outcome(SyncStatus.PARTIAL, interrupted=True, error=error(WooCommerceUnauthorized))
    assert exit_code(interrupted_and_refused) == EXIT_CONFIGURATION
