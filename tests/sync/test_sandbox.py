"""The WooCommerce sandbox, driven over real HTTP: the stock ``woocommerce`` client (OAuth) for what a
sync does, plain ``requests`` for what a client must be refused."""

import base64
import hashlib
import hmac
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import parse_qsl, quote, urlencode, urlsplit

import pytest
import requests
from django.core.management import call_command
from django.core.management.base import CommandError
from woocommerce import API
from woocommerce.oauth import OAuth

from sync.sandbox.catalog import SandboxCatalog
from sync.sandbox.control import SandboxControl, SandboxControlError
from sync.sandbox.server import SandboxServer

KEY = "ck_test_key"
SECRET = "cs_test_secret"


def wc(server: SandboxServer, key: str = KEY, secret: str = SECRET, timeout: float = 5) -> API:
    return API(url=server.url, consumer_key=key, consumer_secret=secret, timeout=timeout)


def signed_url(server: SandboxServer, endpoint: str, params: dict | None = None, *, timestamp: int | None = None,
               secret: str = SECRET, method: str = "GET") -> str:  # fmt: skip
    """A URL signed by the stock client's signer, with a chosen timestamp (the API class can't set one)."""
    url = f"{server.url}/wp-json/wc/v3/{endpoint}"
    if params:
        url += "?" + urlencode(params)
    oauth = OAuth(url, KEY, secret, version="wc/v3", method=method, oauth_timestamp=timestamp or int(time.time()))
    return oauth.get_oauth_url()


def error_of(response: requests.Response) -> tuple[int, str, str]:
    body = response.json()
    assert body["data"]["status"] == response.status_code
    return response.status_code, body["code"], body["message"]


# --- authentication ---------------------------------------------------------------------------------


def test_stock_client_authenticates_with_oauth_over_http(sandbox):
    response = wc(sandbox).get("products", params={"per_page": 5})

    assert response.status_code == 200
    assert response.headers["Content-Type"] == "application/json; charset=UTF-8"
    assert len(response.json()) == 5


def test_wrong_key_is_refused(sandbox):
    response = wc(sandbox, key="ck_nope").get("products")

    assert error_of(response) == (401, "woocommerce_rest_authentication_error", "Consumer key is invalid.")


def test_wrong_secret_is_refused(sandbox):
    response = wc(sandbox, secret="cs_nope").get("products")

    assert error_of(response) == (
        401,
        "woocommerce_rest_authentication_error",
        "Invalid signature - provided signature does not match.",
    )


def test_hmac_sha1_and_authorization_header_are_accepted(sandbox):
    # A hand-made OAuth header (parameters not in the query string), signed with HMAC-SHA1.
    url = f"{sandbox.url}/wp-json/wc/v3/products"
    oauth = {
        "oauth_consumer_key": KEY,
        "oauth_nonce": "n" * 32,
        "oauth_signature_method": "HMAC-SHA1",
        "oauth_timestamp": str(int(time.time())),
    }
    pairs = sorted({**oauth, "per_page": "3"}.items())
    normalized = "%26".join(quote(f"{quote(k, safe='')}={quote(v, safe='')}", safe="") for k, v in pairs)
    base = f"GET&{quote(url, safe='')}&{normalized}"
    signature = base64.b64encode(hmac.new(f"{SECRET}&".encode(), base.encode(), hashlib.sha1).digest()).decode()
    header = "OAuth " + ", ".join(
        f'{k}="{quote(v, safe="")}"' for k, v in {**oauth, "oauth_signature": signature}.items()
    )

    response = requests.get(url, params={"per_page": "3"}, headers={"Authorization": header}, timeout=5)

    assert response.status_code == 200
    assert len(response.json()) == 3


def test_stale_timestamp_is_refused(sandbox):
    response = requests.get(signed_url(sandbox, "products", timestamp=int(time.time()) - 16 * 60), timeout=5)

    assert error_of(response) == (401, "woocommerce_rest_authentication_error", "Invalid timestamp.")


def test_timestamp_within_window_is_accepted(sandbox):
    response = requests.get(signed_url(sandbox, "products", timestamp=int(time.time()) - 14 * 60), timeout=5)

    assert response.status_code == 200


def test_replayed_nonce_is_refused(sandbox):
    url = signed_url(sandbox, "products", {"per_page": 2})

    first = requests.get(url, timeout=5)
    replay = requests.get(url, timeout=5)

    assert first.status_code == 200
    assert error_of(replay) == (
        401,
        "woocommerce_rest_authentication_error",
        "Invalid nonce - nonce has already been used.",
    )


def test_partial_oauth_parameters_name_the_missing_ones(sandbox):
    response = requests.get(
        f"{sandbox.url}/wp-json/wc/v3/products",
        params={"oauth_consumer_key": KEY, "oauth_timestamp": str(int(time.time()))},
        timeout=5,
    )

    assert error_of(response) == (
        401,
        "woocommerce_rest_authentication_missing_parameter",
        "Missing OAuth parameters oauth_nonce, oauth_signature, oauth_signature_method",
    )


