"""Issue 8, acceptance 4: PostgreSQL restarts under load, behind a real gunicorn with the shipped pool settings.

The restart is a TCP proxy between gunicorn and the shared PostgreSQL that drops its listener and every
connection, then listens again on the same port (the real server is never stopped). While it is cut,
uncached requests answer 503 JSON within 2 s, cached ones 200, health 503 within 2 s; once it is back
the first request is 200. No request ever gets a 500.
"""

from __future__ import annotations

import itertools
import json
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass

import pytest
from django.conf import settings
from django.db import connection

from tests.deploy.servers import TcpProxy, gunicorn_env, postgres_url, running_gunicorn
from tests.factories import CategoryFactory, ProductFactory

pytestmark = [
    pytest.mark.slow,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(
        settings.DATABASES["default"]["ENGINE"] != "django.db.backends.postgresql",
        reason="the restart is simulated in front of PostgreSQL (DATABASE_URL=postgres://...)",
    ),
]

CACHED = "/api/categories/"
_pages = itertools.count(1)


def uncached() -> str:
    # A page number never asked before: the answer cannot come from the cache.
    return f"/api/products/?per_page=1&page={next(_pages)}"


@dataclass
class Answer:
    path: str
    status: int
    seconds: float
    body: bytes
    content_type: str
    retry_after: str | None
    started: float


def fetch(base: str, path: str, headers: dict[str, str] | None = None) -> Answer:
    started = time.monotonic()
    status, body, headers = _get_with_headers(base + path, headers or {})
    return Answer(
        path=path,
        status=status,
        seconds=time.monotonic() - started,
        body=body,
        content_type=headers.get("Content-Type", ""),
        retry_after=headers.get("Retry-After"),
        started=started,
    )


def _get_with_headers(url: str, headers: dict[str, str]) -> tuple[int, bytes, dict[str, str]]:
    try:
        with urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=15) as response:
            return response.status, response.read(), dict(response.headers)
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read(), dict(exc.headers)


class Load:
    """A few clients asking for cached and uncached pages without pause, until stopped."""

    def __init__(self, base: str, *, clients: int = 4) -> None:
        self.base = base
        self.answers: list[Answer] = []
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._run, args=(i,), daemon=True) for i in range(clients)]

    def _run(self, index: int) -> None:
        while not self._stop.is_set():
            path = CACHED if index % 2 else uncached()
            self.answers.append(fetch(self.base, path))

    def __enter__(self) -> Load:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=30)


def test_postgres_restart_under_load_gives_503_json_then_200_and_never_500():
    CategoryFactory.create_batch(3)
    ProductFactory.create_batch(5)
    proxy = TcpProxy(target_port=int(connection.settings_dict.get("PORT") or 5432))
    proxy.start()
    env = gunicorn_env(
        DATABASE_URL=postgres_url(name=connection.settings_dict["NAME"], port=proxy.port),
        DB_POOL_ENABLED="true",  # and the shipped DB_POOL_* defaults: timeout, reconnect, lifetime
        THROTTLE_RATE_ANON="1000000/hour",
    )
    try:
        with running_gunicorn(env=env) as server:
            base = server.url
            # given a warm deployment under load: the category list is cached, products are not
            assert fetch(base, CACHED).status == 200
            with Load(base) as before:
                time.sleep(1.5)
            assert before.answers and {a.status for a in before.answers} == {200}

            with Load(base) as during:
                time.sleep(0.5)
                # when PostgreSQL goes away
                cut_at = time.monotonic()
                proxy.cut()
                health = fetch(base, "/api/health/")
                probe = fetch(base, uncached())
                cached = fetch(base, CACHED)
                # a browser's session lives in the database too: still a 503, not a 500
                with_cookie = fetch(base, uncached(), headers={"Cookie": "sessionid=" + "s" * 32})
                time.sleep(4)
            # then health says 503 within 2 s of the cut, uncached requests 503 JSON within 2 s, cached 200
            assert health.status == 503, health.body
            assert health.started + health.seconds - cut_at < 2.0
            assert probe.status == 503, probe.body
            assert probe.seconds < 2.0
            assert probe.content_type == "application/json"
            assert json.loads(probe.body) == {
                "code": "database_unavailable",
                "message": "The catalog database is unavailable; try again shortly.",
                "data": {"status": 503},
            }
            assert probe.retry_after is not None and int(probe.retry_after) > 0
            assert cached.status == 200
            assert with_cookie.status == 503, with_cookie.body
            assert json.loads(with_cookie.body)["code"] == "database_unavailable"
            after_cut = [a for a in during.answers if a.started > cut_at]
            assert {a.status for a in after_cut if a.path == CACHED} == {200}
            uncached_during = [a for a in after_cut if a.path != CACHED]
            assert uncached_during and {a.status for a in uncached_during} == {503}
            assert max(a.seconds for a in uncached_during) < 2.0
            assert 500 not in {a.status for a in during.answers}

            # when PostgreSQL is back on the same address
            proxy.restore()
            first = fetch(base, uncached())

            # then the very first request is served, and so is everything after it
            assert first.status == 200, first.body
            with Load(base) as recovered:
                time.sleep(1.5)
            assert {a.status for a in recovered.answers} == {200}
            assert server.process.poll() is None
            slowest = max(a.seconds for a in uncached_during)
            print(
                f"\ncut: health 503 after {health.seconds:.2f}s, uncached 503 in <= {slowest:.2f}s "
                f"({len(uncached_during)} requests), cached 200 ({len(after_cut) - len(uncached_during)}); "
                f"first request after restore 200 in {first.seconds:.2f}s"
            )
    finally:
        proxy.cut()


def test_a_restart_no_request_saw_costs_at_most_one_fast_503_then_200():
    # The pool only learns that its idle connections died when a request is handed one. If PostgreSQL
    # restarted while nothing asked for it, the first request may meet two dead connections in a row
    # (psycopg waits 1 s after the first failed check): it answers 503 JSON quickly, never 500, and the
    # dead connections are discarded for everyone after it (docs/operations.md, "Outages").
    ProductFactory.create_batch(3)
    proxy = TcpProxy(target_port=int(connection.settings_dict.get("PORT") or 5432))
    proxy.start()
    env = gunicorn_env(
        DATABASE_URL=postgres_url(name=connection.settings_dict["NAME"], port=proxy.port),
        DB_POOL_ENABLED="true",
        THROTTLE_RATE_ANON="1000000/hour",
    )
    try:
        with running_gunicorn(env=env) as server:
            assert {fetch(server.url, uncached()).status for _ in range(5)} == {200}  # the pool is warm

            proxy.cut()
            time.sleep(3)  # no request during the outage
            proxy.restore()
            first = fetch(server.url, uncached())
            following = [fetch(server.url, uncached()) for _ in range(5)]

            assert first.status in (200, 503), first.body
            if first.status == 503:
                assert json.loads(first.body)["code"] == "database_unavailable"
            assert first.seconds < 2.0
            assert {a.status for a in following} == {200}
            print(f"\nquiet restart: first request {first.status} in {first.seconds:.2f}s, then 200")
    finally:
        proxy.cut()
