"""The catalog's content negotiation answers exactly what DRF's own does, for every Accept and format."""

from __future__ import annotations

import pytest
from rest_framework.negotiation import DefaultContentNegotiation
from rest_framework.renderers import JSONRenderer
from rest_framework.test import APIRequestFactory

from catalog.apis import AnyAcceptedNegotiation, CatalogApi

ACCEPTS = [
    None,
    "*/*",
    "",
    " */* ",
    "application/json",
    "application/json; indent=4",
    "text/html",
    "*/*;q=0.5",
    "application/xml",
    "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8",
    "a" * 300,
]
QUERIES = ["", "per_page=5", "format=json", "format=xml", "%66ormat=xml", "search=%C3%9F"]


def _answer(negotiation: DefaultContentNegotiation, accept: str | None, query: str, suffix: str | None):
    headers = {} if accept is None else {"HTTP_ACCEPT": accept}
    request = CatalogApi().initialize_request(APIRequestFactory().get(f"/api/products/?{query}", **headers))
    try:
        renderer, media_type = negotiation.select_renderer(request, [JSONRenderer()], suffix)
    except Exception as exc:  # noqa: BLE001 - the refusal itself is what is compared
        return type(exc).__name__
    return type(renderer).__name__, media_type


@pytest.mark.parametrize("accept", ACCEPTS)
@pytest.mark.parametrize("query", QUERIES)
@pytest.mark.parametrize("suffix", [None, "json", "xml"])
def test_every_accept_and_format_is_answered_as_drf_answers_it(accept, query, suffix):
    assert _answer(AnyAcceptedNegotiation(), accept, query, suffix) == _answer(
        DefaultContentNegotiation(), accept, query, suffix
    )


def test_an_accept_that_takes_anything_is_answered_without_reading_the_query_string(monkeypatch):
    request = CatalogApi().initialize_request(APIRequestFactory().get("/api/products/?per_page=5"))
    monkeypatch.setattr(type(request), "query_params", property(lambda _: pytest.fail("query string parsed")))

    renderer, media_type = AnyAcceptedNegotiation().select_renderer(request, [JSONRenderer()])

    assert (type(renderer), media_type) == (JSONRenderer, "application/json")