@pytest.mark.parametrize(
    "how",
    [
        {"auth": (KEY, SECRET)},
        {"params": {"consumer_key": KEY, "consumer_secret": SECRET}},
        {},
    ],
    ids=["basic-auth", "query-string-keys", "no-auth"],
)
def test_basic_auth_and_query_string_keys_are_refused_over_http(sandbox, how):
    response = requests.get(f"{sandbox.url}/wp-json/wc/v3/products", timeout=5, **how)

    assert error_of(response) == (401, "woocommerce_rest_cannot_view", "Sorry, you cannot list resources.")
    assert "WWW-Authenticate" not in response.headers


def test_signature_is_checked_against_the_site_url_not_the_host_used(sandbox):
    # "localhost" reaches the same socket, but WooCommerce signs with its own home URL.
    other_host = API(url=sandbox.url.replace("127.0.0.1", "localhost"), consumer_key=KEY, consumer_secret=SECRET)

    response = other_host.get("products")

    assert error_of(response)[2] == "Invalid signature - provided signature does not match."


def test_stock_client_signature_fails_for_values_with_a_slash(sandbox):
    # WooCommerce rawurlencodes "/", the stock client's quote() keeps it: such a request is refused.
    response = wc(sandbox).get("products", params={"search": "a/b"})

    assert error_of(response)[2] == "Invalid signature - provided signature does not match."


def test_read_only_key_may_read_but_not_write(make_sandbox):
    server = make_sandbox(products=5)
    server.add_api_key("ck_read", "cs_read", permissions="read")
    reader = wc(server, key="ck_read", secret="cs_read")

    read = reader.get("products")
    write = reader.post("products/batch", {"create": [{"name": "Nope"}]})

    assert read.status_code == 200
    assert error_of(write) == (
        401,
        "woocommerce_rest_authentication_error",
        "The API key provided does not have write permissions.",
    )
    assert len(server.catalog.products) == 5


# --- listing, pagination and parameters -------------------------------------------------------------


def test_pagination_headers_and_link_relations(sandbox):
    total = sum(1 for p in sandbox.catalog.products.values() if p["status"] != "trash")
    api = wc(sandbox)

    first = api.get("products", params={"per_page": 10, "page": 1, "orderby": "id", "order": "asc"})
    middle = api.get("products", params={"per_page": 10, "page": 2, "orderby": "id", "order": "asc"})
    last = api.get("products", params={"per_page": 10, "page": 4, "orderby": "id", "order": "asc"})

    assert total == 39  # seed 1: one of the 40 products is already in the trash
    assert first.headers["X-WP-Total"] == "39"
    assert first.headers["X-WP-TotalPages"] == "4"
    assert re.findall(r'rel="(\w+)"', first.headers["Link"]) == ["next"]
    assert re.findall(r'rel="(\w+)"', middle.headers["Link"]) == ["prev", "next"]
    assert re.findall(r'rel="(\w+)"', last.headers["Link"]) == ["prev"]
    assert len(last.json()) == 9
    next_url = re.search(r"<([^>]+)>; rel=\"next\"", middle.headers["Link"]).group(1)
    next_query = dict(parse_qsl(urlsplit(next_url).query))
    assert next_query["page"] == "3"
    assert next_query["per_page"] == "10"
    assert "oauth_signature" in next_query  # the request's own query, OAuth included, as WooCommerce does
    ids = [p["id"] for r in (first, middle, last) for p in r.json()]
    assert ids == sorted(ids)


def test_following_a_link_header_fails_because_it_repeats_the_nonce(sandbox):
    page = wc(sandbox).get("products", params={"per_page": 10})
    next_url = re.search(r"<([^>]+)>; rel=\"next\"", page.headers["Link"]).group(1)

    response = requests.get(next_url, timeout=5)

    assert response.status_code == 401


def test_page_past_the_end_is_empty_with_totals(sandbox):
    response = wc(sandbox).get("products", params={"per_page": 10, "page": 999})

    assert response.status_code == 200
    assert response.json() == []
    assert response.headers["X-WP-Total"] == "39"
    assert response.headers["X-WP-TotalPages"] == "4"
    assert re.findall(r'rel="(\w+)"', response.headers["Link"]) == ["prev"]


def test_keep_alive_session_reuses_one_connection(sandbox):
    before = sandbox.connections_accepted
    with requests.Session() as session:
        for page in (1, 2, 3):
            response = session.get(signed_url(sandbox, "products", {"page": page}), timeout=5)
            assert response.status_code == 200

    assert sandbox.connections_accepted - before == 1


