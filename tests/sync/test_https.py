"""The https path: the sandbox over TLS checks Basic auth and query-string keys as WooCommerce does.

Production talks to WooCommerce over https with Basic auth (``WOOCOMMERCE_URL=https://...``); over plain
http only OAuth 1.0a authenticates. Every test verifies the sandbox's certificate: the sandbox makes a
throwaway CA at start and the client trusts it through ``WOOCOMMERCE_CA_BUNDLE``, never by turning
verification off.
"""

from __future__ import annotations

import base64
import logging
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests
from django.core.management import call_command
from django.core.management.base import CommandError

from catalog.models import Product
from sync.models import SyncRun
from sync.sandbox.catalog import SandboxCatalog
from sync.sandbox.control import SandboxControl, SandboxControlError
from sync.sandbox.server import SandboxServer
from sync.sandbox.tls import make_certificate
from sync.woocommerce.client import (
    WP_CONFIG_HTTPS_FIX,
    WooCommerceClient,
    WooCommerceUnauthorized,
    WooCommerceUnavailable,
    _OAuth,
)
from tests.sync.helpers import PROJECT_ROOT, mirror_differences, run_sync

KEY = "ck_test_key"  # crushme_project.settings.test
SECRET = "cs_test_secret"
CANNOT_LIST = (401, "woocommerce_rest_cannot_view", "Sorry, you cannot list resources.")


@pytest.fixture
def make_tls_sandbox(make_sandbox, settings):
    """Factory: a sandbox serving https, trusted by the client through ``WOOCOMMERCE_CA_BUNDLE``."""

    def _make(**kwargs) -> SandboxServer:
        server = make_sandbox(tls=True, **kwargs)
        settings.WOOCOMMERCE_CA_BUNDLE = str(server.ca_cert)
        return server

    return _make


@pytest.fixture
def tls_sandbox(make_tls_sandbox) -> SandboxServer:
    return make_tls_sandbox(products=12, variable_share=0.25, categories=4)


def products_url(server: SandboxServer) -> str:
    return f"{server.url}/wp-json/wc/v3/products"


def error_of(response: requests.Response) -> tuple[int, str, str]:
    body = response.json()
    return response.status_code, body["code"], body["message"]


def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


# --- a sync over https, through the real client ---------------------------------------------------------


@pytest.mark.django_db
def test_full_sync_over_https_with_basic_auth(make_tls_sandbox, settings):
    server = make_tls_sandbox(products=150, variable_share=0.2, categories=10, seed=5)
    assert settings.WOOCOMMERCE_URL.startswith("https://127.0.0.1:")

    result = run_sync("--full")

    assert result.code == 0, result.stderr
    assert mirror_differences(server.catalog) == []
    assert SyncRun.objects.get().status == "succeeded"
    stats = server.stats
    assert stats["by_auth"] == {"basic": stats["requests"]}  # every request, and none by OAuth
    assert "401" not in stats["by_status"]


@pytest.mark.django_db
def test_full_sync_over_https_with_query_string_auth(make_tls_sandbox, settings, caplog):
    server = make_tls_sandbox(products=60, variable_share=0.2, categories=6, seed=6)
    settings.WOOCOMMERCE_QUERY_STRING_AUTH = True
    caplog.set_level(logging.DEBUG)  # urllib3's debug lines repeat the query string

    result = run_sync("--full")

    assert result.code == 0, result.stderr
    assert mirror_differences(server.catalog) == []
    stats = server.stats
    assert stats["by_auth"] == {"query_string": stats["requests"]}
    assert "consumer_secret=***" in caplog.text  # the keys were in the URL, and were redacted
    for text in (caplog.text, result.stdout, result.stderr):
        assert SECRET not in text


@pytest.mark.django_db
def test_a_store_behind_a_proxy_hiding_https_refuses_the_sync_with_the_wp_config_fix(make_tls_sandbox):
    server = make_tls_sandbox(products=10, proxy_hides_https=True)

    result = run_sync("--full")

    assert result.code == 4, result.stdout + result.stderr  # the credentials were refused: configuration
    assert Product.objects.count() == 0
    run = SyncRun.objects.get()
    assert run.status == "failed"
    for text in (result.stderr, run.error_summary):
        assert "woocommerce_rest_cannot_view" in text
        assert "is_ssl()" in text and "proxy" in text and "X-Forwarded-Proto" in text
        assert f'wp-config.php before "That\'s all, stop editing!": {WP_CONFIG_HTTPS_FIX}' in text
        assert SECRET not in text
    assert server.stats["by_auth"] == {"none": server.stats["requests"]}

    server.proxy_hides_https = False  # the fix applied on the store: the same configuration now works
    assert run_sync("--full").code == 0
    assert mirror_differences(server.catalog) == []


