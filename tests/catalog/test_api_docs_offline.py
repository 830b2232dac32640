"""/api/docs/ works without internet: Swagger UI comes from the installed package, served as static files."""

from __future__ import annotations

import re
import urllib.request
from html.parser import HTMLParser
from pathlib import Path

import pytest
from django.contrib.staticfiles import finders
from django.core.management import call_command

pytestmark = pytest.mark.django_db


class _Assets(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        for name, value in attrs:
            if name in ("src", "href") and value:
                self.urls.append(value)


def _assets(html: str) -> list[str]:
    parser = _Assets()
    parser.feed(html)
    return parser.urls


def _packaged(url: str) -> bytes:
    """The bytes of a /static/ URL's file as installed (drf-spectacular-sidecar's copy)."""
    found = finders.find(url.removeprefix("/static/"))
    assert found, url
    return Path(found).read_bytes()


def _get(url: str) -> tuple[int, bytes, str]:
    with urllib.request.urlopen(url, timeout=10) as response:
        return response.status, response.read(), response.headers.get("Content-Type", "")


def test_docs_page_references_only_local_assets(client):
    response = client.get("/api/docs/")

    assert response.status_code == 200
    html = response.content.decode()
    urls = _assets(html)
    assert any(u.endswith("swagger-ui-bundle.js") for u in urls), urls
    assert any(u.endswith("swagger-ui.css") for u in urls), urls
    for url in urls:
        assert url.startswith("/static/"), f"{url} is not served by this project"
    # Nothing else is fetched from outside: no CDN, no validator badge (it would send the schema out).
    assert not re.search(r"""["'](https?:)?//""", html), re.findall(r"""["'](?:https?:)?//[^"']*""", html)
    assert '"validatorUrl": null' in html


def test_docs_assets_are_served_by_the_running_server(live_server):
    status, body, _ = _get(f"{live_server.url}/api/docs/")
    assert status == 200

    urls = _assets(body.decode())
    assert len(urls) >= 3
    for url in urls:
        status, content, content_type = _get(f"{live_server.url}{url}")
        assert status == 200, url
        assert content == _packaged(url), url  # the file itself, not an error page
        if url.endswith(".js"):
            assert "javascript" in content_type, (url, content_type)
            assert b"SwaggerUI" in content, url
    status, _, content_type = _get(f"{live_server.url}/api/schema/")
    assert status == 200
    assert "openapi" in content_type


def test_collectstatic_gathers_the_docs_assets_for_nginx(client, settings, tmp_path):
    # Production: deploy.sh runs collectstatic, nginx serves /static/ from STATIC_ROOT.
    settings.STATIC_ROOT = str(tmp_path / "static")

    call_command("collectstatic", "--noinput", "--verbosity", "0")

    for url in _assets(client.get("/api/docs/").content.decode()):
        path = Path(settings.STATIC_ROOT) / url.removeprefix("/static/")
        assert path.read_bytes() == _packaged(url), url