@pytest.mark.parametrize(
    ("params", "invalid"),
    [
        ({"per_page": 101}, {"per_page": "per_page must be between 1 (inclusive) and 100 (inclusive)"}),
        ({"per_page": 0}, {"per_page": "per_page must be between 1 (inclusive) and 100 (inclusive)"}),
        ({"page": 0}, {"page": "page must be greater than or equal to 1"}),
        ({"page": "abc"}, {"page": "page is not of type integer."}),
        (
            {"orderby": "name"},
            {
                "orderby": "orderby is not one of date, id, include, title, slug, modified, menu_order, price, "
                "popularity, and rating."
            },
        ),
        (
            {"status": "deleted"},
            {"status": "status is not one of any, future, trash, draft, pending, private, and publish."},
        ),
        ({"type": "variation"}, {"type": "type is not one of simple, grouped, external, and variable."}),
        ({"modified_after": "yesterday"}, {"modified_after": "Invalid date."}),
        ({"dates_are_gmt": "yes"}, {"dates_are_gmt": "dates_are_gmt is not of type boolean."}),
        ({"include": "1,x"}, {"include": "include[1] is not of type integer."}),
    ],
)
def test_invalid_parameters_are_400_rest_invalid_param(sandbox, params, invalid):
    response = wc(sandbox).get("products", params=params)

    body = response.json()
    assert response.status_code == 400
    assert body["code"] == "rest_invalid_param"
    assert body["message"] == f"Invalid parameter(s): {', '.join(invalid)}"
    assert body["data"]["params"] == invalid


def test_several_invalid_parameters_are_reported_together(sandbox):
    body = wc(sandbox).get("products", params={"page": 0, "per_page": 500}).json()

    assert body["message"] == "Invalid parameter(s): page, per_page"
    assert set(body["data"]["params"]) == {"page", "per_page"}


def test_validation_comes_before_authentication_of_the_controller(sandbox):
    # WordPress validates arguments before the permission callback: no credentials + bad per_page → 400.
    response = requests.get(f"{sandbox.url}/wp-json/wc/v3/products", params={"per_page": 500}, timeout=5)

    assert response.status_code == 400


def test_repeated_query_key_keeps_the_last_value(sandbox):
    # Signed over per_page=4; an earlier per_page=3 in the URL is overridden, as PHP's $_GET does.
    url = signed_url(sandbox, "products", {"per_page": 4}).replace("?", "?per_page=3&", 1)

    response = requests.get(url, timeout=5)

    assert response.status_code == 200
    assert len(response.json()) == 4


def test_status_any_excludes_trash_and_status_trash_lists_it(sandbox):
    catalog = sandbox.catalog
    trashed = {p["id"] for p in catalog.products.values() if p["status"] == "trash"}
    api = wc(sandbox)

    listed = {p["id"] for p in api.get("products", params={"per_page": 100}).json()}
    in_trash = {p["id"] for p in api.get("products", params={"per_page": 100, "status": "trash"}).json()}

    assert trashed and not trashed & listed
    assert in_trash == trashed
    assert {catalog.products[i]["status"] for i in listed} <= {"publish", "draft", "pending", "private"}


def test_orderby_date_and_modified_break_ties_by_id(sandbox):
    catalog = sandbox.catalog
    ids = sorted(catalog.products)[:3]
    for product_id in ids:
        catalog.edit_product(product_id, touch_modified=False, date_modified_gmt="2031-01-01T00:00:00")

    response = wc(sandbox).get("products", params={"orderby": "modified", "order": "desc", "per_page": 3})

    assert [p["id"] for p in response.json()] == sorted(ids, reverse=True)


def test_fields_trims_list_items_to_the_asked_fields_plus_id(sandbox):
    api = wc(sandbox)

    listed = api.get("products", params={"_fields": "date_modified_gmt,stock_quantity", "per_page": 3}).json()
    single = api.get(f"products/{listed[0]['id']}", params={"_fields": "name"}).json()
    nested = api.get("products", params={"_fields": "id,dimensions.width", "per_page": 1}).json()

    assert [set(item) for item in listed] == [{"id", "date_modified_gmt", "stock_quantity"}] * 3
    assert set(single) == {"id", "name", "_links"}
    assert set(nested[0]) == {"id", "dimensions"} and set(nested[0]["dimensions"]) == {"width"}


def test_include_and_exclude_take_comma_lists(sandbox):
    ids = sorted(p["id"] for p in sandbox.catalog.products.values() if p["status"] == "publish")[:4]
    api = wc(sandbox)

    included = api.get("products", params={"include": ",".join(map(str, ids)), "orderby": "include"}).json()
    excluded = api.get("products", params={"exclude": f"{ids[0]},{ids[1]}", "per_page": 100}).json()

    assert [p["id"] for p in included] == ids
    assert not {ids[0], ids[1]} & {p["id"] for p in excluded}