def test_the_proxy_hint_names_the_query_string_when_that_is_what_was_sent(make_tls_sandbox):
    make_tls_sandbox(products=3, proxy_hides_https=True)

    with (
        WooCommerceClient.from_settings(query_string_auth=True) as client,
        pytest.raises(WooCommerceUnauthorized) as raised,
    ):
        client.get("products")

    message = str(raised.value)
    assert raised.value.code == "woocommerce_rest_cannot_view"
    assert raised.value.attempts == 1
    assert "in the query string (WOOCOMMERCE_QUERY_STRING_AUTH)" in message
    assert WP_CONFIG_HTTPS_FIX in message
    assert "Authorization header" not in message  # not the advice for a stripped header: nothing was stripped


def test_a_wrong_secret_over_https_is_not_given_the_proxy_hint(tls_sandbox):
    with (
        WooCommerceClient.from_settings(consumer_secret="cs_wrong_secret") as client,
        pytest.raises(WooCommerceUnauthorized) as raised,
    ):
        client.get("products")

    error = raised.value
    assert (error.status, error.code) == (401, "woocommerce_rest_authentication_error")
    assert "Consumer secret is invalid." in str(error)
    assert WP_CONFIG_HTTPS_FIX not in str(error)
    assert "cs_wrong_secret" not in str(error)


def test_the_client_verifies_the_certificate_without_the_ca_bundle(tls_sandbox, settings):
    settings.WOOCOMMERCE_CA_BUNDLE = ""  # the system's CAs do not know the sandbox's

    with WooCommerceClient.from_settings() as client, pytest.raises(WooCommerceUnavailable) as raised:
        client.get("products")

    assert raised.value.attempts == 1  # a certificate error is not retried
    assert "CERTIFICATE_VERIFY_FAILED" in str(raised.value)
    assert "WOOCOMMERCE_CA_BUNDLE" in str(raised.value)
    assert tls_sandbox.stats["requests"] == 0  # refused during the handshake: no request was sent
    # The failed handshake cost the store nothing: a trusting client is served right after.
    response = requests.get(products_url(tls_sandbox), auth=(KEY, SECRET), verify=tls_sandbox.ca_cert, timeout=5)
    assert response.status_code == 200


def test_a_missing_ca_bundle_file_is_a_clear_configuration_error(settings, tmp_path):
    settings.WOOCOMMERCE_URL = "https://shop.example.com"
    settings.WOOCOMMERCE_CA_BUNDLE = str(tmp_path / "missing.pem")

    with pytest.raises(ValueError, match="WOOCOMMERCE_CA_BUNDLE"):
        WooCommerceClient.from_settings()


# --- what WooCommerce answers over https (WC_REST_Authentication) -------------------------------------------


def test_basic_auth_and_query_string_keys_authenticate_over_https(tls_sandbox):
    ca = tls_sandbox.ca_cert

    by_header = requests.get(products_url(tls_sandbox), auth=(KEY, SECRET), verify=ca, timeout=5)
    by_query = requests.get(
        products_url(tls_sandbox), params={"consumer_key": KEY, "consumer_secret": SECRET}, verify=ca, timeout=5
    )

    assert by_header.status_code == by_query.status_code == 200
    assert by_header.json() == by_query.json() != []
    assert tls_sandbox.stats["by_auth"] == {"basic": 1, "query_string": 1}


