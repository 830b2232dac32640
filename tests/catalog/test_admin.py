"""The admin shows the mirrored catalog and the sync history, read-only, with search and filters."""

import pytest
from django.utils import timezone

from sync.models import SyncRun
from tests.factories import CategoryFactory, ProductFactory, ProductVariationFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff_client(client, django_user_model):
    user = django_user_model.objects.create_superuser("admin", "admin@example.com", "pw")
    client.force_login(user)
    return client


def test_every_mirror_model_and_the_sync_history_are_browsable_searchable_and_filterable(staff_client):
    category = CategoryFactory(name="Hoodies")
    product = ProductFactory(name="Green hoodie", sku="HD-1")
    product.categories.add(category)
    ProductVariationFactory(product=product, sku="HD-1-S")
    SyncRun.objects.create(mode="full", status="partial", started_at=timezone.now(), error_summary="page 3 failed")

    pages = [
        "/admin/catalog/product/?q=HD-1",
        "/admin/catalog/product/?status__exact=publish&deleted=no",
        f"/admin/catalog/product/{product.id}/change/",
        "/admin/catalog/productvariation/?q=HD-1-S",
        "/admin/catalog/category/?q=Hoodies",
        "/admin/sync/syncrun/?status__exact=partial",
    ]
    for url in pages:
        response = staff_client.get(url)
        assert response.status_code == 200, url
    assert b"Green hoodie" in staff_client.get("/admin/catalog/product/?q=HD-1").content
    assert b"partial" in staff_client.get("/admin/sync/syncrun/").content


def test_the_mirror_cannot_be_edited_from_the_admin(staff_client):
    product = ProductFactory(name="Read only")

    assert staff_client.get("/admin/catalog/product/add/").status_code == 403
    response = staff_client.post(f"/admin/catalog/product/{product.id}/change/", {"name": "Changed"})
    assert response.status_code == 403
    assert staff_client.post(f"/admin/catalog/product/{product.id}/delete/", {"post": "yes"}).status_code == 403
    product.refresh_from_db()
    assert product.name == "Read only"
