"""The pool's check of an idle connection: no round trip while the session is alive; psycopg's own check
(which raises) once the server sent anything, as it does when it ends the session."""

from __future__ import annotations

import tempfile
import time
from collections.abc import Iterator

import psycopg
import pytest
from django.db import connection
from psycopg_pool import ConnectionPool

from common.db import database_pool_check_cheaply, pool_check_cheaply, pool_connection_check

pytestmark = [
    pytest.mark.django_db,  # the test database's name
    pytest.mark.skipif(connection.vendor != "postgresql", reason="psycopg's pool is PostgreSQL's"),
]


def _connect_params() -> dict[str, object]:
    """The test database's address, without Django's own connection options (cursor class, adapters)."""
    params = connection.get_connection_params()
    return {key: params[key] for key in ("dbname", "user", "host", "port", "password") if params.get(key)}


def _connect() -> psycopg.Connection:
    return psycopg.connect(**_connect_params(), autocommit=True)


@pytest.fixture
def conn() -> Iterator[psycopg.Connection]:
    checked = _connect()
    yield checked
    checked.close()


def _sent_while(conn: psycopg.Connection, action) -> bytes:
    """What libpq sent and received during ``action()`` (its protocol trace)."""
    with tempfile.TemporaryFile() as trace:
        conn.pgconn.trace(trace.fileno())
        conn.pgconn.set_trace_flags(psycopg.pq.Trace.SUPPRESS_TIMESTAMPS)
        try:
            action()
        finally:
            conn.pgconn.untrace()
        trace.seek(0)
        return trace.read()


def _until_closed_by_server(conn: psycopg.Connection) -> None:
    deadline = time.monotonic() + 5
    with _connect() as other:
        other.execute("SELECT pg_terminate_backend(%s)", (conn.info.backend_pid,))
        while time.monotonic() < deadline:
            found = other.execute("SELECT 1 FROM pg_stat_activity WHERE pid = %s", (conn.info.backend_pid,))
            if found.fetchone() is None:
                return
            time.sleep(0.02)
    raise AssertionError("the session was not ended")


def test_an_idle_live_connection_passes_without_a_round_trip(conn):
    assert _sent_while(conn, lambda: pool_connection_check(conn)) == b""
    assert conn.execute("SELECT 1").fetchone() == (1,)


def test_a_session_the_server_ended_is_refused(conn):
    _until_closed_by_server(conn)

    with pytest.raises(psycopg.OperationalError):
        pool_connection_check(conn)
    assert conn.broken


def test_a_connection_closed_here_is_refused(conn):
    conn.close()

    with pytest.raises(psycopg.OperationalError):
        pool_connection_check(conn)


def test_a_connection_left_inside_a_transaction_gets_psycopgs_own_check_which_refuses_it(conn):
    conn.autocommit = False
    conn.execute("SELECT 1")  # a transaction is open: the pool rolls back what it gets back, so never here

    with pytest.raises(psycopg.ProgrammingError, match="INTRANS"):
        pool_connection_check(conn)


def test_a_notice_while_idle_gets_the_round_trip_and_passes(conn):
    conn.execute("LISTEN crushme_pool_check")
    with _connect() as other:
        other.execute("NOTIFY crushme_pool_check")
    time.sleep(0.1)

    trace = _sent_while(conn, lambda: pool_connection_check(conn))

    assert b"Query" in trace
    assert conn.execute("SELECT 1").fetchone() == (1,)


def test_a_pool_checking_cheaply_replaces_a_session_the_server_ended_and_keeps_a_live_one():
    pool = ConnectionPool(
        kwargs={**_connect_params(), "autocommit": True},
        min_size=1,
        max_size=1,
        check=ConnectionPool.check_connection,
        open=True,
    )
    with tempfile.TemporaryFile() as trace:
        try:
            pool_check_cheaply(pool)
            with pool.connection() as first:
                live_pid = first.info.backend_pid
                first.pgconn.trace(trace.fileno())  # kept while the pool holds it: records the check's traffic
            with pool.connection() as again:  # alive: handed out again, checked without a round trip
                again.pgconn.untrace()
                trace.seek(0)
                assert trace.read() == b""  # psycopg's own check would have sent Query ""
                assert again.info.backend_pid == live_pid
                _until_closed_by_server(again)
            with pool.connection(timeout=10) as replaced:
                assert replaced.info.backend_pid != live_pid
                assert replaced.execute("SELECT 1").fetchone() == (1,)
        finally:
            pool.close()


def test_without_the_pool_checking_cheaply_changes_nothing():
    database_pool_check_cheaply()  # the test settings have no pool: no error, nothing to swap

    assert getattr(connection, "pool", None) is None
