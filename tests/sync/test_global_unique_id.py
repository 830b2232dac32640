"""``global_unique_id`` (GTIN, UPC, EAN or ISBN, WooCommerce 9.2+): one declaration on the model, and
the sync, the API, its schema and the export all carry it."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest
import yaml
from django.contrib.auth import get_user_model

from catalog.models import Product, ProductVariation
from sync.woocommerce.types import PayloadError, parse_product, parse_stock, parse_variation
from tests.sync.helpers import mirror_differences, run_sync

pytestmark = pytest.mark.django_db

SAMPLES = Path(__file__).resolve().parent.parent / "fixtures" / "woocommerce"
GTIN = "9781234567897"
VARIATION_GTIN = "0012345678905"


def sample(name: str) -> dict:
    return json.loads((SAMPLES / name).read_text())


def _store_with_codes(make_sandbox) -> tuple:
    """A store where one listed variable product and one of its public variations carry a code."""
    server = make_sandbox(products=30, variable_share=0.5, seed=5)
    catalog = server.catalog
    product = next(
        p
        for p in catalog.products.values()
        if p["status"] == "publish"
        and p["type"] == "variable"
        and p["catalog_visibility"] == "visible"
        and any(catalog.variations[v]["status"] == "publish" for v in p["variations"])
    )
    variation_id = next(v for v in product["variations"] if catalog.variations[v]["status"] == "publish")
    catalog.edit_product(product["id"], global_unique_id=GTIN)
    catalog.edit_variation(variation_id, global_unique_id=VARIATION_GTIN)
    return server, product["id"], variation_id


def test_global_unique_id_round_trips_from_the_store_to_the_api_detail_and_list(client, make_sandbox):
    server, product_id, variation_id = _store_with_codes(make_sandbox)

    assert run_sync("--full").code == 0

    assert Product.objects.get(id=product_id).global_unique_id == GTIN
    assert ProductVariation.objects.get(id=variation_id).global_unique_id == VARIATION_GTIN
    assert Product.objects.exclude(id=product_id).exclude(global_unique_id="").count() == 0
    assert mirror_differences(server.catalog) == []

    detail = client.get(f"/api/products/{product_id}/").json()
    assert detail["global_unique_id"] == GTIN
    by_id = {v["id"]: v["global_unique_id"] for v in detail["variation_details"]}
    assert by_id[variation_id] == VARIATION_GTIN
    assert set(by_id.values()) == {VARIATION_GTIN, ""}  # the others have none

    listed = client.get("/api/products/", {"per_page": 100}).json()["results"]
    assert {p["id"]: p["global_unique_id"] for p in listed}[product_id] == GTIN
    assert sum(1 for p in listed if p["global_unique_id"]) == 1

    variations = client.get(f"/api/products/{product_id}/variations/", {"per_page": 100}).json()["results"]
    assert {v["id"]: v["global_unique_id"] for v in variations}[variation_id] == VARIATION_GTIN


def test_a_changed_code_alone_is_a_change_the_next_run_writes(client, make_sandbox):
    server, product_id, _variation_id = _store_with_codes(make_sandbox)
    assert run_sync("--full").code == 0
    assert run_sync("--full").code == 0
    unchanged_at = Product.objects.get(id=product_id).synced_at

    server.catalog.edit_product(product_id, touch_modified=False, global_unique_id="4006381333931")
    assert run_sync("--full").code == 0

    product = Product.objects.get(id=product_id)
    assert product.global_unique_id == "4006381333931"
    assert product.synced_at > unchanged_at  # the digest covers it: not skipped as unchanged
    assert client.get(f"/api/products/{product_id}/").json()["global_unique_id"] == "4006381333931"


def test_the_export_and_the_schema_carry_it(client, make_sandbox):
    _server, product_id, _variation_id = _store_with_codes(make_sandbox)
    assert run_sync("--full").code == 0

    schema = yaml.safe_load(client.get("/api/schema/").content)["components"]["schemas"]
    for component in ("Product", "ProductLiveDetail", "Variation"):
        assert schema[component]["properties"]["global_unique_id"] == {"type": "string", "readOnly": True}

    client.force_login(get_user_model().objects.create_user("staff", password="pw", is_staff=True))
    response = client.get("/api/products/export.csv")
    rows = {int(row["id"]): row for row in csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode()))}
    assert rows[product_id]["global_unique_id"] == GTIN


def test_parsing_keeps_it_and_a_store_older_than_9_2_sends_none():
    assert parse_product({**sample("product.json"), "global_unique_id": GTIN}).global_unique_id == GTIN
    assert (
        parse_variation({**sample("variation.json"), "global_unique_id": GTIN}, product_id=22).global_unique_id == GTIN
    )
    assert "global_unique_id" not in sample("product.json")  # the 2017 docs sample predates it
    assert parse_product(sample("product.json")).global_unique_id == ""
    assert "global_unique_id" not in parse_stock(sample("product.json")).model_fields(variation=True)


@pytest.mark.parametrize("value", ["9" * 101, ["9781234567897"], {"gtin": "1"}])
def test_a_code_the_column_cannot_hold_fails_the_item_naming_the_field(value):
    with pytest.raises(PayloadError) as caught:
        parse_product({**sample("product.json"), "global_unique_id": value})

    assert caught.value.field == "global_unique_id"
