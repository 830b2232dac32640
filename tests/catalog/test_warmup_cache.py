"""warmup_cache: fills the entries requests would build, in batches; --incremental; failures."""

from __future__ import annotations

import io
from decimal import Decimal

import pytest
from django.core.management import CommandError, call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from catalog.cache import catalog_version_bump
from catalog.models import Product
from catalog.warmup import catalog_cache_warmup
from tests.catalog.fixtures import free_port, redis_caches
from tests.factories import CategoryFactory, ProductFactory, ProductVariationFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def catalog():
    root = CategoryFactory(slug="clothing")
    child = CategoryFactory(slug="shirts", parent=root)
    products = [ProductFactory(total_sales=i, categories=[child]) for i in range(5)]
    ProductVariationFactory(product=products[-1])
    return products


def _no_queries(client, url: str) -> bytes:
    with CaptureQueriesContext(connection) as queries:
        response = client.get(url)
    assert response.status_code == 200
    assert len(queries) == 0, f"{url} was not warmed: {[q['sql'] for q in queries]}"
    return response.content


def test_warmed_entries_are_what_requests_would_build(client, catalog):
    best = catalog[-1]
    out = io.StringIO()

    call_command("warmup_cache", "--pages", "2", "--products", "2", stdout=out)

    assert "wrote" in out.getvalue()
    for url in [
        "/api/categories/",
        "/api/categories/clothing/",
        f"/api/categories/{catalog[0].categories.first().id}/",
        "/api/products/",
        "/api/products/?page=2",
        "/api/products/?orderby=popularity",
        "/api/products/?orderby=price&order=asc",
        f"/api/products/?category={catalog[0].categories.first().parent_id}",
        "/api/products/facets/",
        f"/api/products/{best.id}/",
        f"/api/products/{best.slug}/",
        f"/api/products/{best.id}/variations/",
    ]:
        _no_queries(client, url)
    # Not among the 2 best sellers: built on request.
    with CaptureQueriesContext(connection) as queries:
        client.get(f"/api/products/{catalog[0].id}/")
    assert 0 < len(queries) <= 3  # built: 2 queries from rows on PostgreSQL, 3 from model instances


def test_warmed_bytes_equal_freshly_built_bytes(client, catalog):
    call_command("warmup_cache", "--products", "5", stdout=io.StringIO())
    warmed = client.get(f"/api/products/{catalog[0].id}/").content

    catalog_version_bump()  # forces a build from the database
    built = client.get(f"/api/products/{catalog[0].id}/").content

    assert warmed == built


def test_incremental_rebuilds_changed_products_and_missing_entries_only(catalog):
    first = catalog_cache_warmup(list_pages=1, products=5)
    # What the sync does to a changed row (its bump is left out: the version stays).
    Product.objects.filter(id=catalog[0].id).update(name="Changed", price=Decimal("1"), synced_at=timezone.now())

    second = catalog_cache_warmup(list_pages=1, products=5, incremental=True)

    assert first.incremental is False
    assert second.incremental is True
    assert second.products == 2  # by id and by slug
    assert second.written == 3  # + its variations page
    assert second.skipped == first.written - 3


def test_incremental_after_a_version_bump_warms_everything(catalog):
    first = catalog_cache_warmup(list_pages=1, products=5)
    catalog_version_bump()

    second = catalog_cache_warmup(list_pages=1, products=5, incremental=True)

    assert second.incremental is False
    assert second.written == first.written


def test_dry_run_writes_nothing(client, catalog):
    out = io.StringIO()

    call_command("warmup_cache", "--dry-run", stdout=out)

    assert "would write" in out.getvalue()
    with CaptureQueriesContext(connection) as queries:
        client.get("/api/products/")
    assert len(queries) > 0


def test_unreachable_cache_is_a_command_error(settings, catalog):
    settings.CACHES = redis_caches(f"redis://127.0.0.1:{free_port()}/0")

    with pytest.raises(CommandError, match="cache warmup failed"):
        call_command("warmup_cache", stdout=io.StringIO())


def test_negative_counts_are_refused():
    with pytest.raises(CommandError, match="0 or more"):
        call_command("warmup_cache", "--pages", "-1", stdout=io.StringIO())


def test_help_runs():
    with pytest.raises(SystemExit) as exit_info:
        call_command("warmup_cache", "--help", stdout=io.StringIO())
    assert exit_info.value.code == 0


def test_incremental_refills_entries_the_cache_lost(client, catalog):
    from django.core.cache import cache

    from catalog.cache import catalog_counters_get, catalog_key
    from catalog.presentation import endpoint_scope, query_defaults
    from catalog.serializers import CategoryListQuerySerializer

    catalog_cache_warmup(list_pages=1, products=0)
    params = query_defaults(CategoryListQuerySerializer)
    counters = catalog_counters_get(endpoint_scope("categories", params))
    assert cache.delete(catalog_key(counters=counters, name="categories", params=params))

    result = catalog_cache_warmup(list_pages=1, products=0, incremental=True)

    assert result.written == 1
    _no_queries(client, "/api/categories/")