def test_sku_filter_also_returns_variations_in_product_shape(sandbox):
    catalog = sandbox.catalog
    variation = next(v for v in catalog.variations.values() if v["sku"] and v["status"] == "publish")
    product = next(
        p for p in catalog.products.values() if p["sku"] and p["status"] == "publish" and p["type"] == "simple"
    )

    found = wc(sandbox).get("products", params={"sku": f"{variation['sku']},{product['sku']}"}).json()

    by_id = {item["id"]: item for item in found}
    assert variation["id"] in by_id and product["id"] in by_id
    assert by_id[variation["id"]]["type"] == "variation"
    assert by_id[variation["id"]]["parent_id"] == variation["parent_id"]
    assert by_id[variation["id"]]["name"].startswith(catalog.products[variation["parent_id"]]["name"])


def test_modified_after_is_strict_and_honours_dates_are_gmt(sandbox):
    # Site time zone is Europe/Berlin: 10:00:00 GMT on 1 January is 11:00:00 local.
    catalog = sandbox.catalog
    product_id = next(p["id"] for p in catalog.products.values() if p["status"] == "publish")
    catalog.edit_product(product_id, touch_modified=False, date_modified_gmt="2030-01-01T10:00:00")
    api = wc(sandbox)

    def ids(**params):
        return {p["id"] for p in api.get("products", params={"per_page": 100, **params}).json()}

    assert catalog.products[product_id]["date_modified"] == "2030-01-01T11:00:00"
    assert ids(modified_after="2030-01-01T09:59:59", dates_are_gmt="true") == {product_id}
    assert ids(modified_after="2030-01-01T10:00:00", dates_are_gmt="true") == set()  # strictly after
    assert ids(modified_after="2030-01-01T10:30:00") == {product_id}  # local time, 11:00 > 10:30
    assert ids(modified_after="2030-01-01T11:00:00") == set()
    # A zone suffix is converted to site time even with dates_are_gmt=true (WordPress's quirk).
    assert ids(modified_after="2030-01-01T09:30:00Z", dates_are_gmt="true") == set()
    assert ids(modified_before="2030-01-01T10:00:01", modified_after="2030-01-01T09:59:59", dates_are_gmt="1") == {
        product_id
    }


def test_sell_changes_stock_without_touching_date_modified(sandbox):
    catalog = sandbox.catalog
    product = next(p for p in catalog.products.values() if p["manage_stock"] is True and p["stock_quantity"] > 2)
    before = catalog.product_payload(product["id"])

    catalog.sell(product["id"], 2)
    after = wc(sandbox).get(f"products/{product['id']}").json()

    assert after["stock_quantity"] == before["stock_quantity"] - 2
    assert after["total_sales"] == before["total_sales"] + 2
    assert after["date_modified_gmt"] == before["date_modified_gmt"]


def test_selling_the_last_unit_marks_out_of_stock(sandbox):
    catalog = sandbox.catalog
    product_id = catalog.add_product(name="Last one", regular_price="5", manage_stock=True, stock_quantity=1)

    result = catalog.sell(product_id, 1)

    assert result == {"id": product_id, "stock_quantity": 0, "stock_status": "outofstock"}


def test_edit_bumps_date_modified_and_variable_parent_follows_variation_prices(sandbox):
    catalog = sandbox.catalog
    parent = next(p for p in catalog.products.values() if p["type"] == "variable" and p["status"] == "publish")
    variation_id = parent["variations"][0]

    catalog.edit_variation(variation_id, regular_price="0.50", sale_price="")
    payload = wc(sandbox).get(f"products/{parent['id']}").json()

    assert payload["price"] == "0.50"
    assert payload["regular_price"] == ""
    assert catalog.variations[variation_id]["date_modified_gmt"] > "2026-01-01T00:00:00"


# --- single items, trash and delete -----------------------------------------------------------------


def test_trashed_product_is_still_reachable_and_deleted_one_is_404(sandbox):
    catalog = sandbox.catalog
    trashed_id, deleted_id = sorted(p["id"] for p in catalog.products.values() if p["status"] == "publish")[:2]
    api = wc(sandbox)

    catalog.trash_product(trashed_id)
    catalog.delete_product(deleted_id)
    trashed = api.get(f"products/{trashed_id}")
    deleted = api.get(f"products/{deleted_id}")
    listed = {p["id"] for p in api.get("products", params={"per_page": 100}).json()}
    in_trash = {p["id"] for p in api.get("products", params={"per_page": 100, "status": "trash"}).json()}

    assert trashed.status_code == 200
    assert trashed.json()["status"] == "trash"
    assert trashed.json()["slug"].endswith("__trashed")
    assert error_of(deleted) == (404, "woocommerce_rest_product_invalid_id", "Invalid ID.")
    assert trashed_id not in listed and trashed_id in in_trash
    assert deleted_id not in listed and deleted_id not in in_trash


