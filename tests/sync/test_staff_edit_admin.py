"""The admin's product and variation pages offer the staff edit, through the same validation and queue."""

from __future__ import annotations

from decimal import Decimal

import pytest

from catalog.models import Product
from sync.models import SyncOperation
from tests.factories import ProductFactory, ProductVariationFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff_client(client, django_user_model):
    user = django_user_model.objects.create_superuser("admin", "admin@example.com", "pw")
    client.force_login(user)
    client.user = user
    return client


@pytest.fixture
def product():
    return ProductFactory(
        id=9001, regular_price=Decimal("20"), sale_price=None, manage_stock=True, stock_quantity=Decimal("10")
    )


def test_the_product_page_links_to_the_edit_form(staff_client, product):
    page = staff_client.get(f"/admin/catalog/product/{product.id}/change/")

    assert page.status_code == 200
    assert f"/admin/catalog/product/{product.id}/push-edit/".encode() in page.content


def test_a_valid_edit_is_queued_like_the_api_does(staff_client, product):
    form = staff_client.get(f"/admin/catalog/product/{product.id}/push-edit/")

    response = staff_client.post(
        f"/admin/catalog/product/{product.id}/push-edit/",
        {"regular_price": "21.5", "sale_price": "", "stock_quantity": "14", "manage_stock": ""},
    )

    assert form.status_code == 200 and b"regular price 20.00" in form.content
    assert response.status_code == 302 and response["Location"] == f"/admin/catalog/product/{product.id}/change/"
    operation = SyncOperation.objects.get()
    assert (operation.origin, operation.action, operation.object_kind, operation.object_id) == (
        "local_edit",
        "update",
        "product",
        product.id,
    )
    assert operation.new_values == {"regular_price": "21.50", "stock_quantity": 14}
    assert operation.base_values == {"regular_price": "20.00", "stock_quantity": 10}
    assert operation.created_by == staff_client.user
    assert Product.objects.get(id=product.id).regular_price == Decimal("20")
    messages = [m.message for m in response.wsgi_request._messages]
    assert any(f"operation #{operation.id}" in m for m in messages)


@pytest.mark.parametrize(
    ("data", "shown"),
    [
        ({"regular_price": "abc"}, b"is not a decimal number"),
        ({"sale_price": "30"}, b"cannot be above the regular price"),
        ({"stock_quantity": "2.5"}, b"is not an integer"),
        ({}, b"Nothing to change"),
        ({"sale_price": "5", "end_sale": "on"}, b"Either end the sale or give a sale price"),
    ],
)
def test_a_bad_value_shows_the_error_and_queues_nothing(staff_client, product, data, shown):
    response = staff_client.post(f"/admin/catalog/product/{product.id}/push-edit/", data)

    assert response.status_code == 400
    assert shown in response.content
    assert SyncOperation.objects.count() == 0


def test_ending_a_sale_sends_an_empty_sale_price(staff_client):
    product = ProductFactory(regular_price=Decimal("20"), sale_price=Decimal("15"))

    staff_client.post(f"/admin/catalog/product/{product.id}/push-edit/", {"end_sale": "on"})

    assert SyncOperation.objects.get().new_values == {"sale_price": ""}


def test_a_variation_page_edits_the_variation(staff_client):
    variation = ProductVariationFactory(manage_stock=True, stock_quantity=Decimal("2"))

    response = staff_client.post(f"/admin/catalog/productvariation/{variation.id}/push-edit/", {"stock_quantity": "3"})

    assert response.status_code == 302
    operation = SyncOperation.objects.get()
    assert (operation.object_kind, operation.object_id, operation.parent_id) == (
        "variation",
        variation.id,
        variation.product_id,
    )


def test_a_trashed_product_is_not_edited(staff_client):
    trashed = ProductFactory(status="trash", manage_stock=True)

    response = staff_client.post(f"/admin/catalog/product/{trashed.id}/push-edit/", {"stock_quantity": "3"})

    assert response.status_code == 302
    assert SyncOperation.objects.count() == 0


def test_the_form_needs_a_staff_login(client, product, django_user_model):
    anonymous = client.post(f"/admin/catalog/product/{product.id}/push-edit/", {"stock_quantity": "3"})
    client.force_login(django_user_model.objects.create_user("shopper"))
    not_staff = client.post(f"/admin/catalog/product/{product.id}/push-edit/", {"stock_quantity": "3"})
    client.force_login(django_user_model.objects.create_user("intern", is_staff=True))  # staff without view rights
    no_view = client.post(f"/admin/catalog/product/{product.id}/push-edit/", {"stock_quantity": "3"})

    assert anonymous.status_code == not_staff.status_code == 302  # to the admin login
    assert "/admin/login/" in anonymous["Location"]
    assert no_view.status_code == 403
    assert SyncOperation.objects.count() == 0


def test_an_unknown_id_is_404(staff_client):
    assert staff_client.get("/admin/catalog/product/424242/push-edit/").status_code == 404
