"""Guard of the ``woocommerce`` package internals the client relies on (see sync/woocommerce/client.py).

The client subclasses ``woocommerce.API`` through its name-mangled ``_API__request`` and overrides two
static methods of ``woocommerce.oauth.OAuth``. That is only safe on the exact version it was written
against: each test here fails, naming what moved, as soon as an upgrade changes one of those internals.
On a failure, read the package's new source and either adapt ``_SessionAPI`` / ``_OAuth`` or move to
our own transport (the alternative the client's docstring describes); do not just bump the pin.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import inspect
import re
from collections import OrderedDict
from pathlib import Path
from urllib.parse import quote

import woocommerce
from woocommerce import API
from woocommerce.oauth import OAuth

from sync.woocommerce.client import WooCommerceClient, _OAuth, _SessionAPI

WRITTEN_AGAINST = "3.0.0"
REQUIREMENTS = Path(__file__).resolve().parents[2] / "requirements.txt"


def test_the_installed_package_is_the_version_the_client_was_written_against():
    assert woocommerce.__version__ == WRITTEN_AGAINST


def test_requirements_pin_that_exact_version():
    # the hashed lock (a continuation backslash may follow the version) and the file it is compiled from
    for requirements in (REQUIREMENTS, REQUIREMENTS.with_suffix(".in")):
        pins = re.findall(r"(?im)^woocommerce==([^\s\\]+)", requirements.read_text())
        assert pins == [WRITTEN_AGAINST], requirements.name


def test_the_private_request_method_exists_with_the_signature_we_override():
    request = API.__dict__.get("_API__request")
    assert request is not None, "woocommerce.API.__request is gone: _SessionAPI no longer replaces the transport"
    assert str(inspect.signature(request)) == "(self, method, endpoint, data, params=None, **kwargs)"
    # our override takes the same parameters, so API.get/post/... call it unchanged
    shape = [(p.name, p.kind, p.default) for p in inspect.signature(_SessionAPI._API__request).parameters.values()]
    assert shape == [(p.name, p.kind, p.default) for p in inspect.signature(request).parameters.values()]


def test_get_still_goes_through_the_private_request_method():
    # API.get calls self.__request; if it stopped doing so, our session and signing would be bypassed.
    assert "_API__request" in API.get.__code__.co_names


def test_the_url_builder_and_the_attributes_we_read_are_still_there():
    api = API(
        "http://shop.example",
        "ck_x",
        "cs_x",
        version="wc/v3",
        timeout=(1, 2),
        verify_ssl=False,
        query_string_auth=True,
        user_agent="ua",
    )

    assert api._API__get_url("products") == "http://shop.example/wp-json/wc/v3/products"
    assert (api.consumer_key, api.consumer_secret, api.version, api.timeout) == ("ck_x", "cs_x", "wc/v3", (1, 2))
    assert (api.is_ssl, api.verify_ssl, api.query_string_auth, api.user_agent) == (False, False, True, "ua")


def test_the_oauth_signer_keeps_the_interface_we_subclass():
    assert isinstance(inspect.getattr_static(OAuth, "generate_nonce"), staticmethod)
    assert isinstance(inspect.getattr_static(OAuth, "normalize_parameters"), staticmethod)
    assert str(inspect.signature(OAuth.generate_oauth_signature)) == "(self, params, url)"
    oauth = OAuth(
        url="http://shop.example",
        consumer_key="ck",
        consumer_secret="cs",
        version="wc/v3",
        method="GET",
        oauth_timestamp=7,
    )
    assert (oauth.consumer_key, oauth.timestamp, oauth.method) == ("ck", 7, "GET")


def test_the_signature_uses_our_encoding_as_woocommerce_computes_it():
    # A value with "/" and a literal "%": the package's own encoding signs it wrongly, ours like WooCommerce.
    url = "http://shop.example/wp-json/wc/v3/products"
    params = OrderedDict(
        [
            ("search", "50% off/sale"),
            ("per_page", "5"),
            ("oauth_consumer_key", "ck"),
            ("oauth_timestamp", "1700000000"),
            ("oauth_nonce", "n" * 32),
            ("oauth_signature_method", "HMAC-SHA256"),
        ]
    )
    pairs = sorted(params.items())
    normalized = "%26".join(quote(f"{quote(k, safe='')}={quote(v, safe='')}", safe="") for k, v in pairs)
    base = f"GET&{quote(url, safe='')}&{normalized}"
    expected = base64.b64encode(hmac.new(b"cs&", base.encode(), hashlib.sha256).digest()).decode()

    ours = _OAuth(url=url, consumer_key="ck", consumer_secret="cs", version="wc/v3", method="GET")
    packaged = OAuth(url=url, consumer_key="ck", consumer_secret="cs", version="wc/v3", method="GET")

    assert ours.generate_oauth_signature(OrderedDict(params), url) == expected
    assert packaged.generate_oauth_signature(OrderedDict(params), url) != expected  # why _OAuth exists


def test_the_client_is_built_on_the_subclass():
    client = WooCommerceClient(url="http://shop.example", consumer_key="ck", consumer_secret="cs")
    try:
        assert type(client._api) is _SessionAPI
        assert client._api.session is client._session
    finally:
        client.close()