def test_restoring_from_trash_gives_a_draft_as_wordpress_does(sandbox):
    catalog = sandbox.catalog
    product_id = next(p["id"] for p in catalog.products.values() if p["status"] == "publish")
    catalog.trash_product(product_id)

    restored = catalog.restore_product(product_id)

    assert restored["status"] == "draft"
    assert not restored["slug"].endswith("__trashed")


def test_deleting_a_variable_product_removes_its_variations(sandbox):
    catalog = sandbox.catalog
    parent = next(p for p in catalog.products.values() if p["type"] == "variable")
    variation_id = parent["variations"][0]

    catalog.delete_product(parent["id"])
    response = wc(sandbox).get(f"products/{parent['id']}/variations/{variation_id}")

    assert variation_id not in catalog.variations
    assert error_of(response) == (404, "woocommerce_rest_product_variation_invalid_id", "Invalid ID.")


def test_variation_id_on_products_endpoint_gives_product_shape(sandbox):
    variation = next(iter(sandbox.catalog.variations.values()))

    payload = wc(sandbox).get(f"products/{variation['id']}").json()

    assert payload["type"] == "variation"
    assert payload["parent_id"] == variation["parent_id"]
    assert payload["variations"] == []


def test_unknown_routes_and_missing_terms(sandbox):
    api = wc(sandbox)

    assert error_of(api.get("orders")) == (
        404,
        "rest_no_route",
        "No route was found matching the URL and request method",
    )
    assert error_of(api.get("products/categories/999999")) == (
        404,
        "woocommerce_rest_term_invalid",
        "Resource does not exist.",
    )


def test_missing_product_is_404_even_without_credentials(sandbox):
    # WooCommerce only checks permissions on objects that exist.
    response = requests.get(f"{sandbox.url}/wp-json/wc/v3/products/999999", timeout=5)

    assert error_of(response) == (404, "woocommerce_rest_product_invalid_id", "Invalid ID.")


# --- variations and categories ----------------------------------------------------------------------


def test_per_product_variations_have_no_parent_id_and_store_wide_ones_do(sandbox):
    catalog = sandbox.catalog
    parent = next(p for p in catalog.products.values() if p["type"] == "variable" and p["status"] == "publish")
    api = wc(sandbox)

    per_product = api.get(f"products/{parent['id']}/variations", params={"per_page": 100}).json()
    store_wide = api.get("variations", params={"per_page": 100, "orderby": "id", "order": "asc"})

    assert {v["id"] for v in per_product} == {
        v for v in parent["variations"] if catalog.variations[v]["status"] != "trash"
    }
    assert all("parent_id" not in v and "name" not in v and "type" not in v for v in per_product)
    assert all("image" in v and "images" not in v for v in per_product)
    store_items = store_wide.json()
    assert store_wide.headers["X-WP-Total"] == str(
        sum(1 for v in catalog.variations.values() if v["status"] != "trash")
    )
    assert all(v["parent_id"] == catalog.variations[v["id"]]["parent_id"] for v in store_items)


def test_store_wide_variations_can_be_switched_off(make_sandbox):
    server = make_sandbox(store_variations=False)

    response = wc(server).get("variations")
    server.store_variations = True
    again = wc(server).get("variations")

    assert error_of(response)[:2] == (404, "rest_no_route")
    assert again.status_code == 200


def test_categories_list_defaults_to_name_order_and_keeps_the_tree(sandbox):
    catalog = sandbox.catalog
    response = wc(sandbox).get("products/categories", params={"per_page": 100})

    items = response.json()
    assert [c["name"].casefold() for c in items] == sorted(c["name"].casefold() for c in items)
    assert response.headers["X-WP-Total"] == str(len(catalog.categories))
    assert {c["id"] for c in items} == set(catalog.categories)
    assert all(c["parent"] == 0 or c["parent"] in catalog.categories for c in items)
    assert all(c["image"] == [] or isinstance(c["image"], dict) for c in items)


# --- batch --------------------------------------------------------------------------------------------


def test_batch_over_100_items_is_413(sandbox):
    response = wc(sandbox).post("products/batch", {"create": [{"name": f"p{i}"} for i in range(60)],
                                                  "delete": list(range(1, 42))})  # fmt: skip

    assert error_of(response) == (
        413,
        "woocommerce_rest_request_entity_too_large",
        "Unable to accept more than 100 items for this request.",
    )


