"""The WooCommerce client adapter against the sandbox store over real HTTP on loopback.

Nothing here patches the client, ``requests`` or the network: faults, latency and wrong credentials are
the sandbox's own. Attempts are counted on the server side (``server.stats``, the fault injector's
``remaining`` count, accepted TCP connections) as well as by the client's ``requests_sent``.
"""

from __future__ import annotations

import logging
import socket
import threading
import time
from datetime import UTC, datetime, timedelta, timezone
from email.utils import format_datetime

import pytest
import requests

from sync.sandbox.server import SandboxServer
from sync.woocommerce.client import (
    DEFAULT_USER_AGENT,
    Page,
    WooCommerceBadResponse,
    WooCommerceClient,
    WooCommerceClientError,
    WooCommerceError,
    WooCommerceNotFound,
    WooCommerceRateLimited,
    WooCommerceTimeout,
    WooCommerceUnauthorized,
    WooCommerceUnavailable,
    _OAuth,
    _retry_after,
    encode_params,
    redact,
)

KEY = "ck_test_key"  # crushme_project.settings.test
SECRET = "cs_test_secret"


@pytest.fixture
def woo(sandbox: SandboxServer):
    """A client on the sandbox, configured from the test settings (fast backoff: 0.01 s, max 0.2 s)."""
    with WooCommerceClient.from_settings() as client:
        yield client


def listed_product_ids(server: SandboxServer) -> set[int]:
    """What ``GET products`` (status=any) lists: everything but the trash."""
    return {pid for pid, product in server.catalog.products.items() if product["status"] != "trash"}


def wait_for(predicate, timeout: float = 3.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.02)
    return predicate()


def settled_stats(server: SandboxServer, client: WooCommerceClient) -> dict:
    """The sandbox's stats once every request the client sent is in (it records just after answering)."""
    wait_for(lambda: server.stats["requests"] >= client.requests_sent)
    return server.stats


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# --- success, paging, keep-alive --------------------------------------------------------------------------


