"""OpenAPI 3 schema at /api/schema/ and the docs page."""

from __future__ import annotations

import pytest
import yaml

pytestmark = pytest.mark.django_db


@pytest.fixture
def schema(client):
    response = client.get("/api/schema/")
    assert response.status_code == 200
    return yaml.safe_load(response.content)


def test_schema_documents_every_catalog_endpoint(schema):
    assert schema["openapi"].startswith("3.")
    assert {
        "/api/products/",
        "/api/products/facets/",
        "/api/products/export.csv",
        "/api/products/{lookup}/",
        "/api/products/{lookup}/variations/",
        "/api/categories/",
        "/api/categories/{lookup}/",
    } <= set(schema["paths"])


def test_schema_documents_every_list_parameter_and_error(schema):
    operation = schema["paths"]["/api/products/"]["get"]
    params = {p["name"] for p in operation["parameters"]}

    assert {
        "page", "per_page", "search", "sku", "category", "min_price", "max_price",
        "stock_status", "on_sale", "featured", "orderby", "order", "If-None-Match",
    } <= params  # fmt: skip
    assert {"200", "304", "400", "429"} <= set(operation["responses"])
    orderby = next(p for p in operation["parameters"] if p["name"] == "orderby")
    assert set(orderby["schema"]["enum"]) == {"date", "price", "popularity", "title", "menu_order", "modified", "id"}
    assert set(operation["responses"]["200"]["headers"]) >= {"X-WP-Total", "X-WP-TotalPages", "ETag"}


def test_detail_documents_404_and_real_time_stock(schema):
    operation = schema["paths"]["/api/products/{lookup}/"]["get"]

    assert {"200", "304", "400", "404", "429"} <= set(operation["responses"])
    assert "real_time_stock" in {p["name"] for p in operation["parameters"]}


def test_docs_page_renders(client):
    response = client.get("/api/docs/")

    assert response.status_code == 200
    assert b"swagger" in response.content.lower()


def test_schema_generates_without_warnings_and_validates():
    from django.core.management import call_command

    call_command("spectacular", "--validate", "--fail-on-warn", "--file", "/dev/null")