def test_batch_creates_updates_and_deletes_with_per_item_errors(sandbox):
    catalog = sandbox.catalog
    update_id, delete_id = sorted(p["id"] for p in catalog.products.values() if p["status"] == "publish")[:2]

    response = wc(sandbox).post(
        "products/batch",
        {
            "create": [{"name": "Fresh", "regular_price": "3.50"}],
            "update": [{"id": update_id, "regular_price": "77"}, {"id": 999999, "name": "ghost"}],
            "delete": [delete_id, 888888],
        },
    )

    body = response.json()
    assert response.status_code == 200
    created_id = body["create"][0]["id"]
    assert catalog.products[created_id]["price"] == "3.50"
    assert body["update"][0]["price"] == "77"
    assert body["update"][1] == {
        "id": 999999,
        "error": {"code": "woocommerce_rest_product_invalid_id", "message": "Invalid ID.", "data": {"status": 400}},
    }
    assert body["delete"][0]["id"] == delete_id
    assert delete_id not in catalog.products  # batch delete is permanent
    assert body["delete"][1]["error"]["code"] == "woocommerce_rest_product_invalid_id"


# --- faults -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("kind", "marker"), [("500", b"critical error"), ("502", b"502 Bad Gateway"),
                                               ("504", b"504 Gateway Time-out")])  # fmt: skip
def test_server_error_faults_answer_html(sandbox, kind, marker):
    sandbox.set_faults(kinds=(kind,), count=1)
    api = wc(sandbox)

    faulted = api.get("products")
    healthy = api.get("products")

    assert faulted.status_code == int(kind)
    assert faulted.headers["Content-Type"].startswith("text/html")
    assert marker in faulted.content
    assert healthy.status_code == 200
    assert sandbox.stats["faults_injected"] == 1


def test_429_fault_carries_retry_after(sandbox):
    sandbox.set_faults(kinds=("429",), count=1, retry_after=7)

    response = wc(sandbox).get("products")

    assert response.status_code == 429
    assert response.headers["Retry-After"] == "7"


def test_timeout_fault_holds_the_answer(sandbox):
    sandbox.set_faults(kinds=("timeout",), count=2, timeout_seconds=1.5)

    with pytest.raises(requests.exceptions.ReadTimeout):
        wc(sandbox, timeout=0.3).get("products")
    started = time.monotonic()
    late = wc(sandbox, timeout=5).get("products")

    assert late.status_code == 200
    assert time.monotonic() - started >= 1.4


def test_drop_fault_closes_the_connection(sandbox):
    sandbox.set_faults(kinds=("drop",), count=1)

    with pytest.raises(requests.exceptions.ConnectionError):
        wc(sandbox).get("products")
    assert wc(sandbox).get("products").status_code == 200
    assert sandbox.stats["by_status"]["dropped"] == 1


def test_malformed_fault_truncates_the_json(sandbox):
    sandbox.set_faults(kinds=("malformed",), count=1)

    response = wc(sandbox).get("products")

    assert response.status_code == 200
    with pytest.raises(ValueError):
        response.json()


def test_fault_rate_is_seeded_and_paths_filter(sandbox):
    def run() -> list[int]:
        sandbox.set_faults(rate=0.5, kinds=("500",), seed=11, paths=r"/products$")
        api = wc(sandbox)
        statuses = [api.get("products").status_code for _ in range(12)]
        categories = [api.get("products/categories").status_code for _ in range(3)]
        assert categories == [200, 200, 200]
        return statuses

    first, second = run(), run()

    assert first == second
    assert 0 < first.count(500) < 12


def test_stats_count_a_request_before_it_is_answered(sandbox):
    control = SandboxControl(sandbox.url)

    for _ in range(20):
        sandbox.reset_stats()
        wc(sandbox).get("products/999999")
        control.state()  # control requests are not counted
        assert sandbox.stats == {
            **{"writes": 0, "writes_in_flight": 0, "max_writes_in_flight": 0},
            **{"requests_in_flight": 0, "max_requests_in_flight": 1},  # out of the count before it answers
            "requests": 1,
            "by_endpoint": {"GET products/<id>": 1},
            "faults_injected": 0,
            "by_status": {"404": 1},
            "by_auth": {"oauth": 1},
        }


def test_latency_delays_api_but_not_control(sandbox):
    sandbox.latency_ms = 300
    control = SandboxControl(sandbox.url)

    started = time.monotonic()
    wc(sandbox).get("products")
    api_seconds = time.monotonic() - started
    started = time.monotonic()
    control.state()
    control_seconds = time.monotonic() - started

    assert api_seconds >= 0.3
    assert control_seconds < 0.3


def test_page_limit_answers_the_proxys_504_to_bigger_pages_and_can_be_changed_over_http(sandbox):
    control = SandboxControl(sandbox.url)
    assert control.configure(page_limit=20)["page_limit"] == 20
    api = wc(sandbox)

    too_big = api.get("products", params={"per_page": 21})
    fits = api.get("products", params={"per_page": 20})
    default = api.get("products")  # WooCommerce's default per_page is 10

    assert too_big.status_code == 504
    assert "Gateway Time-out" in too_big.text
    assert too_big.headers["Content-Type"].startswith("text/html")
    assert (fits.status_code, len(fits.json())) == (200, 20)
    assert default.status_code == 200
    control.configure(page_limit=5)
    one = next(iter(sandbox.catalog.products))
    assert api.get(f"products/{one}").status_code == 200  # a single item is not a page
    assert api.get("products").status_code == 504  # 10 per page by default
    assert control.configure(page_limit=None)["page_limit"] is None
    assert api.get("products", params={"per_page": 100}).status_code == 200
    with pytest.raises(SandboxControlError):
        control.configure(page_limit=0)