@pytest.mark.parametrize(
    ("query", "authorization", "expected"),
    [
        # Query-string keys are read first: they win over a wrong Basic header...
        ({"consumer_key": KEY, "consumer_secret": SECRET}, basic(KEY, "cs_wrong"), 200),
        # ...and a wrong query secret is refused even with a right Basic header.
        ({"consumer_key": KEY, "consumer_secret": "cs_wrong"}, basic(KEY, SECRET), "secret"),
        # Only when both are non-empty: a key alone in the query falls back to Basic.
        ({"consumer_key": KEY}, basic(KEY, SECRET), 200),
        ({"consumer_key": KEY, "consumer_secret": "0"}, basic(KEY, SECRET), 200),  # PHP's empty("0")
        # An unknown key is no error for WooCommerce: the request is simply anonymous.
        ({}, basic("ck_unknown", SECRET), "anonymous"),
        ({"consumer_key": "ck_unknown", "consumer_secret": SECRET}, "", "anonymous"),
        ({}, basic(KEY, "cs_wrong"), "secret"),
        ({}, "", "anonymous"),
        ({}, "basic " + base64.b64encode(f"{KEY}:{SECRET}".encode()).decode(), 200),  # scheme in any case
    ],
    ids=[
        "query-wins-over-wrong-basic",
        "wrong-query-secret",
        "query-key-alone-falls-back-to-basic",
        "query-secret-0-is-empty",
        "unknown-key-by-basic",
        "unknown-key-by-query",
        "wrong-basic-secret",
        "no-credentials",
        "lower-case-scheme",
    ],
)
def test_credentials_are_read_as_woocommerce_reads_them(tls_sandbox, query, authorization, expected):
    headers = {"Authorization": authorization} if authorization else {}

    response = requests.get(
        products_url(tls_sandbox), params=query, headers=headers, verify=tls_sandbox.ca_cert, timeout=5
    )

    if expected == 200:
        assert response.status_code == 200, response.text
    elif expected == "secret":
        assert error_of(response) == (401, "woocommerce_rest_authentication_error", "Consumer secret is invalid.")
    else:
        assert error_of(response) == CANNOT_LIST
    # WooCommerce runs its OAuth check after a failed Basic one, which resets the auth method, so its
    # WWW-Authenticate header (sent only "when the auth method is basic") never goes out.
    assert "WWW-Authenticate" not in response.headers


@pytest.mark.parametrize(
    "authorization",
    [
        "Basic YQBiOng=",  # "a\0b:x": a NUL in the user name
        "Basic !!!",
        "Basic " + base64.b64encode(b"no colon").decode(),
        "Basic " + base64.b64encode(b"\xff\xfe:\x80").decode(),
        "Basic",
        "Basic =",
        "Bearer " + SECRET,
        "Basic " + "A" * 20000,
    ],
)
def test_hostile_basic_headers_are_anonymous_not_a_crash(tls_sandbox, authorization):
    response = requests.get(
        products_url(tls_sandbox), headers={"Authorization": authorization}, verify=tls_sandbox.ca_cert, timeout=5
    )

    assert error_of(response) == CANNOT_LIST
    alive = requests.get(products_url(tls_sandbox), auth=(KEY, SECRET), verify=tls_sandbox.ca_cert, timeout=5)
    assert alive.status_code == 200


def test_a_nul_cuts_the_user_name_as_php_does(tls_sandbox):
    # PHP stores PHP_AUTH_USER as a C string: "<key>\0junk" authenticates as <key>.
    header = "Basic " + base64.b64encode(f"{KEY}\0junk:{SECRET}".encode()).decode()

    response = requests.get(
        products_url(tls_sandbox), headers={"Authorization": header}, verify=tls_sandbox.ca_cert, timeout=5
    )

    assert response.status_code == 200


def test_oauth_signed_for_the_https_url_is_accepted_over_https(tls_sandbox):
    # WooCommerce falls back to OAuth over https and signs the https home URL.
    url = products_url(tls_sandbox)
    oauth = _OAuth(url=url, consumer_key=KEY, consumer_secret=SECRET, version="wc/v3", method="GET",
                   oauth_timestamp=int(time.time()))  # fmt: skip
    signed_https = oauth.signed_url(url, {"per_page": "2"})
    signed_http = oauth.signed_url(url.replace("https://", "http://", 1), {"per_page": "2"})

    accepted = requests.get(signed_https, verify=tls_sandbox.ca_cert, timeout=5)
    refused = requests.get(signed_http.replace("http://", "https://", 1), verify=tls_sandbox.ca_cert, timeout=5)

    assert accepted.status_code == 200
    assert len(accepted.json()) == 2
    assert error_of(refused)[2] == "Invalid signature - provided signature does not match."
    assert tls_sandbox.stats["by_auth"] == {"oauth": 1, "none": 1}


# --- over plain http, and behind a proxy that hides https ----------------------------------------------------


