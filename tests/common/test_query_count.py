"""QueryCountDebugMiddleware: logs requests over the threshold, only with DEBUG."""

from __future__ import annotations

import logging

import pytest
from django.test import Client

from tests.catalog.fixtures import isolated_cache  # noqa: F401
from tests.factories import ProductFactory

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("isolated_cache")]


def test_logs_path_count_and_time_above_the_threshold(settings, caplog):
    settings.DEBUG = True
    settings.QUERY_COUNT_WARNING_THRESHOLD = 1
    ProductFactory()

    with caplog.at_level(logging.WARNING, logger="common.middleware.query_count"):
        Client().get("/api/products/?per_page=5")

    [record] = caplog.records
    assert record.path == "/api/products/"
    assert record.query_count >= 2
    assert record.duration_ms > 0
    assert "/api/products/?per_page=5" in record.getMessage()


def test_silent_at_or_below_the_threshold(settings, caplog):
    settings.DEBUG = True
    settings.QUERY_COUNT_WARNING_THRESHOLD = 10
    ProductFactory()

    with caplog.at_level(logging.WARNING, logger="common.middleware.query_count"):
        Client().get("/api/products/")

    assert caplog.records == []


def test_inactive_without_debug(settings, caplog):
    settings.DEBUG = False
    settings.QUERY_COUNT_WARNING_THRESHOLD = 0
    ProductFactory()

    with caplog.at_level(logging.WARNING, logger="common.middleware.query_count"):
        Client().get("/api/products/")

    assert caplog.records == []
