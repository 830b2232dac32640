"""GET /api/products/export.csv: staff only, streamed, correct rows."""

from __future__ import annotations

import base64
import csv
import datetime
import io
from decimal import Decimal

import pytest
from django.contrib.auth import get_user_model
from django.http import StreamingHttpResponse
from rest_framework.authtoken.models import Token

from tests.factories import CategoryFactory, ProductFactory

pytestmark = pytest.mark.django_db

EXPORT = "/api/products/export.csv"


@pytest.fixture
def staff_client(client):
    client.force_login(get_user_model().objects.create_user("staff", password="pw", is_staff=True))
    return client


def _rows(response) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))


def test_export_streams_every_not_deleted_product(staff_client, settings):
    settings.CATALOG_EXPORT_CHUNK_SIZE = 2  # several chunks, each with its categories
    shirts = CategoryFactory(slug="shirts")
    mugs = CategoryFactory(slug="mugs")
    first = ProductFactory(
        sku="S-1", price=Decimal("21.990000"), manage_stock=True, stock_quantity=Decimal("4"), categories=[shirts, mugs]
    )
    draft = ProductFactory(status="draft", price=None)
    hidden = ProductFactory(catalog_visibility="hidden")
    ProductFactory(deleted_at=datetime.datetime(2024, 1, 1, tzinfo=datetime.UTC))

    response = staff_client.get(EXPORT)

    assert response.status_code == 200
    assert isinstance(response, StreamingHttpResponse)
    assert response["Content-Type"] == "text/csv"
    assert response["Content-Disposition"] == 'attachment; filename="products.csv"'
    assert response["Cache-Control"] == "private, no-store"
    rows = _rows(response)
    assert [int(r["id"]) for r in rows] == [first.id, draft.id, hidden.id]
    assert rows[0]["sku"] == "S-1"
    assert rows[0]["price"] == "21.99"
    assert rows[0]["stock_quantity"] == "4"
    assert rows[0]["manage_stock"] == "1"
    assert set(rows[0]["categories"].split("|")) == {"shirts", "mugs"}
    assert rows[1]["status"] == "draft"
    assert rows[1]["price"] == ""
    assert rows[2]["catalog_visibility"] == "hidden"


def test_export_neutralises_spreadsheet_formulas(staff_client):
    ProductFactory(name='=HYPERLINK("http://evil")', sku="+1", global_unique_id="=1+2")

    row = _rows(staff_client.get(EXPORT))[0]

    assert row["name"] == '\'=HYPERLINK("http://evil")'
    assert row["sku"] == "'+1"
    assert row["global_unique_id"] == "'=1+2"


def test_export_of_an_empty_catalog_is_the_header(staff_client):
    content = b"".join(staff_client.get(EXPORT).streaming_content).decode()

    assert content.splitlines() == [
        "id,sku,name,slug,type,status,catalog_visibility,price,regular_price,sale_price,on_sale,manage_stock,"
        "stock_quantity,stock_status,categories,date_modified_gmt,synced_at,global_unique_id"
    ]


def test_export_needs_authentication(client):
    response = client.get(EXPORT)

    assert response.status_code in (401, 403)
    assert response.json()["code"] == "rest_not_authenticated"


def test_export_refuses_non_staff_users(client):
    client.force_login(get_user_model().objects.create_user("shopper", password="pw"))

    response = client.get(EXPORT)

    assert response.status_code == 403
    assert response.json()["code"] == "rest_permission_denied"


def test_export_accepts_a_token_for_scripts(client):
    robot = get_user_model().objects.create_user("robot", password="s3cret-pw", is_staff=True)
    token = Token.objects.create(user=robot)
    ProductFactory()

    response = client.get(EXPORT, HTTP_AUTHORIZATION=f"Token {token.key}")

    assert response.status_code == 200
    assert len(_rows(response)) == 1


def test_export_ignores_basic_auth_even_with_the_right_password(client):
    # Basic is off: checking it cost a password hash per request, before any throttle.
    get_user_model().objects.create_user("robot", password="s3cret-pw", is_staff=True)
    ProductFactory()

    credentials = base64.b64encode(b"robot:s3cret-pw").decode()
    response = client.get(EXPORT, HTTP_AUTHORIZATION=f"Basic {credentials}")

    assert response.status_code == 403
    assert response.json()["code"] == "rest_not_authenticated"


def test_export_neutralises_formulas_in_every_text_column(staff_client):
    category = CategoryFactory(slug="@SUM(A1:A9)")
    ProductFactory(
        sku="-2+3",
        name="\tcmd",
        slug="=cmd|'/c calc'!A1",
        type="+external",
        status="@draft",
        catalog_visibility="\rhidden",
        stock_status="=instock",
        categories=[category],
    )

    row = _rows(staff_client.get(EXPORT))[0]

    assert row["sku"] == "'-2+3"
    assert row["name"] == "'\tcmd"
    assert row["slug"] == "'=cmd|'/c calc'!A1"
    assert row["type"] == "'+external"
    assert row["status"] == "'@draft"
    assert row["catalog_visibility"] == "'\rhidden"
    assert row["stock_status"] == "'=instock"
    assert row["categories"] == "'@SUM(A1:A9)"


def test_export_leaves_numbers_and_harmless_text_alone(staff_client):
    shirts = CategoryFactory(slug="shirts")
    ProductFactory(
        sku="S-1", name="Shirt", slug="shirt", manage_stock=True, stock_quantity=Decimal("-3"), categories=[shirts]
    )

    row = _rows(staff_client.get(EXPORT))[0]

    assert (row["sku"], row["name"], row["slug"], row["categories"]) == ("S-1", "Shirt", "shirt", "shirts")
    assert (row["type"], row["status"], row["catalog_visibility"]) == ("simple", "publish", "visible")
    assert row["stock_quantity"] == "-3"  # a backorder is a number, not a formula