# --- control interface over HTTP ----------------------------------------------------------------------


def test_control_interface_drives_the_catalog(sandbox):
    control = SandboxControl(sandbox.control_url)
    api = wc(sandbox)

    new_id = control.add_product(name="Über Mug", regular_price="12", manage_stock=True, stock_quantity=4)
    control.sell(new_id, 1)
    edited = control.edit_product(new_id, touch_modified=False, sale_price="9")
    variable = next(p for p in sandbox.catalog.products.values() if p["type"] == "variable")
    sold_variation = next(v for v in variable["variations"] if sandbox.catalog.variations[v]["manage_stock"] is True)
    control._call("POST", f"variations/{sold_variation}/sell", {"quantity": 1})
    category_id = control.add_category(name="Control Cat")
    control.configure(store_variations=False)
    state = control.state()

    assert api.get(f"products/{new_id}").json()["stock_quantity"] == 3
    assert edited["price"] == "9" and edited["on_sale"] is True
    assert api.get(f"products/categories/{category_id}").json()["name"] == "Control Cat"
    assert state["config"]["store_variations"] is False
    assert state["counts"]["categories"] == len(sandbox.catalog.categories)
    control.trash_product(new_id)
    assert api.get(f"products/{new_id}").json()["status"] == "trash"
    control.delete_product(new_id)
    assert api.get(f"products/{new_id}").status_code == 404
    with pytest.raises(SandboxControlError) as missing:
        control.edit_product(new_id, name="gone")
    assert missing.value.status == 404
    control.set_faults(kinds=["502"], count=1)
    assert api.get("products").status_code == 502
    control.clear_faults()
    assert control.stats()["faults_injected"] == 1
    control.reset_stats()
    assert control.stats()["requests"] == 0


def test_control_rejects_bad_input(sandbox):
    response = requests.post(f"{sandbox.control_url}products/1", data="{not json", timeout=5)
    unknown = requests.post(f"{sandbox.control_url}faults", json={"kinds": ["boom"]}, timeout=5)

    assert response.status_code == 400
    assert unknown.status_code == 400
    assert "boom" in unknown.json()["error"]


# --- generation ---------------------------------------------------------------------------------------


def test_same_seed_gives_the_same_catalog_and_another_seed_does_not():
    first = SandboxCatalog.generate(products=300, variable_share=0.2, categories=12, seed=5)
    second = SandboxCatalog.generate(products=300, variable_share=0.2, categories=12, seed=5)
    other = SandboxCatalog.generate(products=300, variable_share=0.2, categories=12, seed=6)

    assert json.dumps(first.products) == json.dumps(second.products)
    assert json.dumps(first.variations) == json.dumps(second.variations)
    assert json.dumps(first.categories) == json.dumps(second.categories)
    assert json.dumps(first.products) != json.dumps(other.products)


def test_generated_catalog_has_the_realistic_mess():
    catalog = SandboxCatalog.generate(products=2000, variable_share=0.1, categories=30, seed=42)
    products = list(catalog.products.values())
    variations = list(catalog.variations.values())
    statuses = [p["status"] for p in products]
    skus = [p["sku"] for p in products if p["sku"]]
    image_ids = {i["id"] for p in products for i in p["images"]}
    all_ids = sorted([*catalog.products, *catalog.variations, *image_ids])

    assert 0.85 < statuses.count("publish") / len(products) < 0.95
    assert {"draft", "pending", "private", "trash"} <= set(statuses)
    assert all(p["slug"] == "" for p in products if p["status"] in ("draft", "pending"))
    assert 0.02 < sum(1 for p in products if not p["sku"]) / len(products) < 0.08
    assert len(skus) > len(set(skus))  # duplicated SKUs
    assert any(c["parent"] and c["id"] < c["parent"] for c in catalog.categories.values())
    depth = {c["id"]: 0 for c in catalog.categories.values()}
    for category in catalog.categories.values():
        node, level = category, 0
        while node["parent"]:
            node, level = catalog.categories[node["parent"]], level + 1
        depth[category["id"]] = level
    assert max(depth.values()) == 2
    assert any(p["on_sale"] and p["date_on_sale_to"] for p in products)
    assert any(p["on_sale"] and not p["date_on_sale_to"] for p in products)
    assert any(p["sale_price"] and not p["on_sale"] for p in products)  # scheduled, not started
    assert any(isinstance(p["stock_quantity"], float) for p in products)
    assert {p["stock_status"] for p in products} == {"instock", "outofstock", "onbackorder"}
    assert any(p["manage_stock"] is False for p in products) and any(p["manage_stock"] is True for p in products)
    assert any(not p["name"].isascii() for p in products) and any("&amp;" in p["name"] for p in products)
    assert any("<" in p["description"] for p in products)
    assert {len(p["images"]) for p in products} == {0, 1, 2, 3}
    variable = [p for p in products if p["type"] == "variable"]
    assert 0.07 < len(variable) / len(products) < 0.13
    assert {len(p["variations"]) for p in variable} <= set(range(2, 7)) and len(variable) > 0
    assert all(p["regular_price"] == "" and p["stock_quantity"] is None for p in variable if not p["manage_stock"])
    assert {v["manage_stock"] for v in variations} == {True, False, "parent"}
    assert len(all_ids) == len(set(all_ids))  # one id sequence shared by products, variations and images
    assert all_ids[-1] - all_ids[0] + 1 > len(all_ids)  # with gaps
    product_ids = sorted(catalog.products)
    assert any(product_ids[0] < v < product_ids[-1] for v in catalog.variations)  # interleaved


