"""gevent done right: psycopg 3 yields under gevent, and the pool bounds PostgreSQL connections.

Real gunicorn with this project's gunicorn_config.py (one gevent worker, ephemeral port), real
PostgreSQL, real HTTP. The sleeping views come from a test-only URLconf (tests/deploy/urls_sleep.py).
"""

import os
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import psycopg
import pytest
from django.conf import settings

from tests.deploy.servers import gunicorn_env, http_get_json, postgres_url, running_gunicorn

pytestmark = [
    pytest.mark.slow,
    # A real test database (created by pytest-django) that the gunicorn subprocess connects to.
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(
        settings.DATABASES["default"]["ENGINE"] != "django.db.backends.postgresql",
        reason="gevent + psycopg pool behaviour needs PostgreSQL (DATABASE_URL=postgres://...)",
    ),
]


def _concurrent_get(urls: list[str], *, timeout: float = 30.0) -> tuple[list[tuple[int, dict]], float]:
    """GET every URL at once (one thread each, released together); results and wall time."""
    barrier = threading.Barrier(len(urls))

    def fetch(url: str) -> tuple[int, dict]:
        barrier.wait()
        return http_get_json(url, timeout=timeout)

    with ThreadPoolExecutor(max_workers=len(urls)) as pool:
        start = time.monotonic()
        results = list(pool.map(fetch, urls))
        elapsed = time.monotonic() - start
    return results, elapsed


class ConnectionCounter:
    """Polls pg_stat_activity for the backends of one application_name; remembers the peak.

    ``sleeping_only``: count only the backends running ``pg_sleep`` right now (queries that overlap).
    """

    def __init__(self, *, dsn: str, application_name: str, sleeping_only: bool = False) -> None:
        self.dsn = dsn
        self.application_name = application_name
        self.sql = "SELECT count(*) FROM pg_stat_activity WHERE application_name = %s"
        if sleeping_only:
            self.sql += " AND state = 'active' AND query LIKE 'SELECT pg_sleep%%'"
        self.peak = 0
        self.samples = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        with psycopg.connect(self.dsn, autocommit=True) as conn:
            while not self._stop.is_set():
                (count,) = conn.execute(self.sql, [self.application_name]).fetchone()
                self.peak = max(self.peak, count)
                self.samples += 1
                time.sleep(0.01)

    def __enter__(self) -> "ConnectionCounter":
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)


@pytest.fixture
def test_database_name(transactional_db) -> str:
    from django.db import connection

    return connection.settings_dict["NAME"]


def test_twenty_pg_sleeps_overlap_on_one_gevent_worker(test_database_name):
    # given one gevent worker with a pool large enough for 20 concurrent queries
    application_name = f"crushme-overlaptest-{os.getpid()}"
    env = gunicorn_env(
        DATABASE_URL=postgres_url(name=test_database_name) + f"?application_name={application_name}",
        DB_POOL_MIN_SIZE="1",
        DB_POOL_MAX_SIZE="25",
        GUNICORN_WORKER_CLASS="gevent",
    )
    sleeping = ConnectionCounter(
        dsn=postgres_url(name=test_database_name), application_name=application_name, sleeping_only=True
    )
    with running_gunicorn(env=env) as server:
        assert http_get_json(f"{server.url}/test/sleep/?s=0.01")[0] == 200  # pool opened
        # when 20 clients each wait 0.5 s inside PostgreSQL at the same time
        with sleeping:
            results, elapsed = _concurrent_get([f"{server.url}/test/sleep/?s=0.5"] * 20)

    # then they overlap: PostgreSQL sees many of them sleeping at once (one at a time when serialised)
    assert [status for status, _ in results] == [200] * 20
    assert len({body["pid"] for _, body in results}) == 1  # one worker served them all
    assert sleeping.samples > 10
    assert sleeping.peak >= 10, f"at most {sleeping.peak} of 20 pg_sleep(0.5) ran at once on one gevent worker"
    print(f"\n20 x pg_sleep(0.5) on one gevent worker: peak {sleeping.peak} at once, {elapsed:.2f}s")


def test_sync_worker_serialises_the_same_requests(test_database_name):
    # control: the overlap count above can fail; a sync worker runs the sleeps one after another
    application_name = f"crushme-serialtest-{os.getpid()}"
    env = gunicorn_env(
        DATABASE_URL=postgres_url(name=test_database_name) + f"?application_name={application_name}",
        GUNICORN_WORKER_CLASS="sync",
    )
    sleeping = ConnectionCounter(
        dsn=postgres_url(name=test_database_name), application_name=application_name, sleeping_only=True
    )
    with running_gunicorn(env=env) as server, sleeping:
        results, _ = _concurrent_get([f"{server.url}/test/sleep/?s=0.2"] * 10)

    assert [status for status, _ in results] == [200] * 10
    assert sleeping.samples > 10
    assert sleeping.peak == 1, f"{sleeping.peak} pg_sleep ran at once on one sync worker"


def test_pool_bounds_connections_under_200_concurrent_clients(test_database_name):
    # given one gevent worker with the documented bound: workers (1) x DB_POOL_MAX_SIZE (10) = 10
    application_name = f"crushme-pooltest-{os.getpid()}"
    database_url = postgres_url(name=test_database_name) + f"?application_name={application_name}"
    env = gunicorn_env(DATABASE_URL=database_url, DB_POOL_MIN_SIZE="2", DB_POOL_MAX_SIZE="10", DB_POOL_TIMEOUT="20")
    with running_gunicorn(env=env) as server:
        assert http_get_json(f"{server.url}/test/sleep/?s=0.01")[0] == 200
        # when 200 clients each hold a connection for 50 ms at the same time
        with ConnectionCounter(dsn=postgres_url(name=test_database_name), application_name=application_name) as counter:
            results, elapsed = _concurrent_get([f"{server.url}/test/sleep/?s=0.05"] * 200)
            time.sleep(0.1)

    # then every response is 200 and PostgreSQL never saw more than the pool's maximum
    statuses = [status for status, _ in results]
    assert statuses.count(200) == 200, f"non-200 answers: {sorted(set(statuses))}"
    assert counter.samples > 10
    assert 2 <= counter.peak <= 10, f"peak connections {counter.peak}"
    print(f"\n200 concurrent clients, pool max 10: peak {counter.peak} connections, {elapsed:.2f}s, all 200")


def test_without_the_pool_each_greenlet_holds_its_own_connection(test_database_name):
    # control for the counter above: the same worker without the pool exceeds the bound (kept at 20
    # clients so the shared PostgreSQL keeps connections for everyone else)
    application_name = f"crushme-nopooltest-{os.getpid()}"
    database_url = postgres_url(name=test_database_name) + f"?application_name={application_name}"
    env = gunicorn_env(DATABASE_URL=database_url, DB_POOL_ENABLED="false", CONN_MAX_AGE="60")
    counter = ConnectionCounter(dsn=postgres_url(name=test_database_name), application_name=application_name)
    with running_gunicorn(env=env) as server, counter:
        results, _ = _concurrent_get([f"{server.url}/test/sleep/?s=0.3"] * 20)
        time.sleep(0.1)

    assert [status for status, _ in results] == [200] * 20
    assert counter.peak > 10, f"peak connections without the pool: {counter.peak}"
