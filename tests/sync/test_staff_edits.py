"""Staff edits through the API: PATCH a product or variation, 202 with a queued operation of the
contract's shape, nothing queued (and the mirror untouched) for anything refused."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest
from rest_framework.authtoken.models import Token

from catalog.models import Product
from sync.models import SyncOperation
from sync.services.edits import EditInvalid, edit_target_get, edit_values_validate, price_parse, stock_parse
from tests.catalog.fixtures import isolated_cache  # noqa: F401
from tests.factories import ProductFactory, ProductVariationFactory

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("isolated_cache")]


@pytest.fixture
def staff(django_user_model):
    return django_user_model.objects.create_user("clerk", password="pw-123-long", is_staff=True)


@pytest.fixture
def staff_token(staff) -> str:
    return Token.objects.create(user=staff).key


@pytest.fixture
def product():
    return ProductFactory(
        id=7001,
        regular_price=Decimal("20.000000"),
        sale_price=Decimal("15.5"),
        price=Decimal("15.5"),
        manage_stock=True,
        stock_quantity=Decimal("10"),
    )


def _patch(client, url: str, body, token: str | None = None, **headers):
    if token:
        headers["HTTP_AUTHORIZATION"] = f"Token {token}"
    data = body if isinstance(body, str | bytes) else json.dumps(body)
    return client.patch(url, data=data, content_type="application/json", **headers)


def _snapshot(product_id: int) -> tuple:
    return tuple(
        Product.objects.filter(id=product_id).values_list("regular_price", "sale_price", "stock_quantity").get()
    )


# --- Who may edit --------------------------------------------------------------------------------------------


def test_anonymous_gets_403_and_nothing_is_queued(client, product):
    response = _patch(client, f"/api/products/{product.id}/", {"regular_price": "30.00"})

    assert response.status_code == 403
    assert response.json()["code"] == "rest_not_authenticated"
    assert "WWW-Authenticate" not in response  # session first: 403, never 401 (as the CSV export)
    assert SyncOperation.objects.count() == 0


def test_a_basic_header_is_anonymous_too(client, product, staff):
    response = _patch(
        client, f"/api/products/{product.id}/", {"regular_price": "30.00"}, HTTP_AUTHORIZATION="Basic Y2xlcms6cHc="
    )

    assert response.status_code == 403
    assert SyncOperation.objects.count() == 0


def test_a_user_who_is_not_staff_gets_403(client, product, django_user_model):
    token = Token.objects.create(user=django_user_model.objects.create_user("shopper")).key

    response = _patch(client, f"/api/products/{product.id}/", {"regular_price": "30.00"}, token)

    assert response.status_code == 403
    assert response.json()["code"] == "rest_permission_denied"
    assert SyncOperation.objects.count() == 0


def test_a_wrong_token_gets_403(client, product):
    response = _patch(client, f"/api/products/{product.id}/", {"regular_price": "30.00"}, "0" * 40)

    assert response.status_code == 403
    assert SyncOperation.objects.count() == 0


def test_a_staff_session_needs_its_csrf_token(product, staff):
    from django.test import Client

    browser = Client(enforce_csrf_checks=True)
    browser.force_login(staff)

    refused = _patch(browser, f"/api/products/{product.id}/", {"regular_price": "30.00"})
    browser.get("/admin/")  # sets the csrftoken cookie, as the admin pages do
    accepted = _patch(
        browser,
        f"/api/products/{product.id}/",
        {"regular_price": "30.00"},
        HTTP_X_CSRFTOKEN=browser.cookies["csrftoken"].value,
    )

    assert refused.status_code == 403 and "CSRF" in refused.json()["message"]
    assert accepted.status_code == 202
    assert SyncOperation.objects.count() == 1


# --- A valid edit --------------------------------------------------------------------------------------------


def test_a_valid_price_edit_is_queued_as_one_operation_of_the_contract_shape(client, product, staff, staff_token):
    before = _snapshot(product.id)

    response = _patch(client, f"/api/products/{product.id}/", {"regular_price": "24.5", "sale_price": ""}, staff_token)

    assert response.status_code == 202
    body = response.json()
    operation = SyncOperation.objects.get()
    assert body["id"] == operation.id and body["state"] == "pending"
    assert response["Location"] == f"http://testserver/api/sync/operations/{operation.id}/"
    assert response["Cache-Control"] == "private, no-store"
    assert (operation.origin, operation.action, operation.object_kind, operation.object_id, operation.parent_id) == (
        "local_edit",
        "update",
        "product",
        product.id,
        None,
    )
    assert operation.new_values == {"regular_price": "24.50", "sale_price": ""}
    assert operation.base_values == {"regular_price": "20.00", "sale_price": "15.50"}  # what the API showed
    assert operation.payload is None and operation.modified_at is None and operation.topic == ""
    assert operation.dedupe_key.startswith("local_edit:") and len(operation.dedupe_key) == len("local_edit:") + 36
    assert operation.resolution == {} and operation.created_by == staff
    assert _snapshot(product.id) == before  # the mirror shows WooCommerce's confirmed values only


def test_two_identical_edits_are_two_operations(client, product, staff_token):
    for _ in range(2):
        assert _patch(client, f"/api/products/{product.id}/", {"stock_quantity": 12}, staff_token).status_code == 202

    assert SyncOperation.objects.count() == 2


def test_a_stock_edit_carries_the_mirror_stock_as_its_base(client, product, staff_token):
    response = _patch(client, f"/api/products/{product.id}/", {"stock_quantity": 15}, staff_token)

    operation = SyncOperation.objects.get(id=response.json()["id"])
    assert operation.new_values == {"stock_quantity": 15}
    assert operation.base_values == {"stock_quantity": 10}
    assert operation.priority == 120  # stock first (sync.services.queue.PRIORITY_STOCK)


def test_a_variation_edit_names_its_product(client, staff_token):
    variation = ProductVariationFactory(id=800_001, regular_price=Decimal("12.50"), manage_stock=True)

    response = _patch(
        client,
        f"/api/products/{variation.product_id}/variations/{variation.id}/",
        {"sale_price": "9.99", "manage_stock": False},
        staff_token,
    )

    assert response.status_code == 202
    operation = SyncOperation.objects.get()
    assert (operation.object_kind, operation.object_id, operation.parent_id) == (
        "variation",
        variation.id,
        variation.product_id,
    )
    assert operation.new_values == {"sale_price": "9.99", "manage_stock": False}
    assert operation.base_values == {"sale_price": "", "manage_stock": True}


# --- Refused edits: 400 and nothing queued ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"regular_price": "abc"}, "regular_price"),
        ({"regular_price": "-1"}, "regular_price"),
        ({"regular_price": "1.234"}, "regular_price"),
        ({"regular_price": "1e3"}, "regular_price"),
        ({"regular_price": "NaN"}, "regular_price"),
        ({"regular_price": "١٢"}, "regular_price"),  # Arabic-Indic digits: Decimal() would take them
        ({"regular_price": ""}, "regular_price"),
        ({"regular_price": True}, "regular_price"),
        ({"regular_price": ["1"]}, "regular_price"),
        ({"sale_price": "25.00"}, "sale_price"),  # above the mirror's regular price (20.00)
        ({"regular_price": "12.00"}, "regular_price"),  # below the mirror's sale price (15.50)
        ({"regular_price": "10", "sale_price": "11"}, "sale_price"),
        ({"stock_quantity": "x"}, "stock_quantity"),
        ({"stock_quantity": 2.5}, "stock_quantity"),
        ({"stock_quantity": True}, "stock_quantity"),
        ({"stock_quantity": -1}, "stock_quantity"),
        ({"stock_quantity": 10**12}, "stock_quantity"),
        ({"stock_quantity": None}, "stock_quantity"),
        ({"manage_stock": "yes"}, "manage_stock"),
        ({"name": "New name"}, "name"),
        ({"price": "1.00"}, "price"),
        ({}, "non_field_errors"),
    ],
)
def test_a_bad_value_gets_400_naming_the_field_and_nothing_is_queued(client, product, staff_token, body, field):
    before = _snapshot(product.id)

    response = _patch(client, f"/api/products/{product.id}/", body, staff_token)

    assert response.status_code == 400
    error = response.json()
    assert error["code"] == "rest_invalid_param" and error["data"]["status"] == 400
    assert field in error["data"]["params"], error
    assert SyncOperation.objects.count() == 0
    assert _snapshot(product.id) == before


@pytest.mark.parametrize("body", ['["regular_price"]', '"abc"', "null", "{bad json"])
def test_a_body_that_is_not_an_object_gets_400(client, product, staff_token, body):
    response = _patch(client, f"/api/products/{product.id}/", body, staff_token)

    assert response.status_code == 400
    assert SyncOperation.objects.count() == 0


def test_a_form_body_gets_415(client, product, staff_token):
    response = client.patch(
        f"/api/products/{product.id}/",
        data="regular_price=1",
        content_type="application/x-www-form-urlencoded",
        HTTP_AUTHORIZATION=f"Token {staff_token}",
    )

    assert response.status_code == 415
    assert SyncOperation.objects.count() == 0


def test_stock_on_an_item_that_does_not_manage_stock_needs_manage_stock(client, staff_token):
    product = ProductFactory(manage_stock=False, stock_quantity=None)

    refused = _patch(client, f"/api/products/{product.id}/", {"stock_quantity": 5}, staff_token)
    accepted = _patch(client, f"/api/products/{product.id}/", {"stock_quantity": 5, "manage_stock": True}, staff_token)

    assert refused.status_code == 400 and "manage_stock" in refused.json()["data"]["params"]["stock_quantity"]
    assert accepted.status_code == 202
    assert SyncOperation.objects.get().base_values == {"stock_quantity": None, "manage_stock": False}


def test_a_variable_products_prices_are_its_variations(client, staff_token):
    variable = ProductFactory(type="variable", regular_price=None)

    response = _patch(client, f"/api/products/{variable.id}/", {"regular_price": "5.00"}, staff_token)

    assert response.status_code == 400
    assert SyncOperation.objects.count() == 0


def test_a_variation_whose_stock_its_product_manages_is_refused(client, staff_token):
    variation = ProductVariationFactory(stock_managed_by_parent=True, manage_stock=True)

    response = _patch(
        client, f"/api/products/{variation.product_id}/variations/{variation.id}/", {"stock_quantity": 3}, staff_token
    )

    assert response.status_code == 400
    assert SyncOperation.objects.count() == 0


# --- Unknown, deleted, trashed --------------------------------------------------------------------------------


def test_unknown_deleted_and_foreign_objects_are_404(client, product, staff_token):
    from django.utils import timezone

    deleted = ProductFactory(deleted_at=timezone.now())
    variation = ProductVariationFactory()
    other = ProductFactory()

    statuses = [
        _patch(client, url, {"stock_quantity": 1}, staff_token).status_code
        for url in (
            "/api/products/999999/",
            f"/api/products/{deleted.id}/",
            f"/api/products/{other.id}/variations/{variation.id}/",  # not this product's variation
            f"/api/products/{variation.product_id}/variations/999999/",
            "/api/products/99999999999999999999/",
        )
    ]

    assert statuses == [404] * 5
    assert SyncOperation.objects.count() == 0


def test_a_trashed_product_is_409(client, staff_token):
    trashed = ProductFactory(status="trash", manage_stock=True)

    response = _patch(client, f"/api/products/{trashed.id}/", {"stock_quantity": 1}, staff_token)

    assert response.status_code == 409
    assert response.json()["code"] == "rest_product_trashed"
    assert SyncOperation.objects.count() == 0


def test_an_edit_by_slug_is_not_allowed(client, product, staff_token):
    response = _patch(client, f"/api/products/{product.slug}/", {"stock_quantity": 1}, staff_token)

    assert response.status_code == 405
    assert SyncOperation.objects.count() == 0


# --- If-Match -------------------------------------------------------------------------------------------------


def test_if_match_with_the_current_etag_is_accepted_and_a_stale_one_is_412(client, product, staff_token):
    etag = client.get(f"/api/products/{product.id}/")["ETag"]

    accepted = _patch(client, f"/api/products/{product.id}/", {"stock_quantity": 11}, staff_token, HTTP_IF_MATCH=etag)
    weak = _patch(
        client, f"/api/products/{product.id}/", {"stock_quantity": 11}, staff_token, HTTP_IF_MATCH=f"W/{etag}"
    )
    Product.objects.filter(id=product.id).update(stock_quantity=Decimal("9"))  # WooCommerce sold one (a sync wrote it)
    from common.cache import catalog_version_bump

    catalog_version_bump()
    stale = _patch(client, f"/api/products/{product.id}/", {"stock_quantity": 11}, staff_token, HTTP_IF_MATCH=etag)

    assert (accepted.status_code, weak.status_code) == (202, 202)
    assert stale.status_code == 412
    assert stale.json()["code"] == "rest_precondition_failed"
    assert SyncOperation.objects.count() == 2


def test_if_match_on_a_variation_uses_its_products_etag(client, staff_token):
    variation = ProductVariationFactory(manage_stock=True, stock_quantity=Decimal("3"))
    etag = client.get(f"/api/products/{variation.product_id}/")["ETag"]
    url = f"/api/products/{variation.product_id}/variations/{variation.id}/"

    stale = _patch(client, url, {"stock_quantity": 4}, staff_token, HTTP_IF_MATCH='"0000"')
    accepted = _patch(client, url, {"stock_quantity": 4}, staff_token, HTTP_IF_MATCH=etag)

    assert (stale.status_code, accepted.status_code) == (412, 202)
    assert SyncOperation.objects.count() == 1


def test_if_match_on_a_product_the_api_does_not_show_is_412_unless_star(client, staff_token):
    draft = ProductFactory(status="draft", manage_stock=True)

    named = _patch(client, f"/api/products/{draft.id}/", {"stock_quantity": 1}, staff_token, HTTP_IF_MATCH='"abc"')
    star = _patch(client, f"/api/products/{draft.id}/", {"stock_quantity": 1}, staff_token, HTTP_IF_MATCH="*")

    assert (named.status_code, star.status_code) == (412, 202)


# --- The catalog's GET at the same URL is unchanged -------------------------------------------------------


def test_the_product_detail_get_by_id_and_by_slug_is_the_catalogs(client, product):
    by_id = client.get(f"/api/products/{product.id}/")
    by_slug = client.get(f"/api/products/{product.slug}/")

    assert by_id.status_code == by_slug.status_code == 200
    assert by_id.content == by_slug.content
    assert by_id["ETag"] == by_slug["ETag"]
    assert by_id["Cache-Control"] == by_slug["Cache-Control"] == "public, max-age=60"
    assert client.get("/api/products/facets/").status_code == 200  # not taken for an id


# --- The operation's status ---------------------------------------------------------------------------------


def test_the_operation_status_is_staff_only(client, product, staff_token, django_user_model):
    created = _patch(client, f"/api/products/{product.id}/", {"stock_quantity": 12}, staff_token).json()
    shopper = Token.objects.create(user=django_user_model.objects.create_user("shopper")).key
    url = f"/api/sync/operations/{created['id']}/"

    anonymous = client.get(url)
    not_staff = client.get(url, HTTP_AUTHORIZATION=f"Token {shopper}")
    SyncOperation.objects.filter(id=created["id"]).update(
        state="failed", attempts=2, last_error="WooCommerceUnavailable: 503", resolution={"fields": {}}
    )
    shown = client.get(url, HTTP_AUTHORIZATION=f"Token {staff_token}")

    assert (anonymous.status_code, not_staff.status_code, shown.status_code) == (403, 403, 200)
    body = shown.json()
    assert (body["state"], body["attempts"], body["last_error"], body["resolution"]) == (
        "failed",
        2,
        "WooCommerceUnavailable: 503",
        {"fields": {}},
    )
    assert body["new_values"] == {"stock_quantity": 12} and body["base_values"] == {"stock_quantity": 10}
    assert shown["Cache-Control"] == "private, no-store"


def test_an_unknown_operation_is_404(client, staff_token):
    for operation_id in ("123456", "9" * 30):
        response = client.get(f"/api/sync/operations/{operation_id}/", HTTP_AUTHORIZATION=f"Token {staff_token}")
        assert response.status_code == 404
        assert response.json()["data"]["status"] == 404


# --- The shared validation (used by the admin form and the import too) --------------------------------------


def test_price_and_stock_parsing(settings):
    settings.CATALOG_PRICE_DECIMALS = 3

    assert price_parse("1.5", allow_blank=False) == "1.500"
    assert price_parse(7, allow_blank=False) == "7.000"
    assert price_parse(" 0.125 ", allow_blank=False) == "0.125"
    assert price_parse(None, allow_blank=True) == ""
    assert stock_parse("  42 ") == 42 and stock_parse(0) == 0
    for bad in ("1.0001", "1,5", "1_000", "Infinity"):
        with pytest.raises(ValueError):
            price_parse(bad, allow_blank=False)
    for bad in ("4.0", "x", "", " ", "½", 1.0):
        with pytest.raises(ValueError):
            stock_parse(bad)


def test_validation_reports_every_bad_field_at_once(product):
    target = edit_target_get(product_id=product.id)

    with pytest.raises(EditInvalid) as raised:
        edit_values_validate(target=target, data={"regular_price": "x", "stock_quantity": "y", "colour": "red"})

    assert set(raised.value.errors) == {"regular_price", "stock_quantity", "colour"}