def test_iter_pages_returns_every_listed_product_exactly_once(make_sandbox, settings):
    server = make_sandbox(products=95, variable_share=0.2)
    expected = listed_product_ids(server)

    with WooCommerceClient.from_settings() as client:
        pages = list(client.iter_pages("products", per_page=10, params={"orderby": "id", "order": "asc"}))

    ids = [item["id"] for page in pages for item in page.items]
    assert sorted(ids) == sorted(expected)
    assert len(ids) == len(set(ids))
    assert ids == sorted(ids)  # orderby=id&order=asc was sent and honoured
    total_pages = -(-len(expected) // 10)
    assert [page.number for page in pages] == list(range(1, total_pages + 1))
    assert all(isinstance(page, Page) and page.total == len(expected) for page in pages)
    assert pages[-1].total_pages == total_pages
    # Bounded: it stopped at X-WP-TotalPages instead of asking for an empty page after it.
    assert settled_stats(server, client)["requests"] == total_pages
    assert client.requests_sent == total_pages


def test_iter_pages_stops_after_max_pages(woo, sandbox):
    pages = list(woo.iter_pages("products", per_page=5, max_pages=2))

    assert [page.number for page in pages] == [1, 2]
    assert settled_stats(sandbox, woo)["requests"] == 2


def test_get_page_past_the_end_is_an_empty_page_with_totals(woo, sandbox):
    page = woo.get_page("products", page=50, per_page=10)

    assert page.items == []
    assert page.total == len(listed_product_ids(sandbox))
    assert page.number == 50


def test_get_returns_parsed_json_and_totals(woo, sandbox):
    product_id = min(listed_product_ids(sandbox))

    response = woo.get(f"products/{product_id}")

    assert response.status == 200
    assert response.data["id"] == product_id
    assert response.total is None  # single items carry no paging headers
    assert response.elapsed_ms > 0
    assert response.attempts == 1


def test_many_requests_reuse_one_keep_alive_connection(woo, sandbox):
    for number in range(1, 31):
        woo.get_page("products", page=number % 4 + 1, per_page=10)

    assert settled_stats(sandbox, woo)["requests"] == 30
    assert sandbox.connections_accepted == 1


def test_a_client_shared_by_threads_pools_its_connections(woo, sandbox):
    errors: list[BaseException] = []

    def fetch() -> None:
        try:
            for number in range(1, 11):
                woo.get_page("products", page=number % 4 + 1, per_page=10)
        except WooCommerceError as error:
            errors.append(error)

    threads = [threading.Thread(target=fetch) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    assert woo.requests_sent == 40
    assert settled_stats(sandbox, woo)["by_status"] == {"200": 40}
    assert sandbox.connections_accepted <= 4


def test_user_agent_is_sent(woo, sandbox, monkeypatch):
    # A spy on the sandbox (the test double), not on the client: record what the server received.
    seen: list[str] = []
    handle = sandbox.api.handle

    def recording_handle(request):
        seen.append(request.headers.get("user-agent", ""))
        return handle(request)

    monkeypatch.setattr(sandbox.api, "handle", recording_handle)

    woo.get("products", {"per_page": 1})

    assert seen == [DEFAULT_USER_AGENT]
    assert seen[0].startswith("CrushMe-Catalog-Sync/")


# --- parameters -------------------------------------------------------------------------------------------


def test_include_list_is_sent_once_as_a_comma_string(woo, sandbox):
    wanted = sorted(listed_product_ids(sandbox))[3:6]

    response = woo.get("products", {"include": wanted, "_fields": ["id", "name"]})

    assert sorted(item["id"] for item in response.data) == wanted
    assert all(set(item) == {"id", "name"} for item in response.data)
    assert settled_stats(sandbox, woo)["by_status"] == {"200": 1}


def test_values_with_slashes_and_unicode_are_signed_as_woocommerce_checks_them(woo, sandbox):
    # The stock signer keeps "/" unencoded; WooCommerce rawurlencodes it, so the stock client got a 401 here.
    response = woo.get("products", {"search": "a/b c+d 100% é"})

    assert response.status == 200
    assert response.data == []


def test_dates_are_sent_as_naive_utc(woo, sandbox):
    listed = listed_product_ids(sandbox)
    paris = timezone(timedelta(hours=1))

    since_epoch = woo.get(
        "products",
        {"modified_after": datetime(2000, 1, 1, 1, 0, tzinfo=paris), "dates_are_gmt": True, "per_page": 100},
    )
    in_future = woo.get("products", {"modified_after": datetime.now(UTC) + timedelta(days=1), "dates_are_gmt": True})

    assert {item["id"] for item in since_epoch.data} == listed
    assert in_future.data == []


def test_encode_params_converts_values_as_woocommerce_expects():
    aware = datetime(2024, 5, 1, 14, 30, 15, 999, tzinfo=timezone(timedelta(hours=2)))

    assert encode_params(
        {
            "include": [3, 1, 2],
            "exclude": (7,),
            "on_sale": True,
            "featured": False,
            "modified_after": aware,
            "naive": datetime(2024, 5, 1, 12, 0),  # noqa: DTZ001 - naive input is read as UTC
            "status": "any",
            "skipped": None,
            "min_price": 9.5,
        }
    ) == {
        "include": "3,1,2",
        "exclude": "7",
        "on_sale": "true",
        "featured": "false",
        "modified_after": "2024-05-01T12:30:15",
        "naive": "2024-05-01T12:00:00",
        "status": "any",
        "min_price": "9.5",
    }


@pytest.mark.parametrize(
    "params",
    [{"include": []}, {"consumer_key": "x"}, {"oauth_nonce": "x"}, {"include": [[1, 2]]}, {"data": object()}],
)
def test_encode_params_refuses_ambiguous_or_reserved_values(params):
    with pytest.raises(ValueError):
        encode_params(params)


@pytest.mark.parametrize("per_page", [0, 101, -1, True])
def test_per_page_out_of_range_is_rejected_before_any_request(woo, sandbox, per_page):
    with pytest.raises(ValueError, match="per_page"):
        woo.get_page("products", page=1, per_page=per_page)
    with pytest.raises(ValueError, match="per_page"):
        list(woo.iter_pages("products", per_page=per_page))

    assert sandbox.stats["requests"] == 0
    assert woo.requests_sent == 0


def test_page_zero_and_absolute_endpoints_are_rejected_locally(woo, sandbox):
    with pytest.raises(ValueError, match="page"):
        woo.get_page("products", page=0, per_page=10)
    with pytest.raises(ValueError, match="endpoint"):
        woo.get("https://evil.example/wp-json/wc/v3/products")
    with pytest.raises(ValueError, match="endpoint"):
        woo.get("products?per_page=5")

    assert sandbox.stats["requests"] == 0


# --- transient faults: retried, then success ---------------------------------------------------------------


@pytest.mark.parametrize("kind", ["500", "502", "504", "429", "drop", "malformed"])
def test_a_transient_fault_is_retried_and_then_succeeds(woo, sandbox, kind):
    sandbox.set_faults(kinds=[kind], count=1, retry_after=0)

    page = woo.get_page("products", page=1, per_page=10)

    assert len(page.items) == 10
    assert woo.requests_sent == 2
    stats = settled_stats(sandbox, woo)
    assert stats["requests"] == 2
    assert stats["faults_injected"] == 1
    # The retry was signed afresh: no "nonce already used" 401 after the fault.
    assert stats["by_status"].get("200") == 1 + (kind == "malformed")
    assert "401" not in stats["by_status"]


def test_a_read_timeout_is_retried_and_then_succeeds(make_sandbox):
    server = make_sandbox()
    server.set_faults(kinds=["timeout"], count=1, timeout_seconds=2.0)

    with WooCommerceClient.from_settings(timeout=0.3) as client:
        started = time.monotonic()
        page = client.get_page("products", page=1, per_page=10)
        elapsed = time.monotonic() - started

    assert len(page.items) == 10
    assert client.requests_sent == 2
    assert server.faults["remaining"] == 0
    assert 0.3 <= elapsed < 1.5  # one read timeout, not the server's 2 s
    assert server.connections_accepted == 2  # the timed-out connection was dropped, not reused


def test_retry_after_is_honoured(make_sandbox):
    server = make_sandbox()
    server.set_faults(kinds=["429"], count=1, retry_after=1)

    with WooCommerceClient.from_settings(backoff_seconds=0.01, backoff_max_seconds=5.0) as client:
        started = time.monotonic()
        client.get("products", {"per_page": 1})
        waited = time.monotonic() - started

    assert 1.0 <= waited < 2.0
    assert settled_stats(server, client)["by_status"] == {"429": 1, "200": 1}


def test_retry_after_is_capped_by_the_backoff_maximum(make_sandbox):
    server = make_sandbox()
    server.set_faults(kinds=["429"], count=1, retry_after=30)

    with WooCommerceClient.from_settings(backoff_max_seconds=0.2) as client:
        started = time.monotonic()
        client.get("products", {"per_page": 1})
        waited = time.monotonic() - started

    assert waited < 1.0
    assert settled_stats(server, client)["requests"] == 2


def test_backoff_grows_between_retries(make_sandbox):
    server = make_sandbox()
    server.set_faults(kinds=["502"], count=3)

    with WooCommerceClient.from_settings(max_retries=3, backoff_seconds=0.1, backoff_max_seconds=5.0) as client:
        started = time.monotonic()
        client.get("products", {"per_page": 1})
        waited = time.monotonic() - started

    # Delays with equal jitter: [0.05, 0.1] + [0.1, 0.2] + [0.2, 0.4] seconds.
    assert 0.35 <= waited < 1.2
    assert settled_stats(server, client)["by_status"] == {"502": 3, "200": 1}


# --- persistent faults: typed error after max_retries + 1 attempts -----------------------------------------


@pytest.mark.parametrize(
    ("kind", "error", "status", "words"),
    [
        ("500", WooCommerceUnavailable, 500, "critical error"),
        ("502", WooCommerceUnavailable, 502, "Bad Gateway"),
        ("504", WooCommerceUnavailable, 504, "Gateway Time-out"),
        ("429", WooCommerceRateLimited, 429, "rate limit"),
        ("drop", WooCommerceUnavailable, None, "Could not reach WooCommerce"),
        ("malformed", WooCommerceBadResponse, 200, "not valid JSON"),
    ],
)
def test_a_persistent_fault_raises_its_typed_error_after_every_attempt(woo, sandbox, kind, error, status, words):
    sandbox.set_faults(kinds=[kind], count=5, retry_after=0)

    with pytest.raises(error) as raised:
        woo.get_page("products", page=1, per_page=10)

    attempts = woo.max_retries + 1
    assert attempts == 3  # WOOCOMMERCE_MAX_RETRIES = 2
    assert raised.value.attempts == attempts
    assert raised.value.status == status
    assert raised.value.endpoint == "products"
    assert raised.value.retryable is True
    assert words in str(raised.value)
    assert f"after {attempts} attempts" in str(raised.value)
    assert "GET products?page=1&per_page=10" in str(raised.value)
    assert settled_stats(sandbox, woo)["requests"] == attempts
    assert sandbox.faults["remaining"] == 5 - attempts
    assert woo.requests_sent == attempts


def test_persistent_rate_limit_carries_retry_after(woo, sandbox):
    sandbox.set_faults(kinds=["429"], count=3, retry_after=0)

    with pytest.raises(WooCommerceRateLimited) as raised:
        woo.get("products")

    assert raised.value.retry_after == 0.0
    assert "Retry-After 0 s" in str(raised.value)
    assert "User-Agent" in str(raised.value)


def test_a_persistent_read_timeout_raises_timeout_after_every_attempt(make_sandbox):
    server = make_sandbox()
    server.set_faults(kinds=["timeout"], count=5, timeout_seconds=3.0)

    with WooCommerceClient.from_settings(timeout=0.2) as client, pytest.raises(WooCommerceTimeout) as raised:
        client.get("products")

    assert raised.value.attempts == 3
    assert raised.value.status is None
    assert server.faults["remaining"] == 2  # exactly three requests reached the store
    assert client.requests_sent == 3
    assert "read 0.2 s" in str(raised.value)
    assert "WOOCOMMERCE_TIMEOUT" in str(raised.value)


def test_per_call_timeout_and_no_retries_for_live_lookups(make_sandbox):
    server = make_sandbox(latency_ms=1500)
    product_id = min(listed_product_ids(server))

    with WooCommerceClient.from_settings() as client:
        started = time.monotonic()
        with pytest.raises(WooCommerceTimeout) as raised:
            client.get(f"products/{product_id}", timeout=0.25, max_retries=0)
        elapsed = time.monotonic() - started

    assert elapsed < 0.8
    assert raised.value.attempts == 1
    assert client.requests_sent == 1


def test_a_dict_where_a_list_is_expected_is_a_bad_response_and_retried(woo, sandbox):
    product_id = min(listed_product_ids(sandbox))

    with pytest.raises(WooCommerceBadResponse, match="JSON list was expected"):
        woo.get_page(f"products/{product_id}", page=1, per_page=10)

    assert settled_stats(sandbox, woo)["requests"] == 3


def test_an_unreachable_store_raises_unavailable_after_every_attempt(settings):
    settings.WOOCOMMERCE_URL = f"http://127.0.0.1:{free_port()}"

    with WooCommerceClient.from_settings() as client, pytest.raises(WooCommerceUnavailable) as raised:
        client.get("products")

    assert client.requests_sent == 3
    assert "Connection refused" in str(raised.value)
    assert "WOOCOMMERCE_URL" in str(raised.value)


# --- terminal failures: exactly one request -----------------------------------------------------------------


def test_a_4xx_is_never_retried(woo, sandbox):
    with pytest.raises(WooCommerceClientError) as raised:
        woo.get("products", {"orderby": "nonsense"})

    assert raised.value.status == 400
    assert raised.value.code == "rest_invalid_param"
    assert raised.value.retryable is False
    assert "orderby" in str(raised.value)
    assert settled_stats(sandbox, woo)["requests"] == 1


def test_an_unknown_product_is_not_found_after_one_request(woo, sandbox):
    with pytest.raises(WooCommerceNotFound) as raised:
        woo.get("products/999999")

    assert raised.value.status == 404
    assert raised.value.code == "woocommerce_rest_product_invalid_id"
    assert settled_stats(sandbox, woo)["requests"] == 1


def test_an_unknown_route_points_at_the_url_setting(woo, sandbox):
    with pytest.raises(WooCommerceNotFound) as raised:
        woo.get("no-such-thing")

    assert raised.value.code == "rest_no_route"
    assert "WOOCOMMERCE_URL" in str(raised.value)
    assert settled_stats(sandbox, woo)["requests"] == 1


@pytest.mark.parametrize(
    ("override", "woo_message"),
    [
        ({"consumer_key": "ck_wrong_key"}, "Consumer key is invalid"),
        ({"consumer_secret": "cs_wrong_secret"}, "provided signature does not match"),
    ],
)
def test_wrong_credentials_raise_unauthorized_after_one_request(sandbox, override, woo_message):
    with WooCommerceClient.from_settings(**override) as client, pytest.raises(WooCommerceUnauthorized) as raised:
        client.get_page("products", page=1, per_page=10)

    error = raised.value
    assert error.status == 401
    assert error.code == "woocommerce_rest_authentication_error"
    assert error.retryable is False
    assert error.attempts == 1
    message = str(error)
    assert woo_message in message
    for hint in ("WOOCOMMERCE_CONSUMER_KEY", "WOOCOMMERCE_CONSUMER_SECRET", "WOOCOMMERCE_URL", "clock"):
        assert hint in message
    for secret in (KEY, SECRET, "ck_wrong_key", "cs_wrong_secret"):
        assert secret not in message
    assert settled_stats(sandbox, client)["requests"] == 1
    assert client.requests_sent == 1


def test_a_key_without_read_permission_is_unauthorized(sandbox):
    sandbox.add_api_key("ck_write_only", "cs_write_only", "write")

    with (
        WooCommerceClient.from_settings(consumer_key="ck_write_only", consumer_secret="cs_write_only") as client,
        pytest.raises(WooCommerceUnauthorized, match="read permissions"),
    ):
        client.get("products")

    assert settled_stats(sandbox, client)["requests"] == 1


# --- nonces -------------------------------------------------------------------------------------------------


def test_every_attempt_gets_a_fresh_strong_nonce():
    nonces = {_OAuth.generate_nonce() for _ in range(2000)}

    assert len(nonces) == 2000
    assert all(len(nonce) == 32 for nonce in nonces)


def test_a_burst_of_requests_in_the_same_second_is_never_refused_as_a_replay(woo, sandbox):
    for _ in range(60):
        woo.get("products", {"per_page": 1, "_fields": "id"})

    assert settled_stats(sandbox, woo)["by_status"] == {"200": 60}


# --- secrets ------------------------------------------------------------------------------------------------


def test_secrets_never_reach_logs_or_exception_text(make_sandbox, caplog):
    server = make_sandbox(products=30)
    caplog.set_level(logging.DEBUG)  # every logger, urllib3's URL-bearing debug lines included
    errors: list[str] = []

    with WooCommerceClient.from_settings() as client:
        list(client.iter_pages("products", per_page=10))  # responses carry Link headers with oauth_* params
        server.set_faults(kinds=["500", "drop"], count=2)
        client.get_page("products", page=2, per_page=10)  # succeeds on the third attempt
        server.set_faults(kinds=["429", "malformed"], count=3, retry_after=0)
        try:
            client.get_page("products", page=1, per_page=10)  # 429, malformed, 429: exhausted
        except WooCommerceRateLimited as error:
            errors.append(str(error))
        server.set_faults(kinds=["drop"], count=3)
        try:
            client.get("products")
        except WooCommerceUnavailable as error:
            errors.append(str(error))
    with WooCommerceClient.from_settings(consumer_secret="cs_wrong_secret") as client:
        try:
            client.get("products")
        except WooCommerceUnauthorized as error:
            errors.append(str(error))
    with WooCommerceClient.from_settings(url=f"http://127.0.0.1:{free_port()}") as client:
        try:
            client.get("products", {"include": [1, 2]})
        except WooCommerceUnavailable as error:
            errors.append(str(error))

    assert len(errors) == 4
    logged = caplog.text
    assert "woocommerce GET products" in logged
    assert "status=500" in logged
    assert "oauth_consumer_key=***" in logged  # urllib3's debug line, redacted (proves it was there)
    for text in [logged, *errors]:
        for secret in (KEY, SECRET, "cs_wrong_secret"):
            assert secret not in text
        for name in ("oauth_signature", "oauth_nonce", "oauth_consumer_key", "consumer_secret"):
            assert f"{name}=" not in text.replace(f"{name}=***", "")


def test_the_link_header_carries_oauth_parameters_that_redact_removes(sandbox):
    # Why the client never logs headers: WooCommerce's Link repeats the signed query string.
    with WooCommerceClient.from_settings() as client:
        signed = client._api._API__request("GET", "products", None, params={"per_page": "5"})
    link = signed.headers["Link"]

    assert "oauth_consumer_key=ck_test_key" in link
    assert "oauth_signature=" in link
    cleaned = redact(link)
    assert KEY not in cleaned
    assert "oauth_signature=***" in cleaned
    assert "per_page=5" in cleaned


def test_client_repr_and_configuration_errors_hide_secrets():
    client = WooCommerceClient(url="http://127.0.0.1:1", consumer_key=KEY, consumer_secret=SECRET)

    assert KEY not in repr(client) and SECRET not in repr(client)
    with pytest.raises(ValueError, match="WOOCOMMERCE_CONSUMER_KEY"):
        WooCommerceClient(url="http://127.0.0.1:1", consumer_key="", consumer_secret=SECRET)
    with pytest.raises(ValueError, match="WOOCOMMERCE_CONSUMER_SECRET"):
        WooCommerceClient(url="http://127.0.0.1:1", consumer_key=KEY, consumer_secret="")
    with pytest.raises(ValueError, match="WOOCOMMERCE_URL"):
        WooCommerceClient(url="127.0.0.1:8800", consumer_key=KEY, consumer_secret=SECRET)


# --- settings and helpers -----------------------------------------------------------------------------------


def test_from_settings_reads_the_woocommerce_settings(settings):
    settings.WOOCOMMERCE_URL = "https://shop.example.com/"
    settings.WOOCOMMERCE_CONSUMER_KEY = "ck_from_settings"
    settings.WOOCOMMERCE_CONSUMER_SECRET = "cs_from_settings"
    settings.WOOCOMMERCE_API_VERSION = "wc/v3"
    settings.WOOCOMMERCE_TIMEOUT = 12.5
    settings.WOOCOMMERCE_CONNECT_TIMEOUT = 1.5
    settings.WOOCOMMERCE_MAX_RETRIES = 4
    settings.WOOCOMMERCE_BACKOFF_SECONDS = 0.5
    settings.WOOCOMMERCE_BACKOFF_MAX_SECONDS = 9.0
    settings.WOOCOMMERCE_VERIFY_SSL = False

    with WooCommerceClient.from_settings() as client:
        assert client.url == "https://shop.example.com"
        assert (client.timeout, client.connect_timeout) == (12.5, 1.5)
        assert client.max_retries == 4
        assert (client.backoff_seconds, client.backoff_max_seconds) == (0.5, 9.0)
        assert client._api.verify_ssl is False
        assert client._api.is_ssl is True  # https: basic auth, as the package chooses
        assert client._api.consumer_key == "ck_from_settings"
        assert client.user_agent == DEFAULT_USER_AGENT

    with WooCommerceClient.from_settings(max_retries=0, timeout=2.0, user_agent="Custom/1.0") as client:
        assert client.max_retries == 0
        assert client.timeout == 2.0
        assert client.user_agent == "Custom/1.0"


def test_retry_after_accepts_seconds_and_http_dates():
    def response_with(value: str) -> requests.Response:
        response = requests.Response()
        response.headers["Retry-After"] = value
        return response

    assert _retry_after(response_with("7")) == 7.0
    assert _retry_after(response_with("-3")) == 0.0
    assert _retry_after(response_with("soon")) is None
    in_ten = format_datetime(datetime.now(UTC) + timedelta(seconds=10), usegmt=True)
    assert 8.0 <= _retry_after(response_with(in_ten)) <= 10.0
    assert _retry_after(requests.Response()) is None
