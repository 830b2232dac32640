"""Every error under /api/ is WooCommerce-shaped JSON, 500 included, with no trace; other URLs keep Django's pages."""

from __future__ import annotations

import pytest

pytestmark = [pytest.mark.django_db, pytest.mark.urls("tests.crushme_project.urls_errors")]


def _assert_json_error(response, status: int, code: str) -> None:
    assert response.status_code == status, response.content
    assert response["Content-Type"] == "application/json"
    body = response.json()
    assert body == {"code": code, "message": body["message"], "data": {"status": status}}
    assert body["message"]
    assert b"Traceback" not in response.content
    assert b"secret-detail" not in response.content


@pytest.mark.parametrize("url", ["/api/nonexistent/", "/api/", "/api/products/1/nope/", "/api/categories/x/y/z/"])
def test_an_unknown_api_url_is_a_json_404(client, url):
    _assert_json_error(client.get(url), 404, "rest_no_route")


def test_an_unknown_url_elsewhere_keeps_djangos_page(client):
    response = client.get("/nonexistent/")

    assert response.status_code == 404
    assert response["Content-Type"].startswith("text/html")


@pytest.mark.parametrize("host", ["evil.example.com", "bad host", "localhost:80@evil"])
def test_a_host_not_allowed_is_a_json_400_under_api(client, host):
    _assert_json_error(client.get("/api/products/", HTTP_HOST=host), 400, "rest_bad_request")


def test_a_host_not_allowed_elsewhere_keeps_djangos_page(client):
    response = client.get("/admin/login/", HTTP_HOST="evil.example.com")

    assert response.status_code == 400
    assert response["Content-Type"].startswith("text/html")


@pytest.mark.parametrize("url", ["/api/test/boom/", "/api/test/plain-boom/", "/api/test/view-boom/"])
def test_an_unhandled_exception_under_api_is_a_json_500_without_a_trace(client, url):
    client.raise_request_exception = False

    response = client.get(url)

    _assert_json_error(response, 500, "internal_server_error")
    assert response["Cache-Control"] == "no-store"


def test_an_unhandled_exception_elsewhere_keeps_djangos_page(client):
    client.raise_request_exception = False

    response = client.get("/test/boom/")

    assert response.status_code == 500
    assert response["Content-Type"].startswith("text/html")
    assert b"secret-detail" not in response.content


@pytest.mark.parametrize("url", ["/api/health/", "/api/products/", "/api/categories/"])
def test_a_method_not_allowed_is_a_json_405(client, url):
    _assert_json_error(client.post(url), 405, "rest_method_not_allowed")