@pytest.mark.parametrize(
    "how",
    [
        {"auth": (KEY, SECRET)},
        {"params": {"consumer_key": KEY, "consumer_secret": SECRET}},
        {"auth": (KEY, "cs_wrong")},  # not even checked: no "Consumer secret is invalid." over http
    ],
    ids=["basic-auth", "query-string-keys", "wrong-basic-secret"],
)
def test_credentials_that_work_over_https_are_refused_over_http_and_behind_a_proxy_hiding_https(
    make_sandbox, make_tls_sandbox, how
):
    plain = make_sandbox(products=3)
    proxied = make_tls_sandbox(products=3, proxy_hides_https=True)

    over_http = requests.get(products_url(plain), timeout=5, **how)
    behind_proxy = requests.get(products_url(proxied), verify=proxied.ca_cert, timeout=5, **how)

    for response in (over_http, behind_proxy):
        assert error_of(response) == CANNOT_LIST  # exactly as with no credentials at all
        assert "WWW-Authenticate" not in response.headers
    assert plain.stats["by_auth"] == proxied.stats["by_auth"] == {"none": 1}


def test_proxy_hides_https_can_be_switched_through_the_control_interface(tls_sandbox):
    control = SandboxControl(tls_sandbox.url, verify=str(tls_sandbox.ca_cert))

    def status() -> int:
        response = requests.get(products_url(tls_sandbox), auth=(KEY, SECRET), verify=tls_sandbox.ca_cert, timeout=5)
        return response.status_code

    assert control.state()["config"]["is_ssl"] is True
    assert status() == 200
    config = control._call("POST", "config", {"proxy_hides_https": True})
    assert (config["tls"], config["proxy_hides_https"], config["is_ssl"]) == (True, True, False)
    assert status() == 401
    with pytest.raises(SandboxControlError, match="proxy_hides_https must be true or false"):
        control._call("POST", "config", {"proxy_hides_https": "yes"})
    control._call("POST", "config", {"proxy_hides_https": False})
    assert status() == 200


# --- TLS set-up -------------------------------------------------------------------------------------------------


def test_a_certificate_of_your_own_is_served(make_sandbox, tmp_path):
    files = make_certificate(tmp_path)
    server = make_sandbox(products=2, tls_cert=files.cert, tls_key=files.key)

    response = requests.get(products_url(server), auth=(KEY, SECRET), verify=files.ca_cert, timeout=5)

    assert server.url.startswith("https://")
    assert server.ca_cert is None  # the caller knows its own CA
    assert response.status_code == 200


def test_the_generated_certificate_is_removed_when_the_sandbox_stops(make_sandbox):
    server = make_sandbox(products=1, tls=True)
    directory = Path(server.ca_cert).parent
    assert directory.is_dir()

    server.stop()

    assert not directory.exists()
    assert server.ca_cert is None


def test_tls_cert_without_key_is_refused():
    with pytest.raises(ValueError, match="tls_cert and tls_key"):
        SandboxServer(SandboxCatalog.generate(products=1, categories=1, seed=1), tls_cert="cert.pem")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--proxy-hides-https"], "needs https"),
        (["--tls-cert", "cert.pem"], "go together"),
        (["--tls-cert", "missing-cert.pem", "--tls-key", "missing-key.pem"], "cannot serve https"),
    ],
)
def test_command_refuses_inconsistent_tls_options(args, message):
    with pytest.raises(CommandError, match=message):
        call_command("woocommerce_sandbox", "--port", "0", "--products", "1", *args)


def test_command_serves_https_and_prints_the_ca_file(tmp_path):
    env = {"DJANGO_SETTINGS_MODULE": "crushme_project.settings.test", "PYTHONUNBUFFERED": "1"}
    process = subprocess.Popen(
        [sys.executable, "manage.py", "woocommerce_sandbox", "--port", "0", "--products", "5", "--tls"],
        cwd=PROJECT_ROOT,
        env={**os.environ, **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        lines: list[str] = []
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            line = process.stdout.readline()
            lines.append(line)
            if line.startswith("CA certificate") or not line:
                break
        url = next(line.split()[-1] for line in lines if line.startswith("WooCommerce sandbox:"))
        ca = next(line.split()[-1] for line in lines if line.startswith("CA certificate"))
        response = requests.get(f"{url}/wp-json/wc/v3/products", auth=(KEY, SECRET), verify=ca, timeout=5)
    finally:
        process.terminate()
        output, _ = process.communicate(timeout=15)

    assert url.startswith("https://127.0.0.1:")
    assert response.status_code == 200
    assert process.returncode == 0, output
    assert not Path(ca).exists()  # removed on exit
