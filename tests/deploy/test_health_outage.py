"""/api/health/ answers 200, 503 while PostgreSQL is unreachable, and 200 again once it is back,
from the same gunicorn (no restart).

The outage is a TCP proxy between gunicorn and the shared PostgreSQL that drops its listener and every
connection, then listens again: the real server is never stopped.
"""

import time

import pytest
from django.conf import settings
from django.db import connection

from tests.deploy.servers import TcpProxy, gunicorn_env, http_get_json, postgres_url, running_gunicorn

pytestmark = [
    pytest.mark.slow,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(
        settings.DATABASES["default"]["ENGINE"] != "django.db.backends.postgresql",
        reason="the outage is simulated in front of PostgreSQL (DATABASE_URL=postgres://...)",
    ),
]


def _wait_for_status(url: str, status: int, *, within: float) -> tuple[int, dict, float]:
    start = time.monotonic()
    while True:
        got, body = http_get_json(url, timeout=within + 5)
        elapsed = time.monotonic() - start
        if got == status or elapsed > within:
            return got, body, elapsed
        time.sleep(0.2)


@pytest.mark.parametrize("pooled", [True, False], ids=["psycopg-pool", "plain-connection"])
def test_health_is_503_while_postgres_is_unreachable_and_recovers_without_restart(pooled):
    proxy = TcpProxy(target_port=int(connection.settings_dict.get("PORT") or 5432))
    proxy.start()
    env = gunicorn_env(
        DATABASE_URL=postgres_url(name=connection.settings_dict["NAME"], port=proxy.port),
        DB_POOL_ENABLED="true" if pooled else "false",
        DB_POOL_MIN_SIZE="1",
        DB_POOL_MAX_SIZE="4",
        DB_POOL_TIMEOUT="2",
        DB_CONNECT_TIMEOUT="2",
    )
    try:
        with running_gunicorn(env=env) as server:
            health = f"{server.url}/api/health/"
            worker_pids = server.booted_worker_pids()

            # given a healthy deployment
            status, body = http_get_json(health)
            assert status == 200, body
            assert body["checks"]["database"]["ok"] is True

            # when PostgreSQL goes away (refused connections, open ones dropped)
            proxy.cut()
            status, body, elapsed = _wait_for_status(health, 503, within=5)

            # then health says so, quickly, instead of hanging or answering 500
            assert status == 503, body
            assert body["status"] == "unavailable"
            assert body["checks"]["database"]["ok"] is False
            assert "sync" not in body
            assert elapsed < 5
            # a browser's session cookie must not turn it into a 500 (the session lives in the database)
            status, body = http_get_json(health, headers={"Cookie": "sessionid=" + "s" * 32}, timeout=10)
            assert status == 503, body

            # when PostgreSQL is back on the same address
            proxy.restore()
            status, body, recovered_after = _wait_for_status(health, 200, within=30)

            # then the same workers serve 200 again: no gunicorn restart, no worker respawn
            assert status == 200, body
            assert body["checks"]["database"]["ok"] is True
            assert server.process.poll() is None
            assert server.booted_worker_pids() == worker_pids
            kind = "pool" if pooled else "plain"
            print(f"\nhealth ({kind}): 503 after {elapsed:.2f}s, 200 {recovered_after:.2f}s after restore")
    finally:
        proxy.cut()