def test_a_large_catalog_is_generated_whole():
    # How long it takes is the benchmarks' business (bench_sync builds these), not a timed assertion.
    catalog = SandboxCatalog.generate(products=20000, variable_share=0.1, categories=30, seed=1)

    assert len(catalog.products) == 20000
    assert len(catalog.categories) == 30


# --- management command -------------------------------------------------------------------------------


def test_command_help_says_what_it_is_for(capsys):
    with pytest.raises(SystemExit) as exit_info:
        call_command("woocommerce_sandbox", "--help")

    out = capsys.readouterr().out
    assert exit_info.value.code == 0
    assert "test double" in out and "--no-store-variations" in out and "--allow-remote" in out


def test_command_refuses_a_non_loopback_host():
    with pytest.raises(CommandError, match="--allow-remote"):
        call_command("woocommerce_sandbox", "--host", "0.0.0.0", "--products", "1")


def test_command_serves_until_sigterm_and_exits_cleanly(tmp_path):
    # The command in its own process, as the demo and the benchmarks run it.
    manage = Path(__file__).resolve().parents[2] / "manage.py"
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "crushme_project.settings.test", "PYTHONUNBUFFERED": "1"}
    process = subprocess.Popen(
        [
            sys.executable,
            str(manage),
            "woocommerce_sandbox",
            "--port",
            "0",
            "--products",
            "30",
            "--seed",
            "3",
            "--consumer-key",
            "ck_cmd",
            "--consumer-secret",
            "cs_cmd",
            "--no-store-variations",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
    )
    try:
        lines = []
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            line = process.stdout.readline()
            lines.append(line)
            if line.startswith("Control interface:") or not line:
                break
        url = next(line.split()[-1] for line in lines if line.startswith("WooCommerce sandbox:"))
        api = API(url=url, consumer_key="ck_cmd", consumer_secret="cs_cmd", timeout=5)

        listed = api.get("products", params={"per_page": 100})
        no_route = api.get("variations")
        state = SandboxControl(url).state()
    finally:
        process.send_signal(signal.SIGTERM)
        output, _ = process.communicate(timeout=15)

    assert listed.status_code == 200
    assert int(listed.headers["X-WP-Total"]) == state["counts"]["products"] - state["counts"]["products_by_status"].get(
        "trash", 0
    )
    assert no_route.status_code == 404
    assert state["counts"]["products"] == 30
    assert process.returncode == 0
    assert "Sandbox stopped." in output
    assert "cs_cmd" not in "".join(lines) + output  # the secret is never printed


def test_a_grouped_product_follows_the_cheapest_of_its_children_through_edits_additions_and_deletions():
    catalog = SandboxCatalog.generate(products=200, variable_share=0.1, categories=5, seed=3)
    grouped = next(p for p in catalog.products.values() if p["type"] == "grouped" and p["grouped_products"])
    child = grouped["grouped_products"][0]

    catalog.edit_product(child, regular_price="0.50", sale_price="")
    assert catalog.products[grouped["id"]]["price"] == "0.50"

    # a grouped product made after the first edit is followed too, and one deleted is forgotten
    cheap = catalog.add_product(name="Cheap", type="simple", regular_price="0.25", status="publish")
    bundle = catalog.add_product(name="Bundle", type="grouped", grouped_products=[cheap], status="publish")
    catalog.edit_product(cheap, regular_price="0.10")
    assert catalog.products[bundle]["price"] == "0.10"
    catalog.delete_product(bundle)
    catalog.edit_product(cheap, regular_price="0.20")
    assert bundle not in catalog.products
