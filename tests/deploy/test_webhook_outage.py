"""The webhook receiver through gunicorn while PostgreSQL is unreachable: a JSON 503, never a 500 or a hang,
and deliveries are queued again once the database is back (same workers)."""

import json
import time
import urllib.error
import urllib.request

import pytest
from django.conf import settings
from django.db import connection

from sync.models import SyncOperation
from tests.deploy.servers import TcpProxy, gunicorn_env, postgres_url, running_gunicorn
from tests.sync.webhook_samples import SAMPLE_SECRET, WEBHOOK_URL, sample

pytestmark = [
    pytest.mark.slow,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(
        settings.DATABASES["default"]["ENGINE"] != "django.db.backends.postgresql",
        reason="the outage is simulated in front of PostgreSQL (DATABASE_URL=postgres://...)",
    ),
]


def _deliver(url: str, name: str) -> tuple[int, dict, float]:
    delivery = sample(name)
    request = urllib.request.Request(url, data=delivery.body, method="POST", headers=delivery.wc_headers())
    request.add_header("Content-Type", "application/json")
    started = time.monotonic()
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            status, body = response.status, response.read()
    except urllib.error.HTTPError as error:
        status, body = error.code, error.read()
    return status, json.loads(body or b"{}"), time.monotonic() - started


def test_the_receiver_answers_503_while_postgres_is_away_and_queues_again_after():
    proxy = TcpProxy(target_port=int(connection.settings_dict.get("PORT") or 5432))
    proxy.start()
    env = gunicorn_env(
        DATABASE_URL=postgres_url(name=connection.settings_dict["NAME"], port=proxy.port),
        DB_POOL_MIN_SIZE="1",
        DB_POOL_MAX_SIZE="4",
        DB_POOL_TIMEOUT="2",
        DB_CONNECT_TIMEOUT="2",
        WOOCOMMERCE_WEBHOOK_SECRET=SAMPLE_SECRET,
    )
    try:
        with running_gunicorn(env=env) as server:
            url = f"{server.url}{WEBHOOK_URL}"
            assert _deliver(url, "product.created-simple")[0] == 200

            proxy.cut()
            status, body, elapsed = _deliver(url, "product.updated-price-edit")

            assert status == 503, body
            assert body == {
                "code": "database_unavailable",
                "message": "the queue is unavailable, the delivery was not stored",
                "data": {"status": 503},
            }
            assert elapsed < 10

            proxy.restore()
            deadline = time.monotonic() + 30
            while (status := _deliver(url, "product.updated-price-edit")[0]) != 200 and time.monotonic() < deadline:
                time.sleep(0.3)
            assert status == 200
            assert SyncOperation.objects.count() == 2
    finally:
        proxy.cut()
