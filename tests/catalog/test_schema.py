"""OpenAPI 3 schema at /api/schema/ and the docs page."""

from __future__ import annotations

import re

import pytest
import yaml
from rest_framework.exceptions import ValidationError

from catalog.serializers import lookup_parse

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


DATE_FIELDS = ("date_created_gmt", "date_modified_gmt", "date_on_sale_from_gmt", "date_on_sale_to_gmt")


@pytest.mark.parametrize("component", ["Product", "ProductLiveDetail", "Variation"])
def test_gmt_dates_are_zoneless_strings_that_may_be_null(schema, component):
    properties = schema["components"]["schemas"][component]["properties"]

    for name in DATE_FIELDS:
        field = properties[name]
        assert field["type"] == "string", name
        assert "format" not in field, name  # not date-time: WooCommerce's *_gmt carry no zone
        assert field["nullable"] is True, name
        assert re.fullmatch(field["pattern"].strip("^$"), "2024-02-22T09:19:20"), name
        assert not re.fullmatch(field["pattern"].strip("^$"), "2024-02-22T09:19:20Z"), name


def test_stock_source_is_documented_as_optional(schema):
    component = schema["components"]["schemas"]["ProductLiveDetail"]

    assert "stock_source" in component["properties"]
    assert "stock_source" not in component["required"]
    assert schema["components"]["schemas"]["StockSource"]["properties"]["synced_at"]["nullable"] is True


def test_export_documents_403_not_401(client, schema):
    responses = schema["paths"]["/api/products/export.csv"]["get"]["responses"]

    assert "403" in responses
    assert "401" not in responses
    assert client.get("/api/products/export.csv").status_code == 403


@pytest.mark.parametrize(
    "path",
    [
        "/api/products/",
        "/api/products/facets/",
        "/api/products/{lookup}/",
        "/api/categories/",
        "/api/products/export.csv",
    ],
)
def test_414_is_documented(schema, path):
    assert "414" in schema["paths"][path]["get"]["responses"]


@pytest.mark.parametrize(
    "path", ["/api/products/{lookup}/", "/api/products/{lookup}/variations/", "/api/categories/{lookup}/"]
)
def test_path_lookups_have_the_pattern_the_code_accepts(schema, path):
    lookup = next(p for p in schema["paths"][path]["get"]["parameters"] if p["name"] == "lookup")
    pattern = re.compile(lookup["schema"]["pattern"].removeprefix("^").removesuffix("$"))

    for accepted in ("794", "premium-tee", "%d0%bf", "a_b"):
        assert pattern.fullmatch(accepted), accepted
        lookup_parse(accepted)
    for refused in ("", "a/b", "a b", "x" * 201, "a\x00"):
        assert not pattern.fullmatch(refused), refused
        with pytest.raises(ValidationError):
            lookup_parse(refused)


def test_no_operation_carries_a_base_class_docstring(schema):
    for path, operations in schema["paths"].items():
        for operation in operations.values():
            assert "Base of the catalog" not in operation.get("description", ""), path
