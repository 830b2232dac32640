"""Database helpers shared by the web side: what counts as "the database is unavailable", discarding the
pool's dead connections once one request has seen it, and a cursor for statements run over and over.

psycopg's pool (``DATABASES["default"]["OPTIONS"]["pool"]``, web workers only) checks a connection
before handing it out (``ConnectionPool.check_connection``, turned on by ``CONN_HEALTH_CHECKS``; in
gunicorn's workers ``pool_connection_check``, see ``database_pool_check_cheaply``). When
that check fails it waits 1 s, then 2 s, 4 s... before trying the next idle connection, and after a
PostgreSQL restart every idle connection is dead: requests would time out one dead connection at a time
long after the server is back. ``database_pool_discard_idle`` checks them all at once instead.
"""

from __future__ import annotations

import logging
import select
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import psycopg
from django.db import DatabaseError, InterfaceError, OperationalError, connection
from django.db.backends.utils import CursorWrapper
from psycopg import Error as PsycopgError
from psycopg import pq
from psycopg_pool import ConnectionPool

logger = logging.getLogger(__name__)

# What a lost or unreachable database raises through Django: connection refused or dropped, and the
# pool's PoolTimeout (a psycopg OperationalError, wrapped by Django). Programming and data errors are
# bugs or bad input, not outages, and stay 500/400.
DATABASE_UNAVAILABLE_ERRORS: tuple[type[DatabaseError], ...] = (OperationalError, InterfaceError)


def database_pool_discard_idle() -> None:
    """Check every idle pooled connection now; discard the dead ones and let the pool open new ones.

    Call it after a request met ``DATABASE_UNAVAILABLE_ERRORS``. Connections in use by other requests
    are left alone (they are checked when returned), so an overloaded pool loses nothing. A no-op
    without the pool. Never raises: it runs on a path that is already answering an error.
    """
    pool = getattr(connection, "pool", None)
    if pool is None:
        return
    try:
        pool.check()
    except PsycopgError as exc:  # PoolClosed (worker shutting down): the answer is already decided
        logger.warning("could not check the idle pooled connections: %s", exc)


def database_pool_check_cheaply() -> None:
    """Have this process's pool check a connection before handing it out without a round trip while the
    session is alive (``pool_connection_check``). A no-op without the pool. gunicorn's
    workers call it before they accept requests (gunicorn_config.py: post_worker_init)."""
    pool = getattr(connection, "pool", None)
    if pool is not None:
        pool_check_cheaply(pool)


def pool_connection_check(conn: Any) -> None:
    """Raise when ``conn`` is no longer usable; the pool then discards it and hands out another.

    An idle connection is checked by asking the kernel, without waiting, whether the server sent anything
    since its last answer: one system call, no round trip. An idle session gets nothing unless it is being
    ended (a restart, ``pg_terminate_backend``, ``idle_session_timeout``: a closing message, then the socket
    closes) or, rarely, a notice. Then, and for a connection not idle, psycopg's own check runs
    (``ConnectionPool.check_connection``: an empty query's round trip), which raises on a closed session.

    psycopg's check alone cost every uncached request that round trip: 8% of a web worker's CPU on the
    uncached list (docs/performance.md, "Prepared catalog statements"). Under gevent, ``select`` with a zero
    timeout is the plain system call (gevent polls before it would wait).
    """
    pgconn = conn.pgconn
    if pgconn.status == pq.ConnStatus.OK and pgconn.transaction_status == pq.TransactionStatus.IDLE:
        readable, _, _ = select.select([pgconn.socket], [], [], 0)
        if not readable:
            return
    ConnectionPool.check_connection(conn)


def pool_check_cheaply(pool: ConnectionPool) -> None:
    """Have ``pool`` check its connections with ``pool_connection_check``.

    Django creates the pool with ``check=ConnectionPool.check_connection`` (``CONN_HEALTH_CHECKS``) and
    refuses another ``check`` in the pool's options, so it is swapped once the pool exists: psycopg_pool
    keeps it as ``_check`` (psycopg-pool is pinned; tests/common/test_db_pool.py runs a pool through it).
    """
    pool._check = pool_connection_check


# Prepared statements a connection keeps (psycopg deallocates the least used beyond it; its default is 100).
# A catalog statement's plan holds about 55 KB of PostgreSQL's memory (100 distinct list pages run 3 times
# each: 55 prepared, the backend's memory 2.0 -> 5.0 MB), so 100 a connection would be 5.5 MB, times every
# pooled connection of every worker. The hot statements (first pages, memoised pages) stay within 20.
PREPARED_MAX = 20


class LiteralStatementCursor(psycopg.Cursor):
    """A psycopg cursor that merges the parameters into the statement's text (as Django's default client-side
    cursor does) and sends that text over the extended protocol, so that psycopg prepares a text once its
    connection has run it ``prepare_threshold`` times (``DB_PREPARE_THRESHOLD``) and PostgreSQL stops planning
    it on every run. Literal values, not bound parameters: a generic plan of ``status = $1`` cannot use the
    partial indexes on published products, and a price range's values choose its plan.

    Django's own cursor sends every statement as a simple query, which PostgreSQL plans each time: the list
    page's statement at 20,000 products costs its server 0.5 ms that way, 0.29 ms prepared
    (docs/performance.md, "Prepared catalog statements").
    """

    _literal: psycopg.ClientCursor[Any] | None = None

    def __init__(self, connection: psycopg.Connection[Any], **kwargs: Any) -> None:
        super().__init__(connection, **kwargs)
        if connection.prepared_max != PREPARED_MAX:
            connection.prepared_max = PREPARED_MAX

    def execute(self, query: Any, params: Any = None, *, prepare: bool | None = None, binary: bool | None = None):
        if params is not None:  # None: the text is sent as it is (a "%" in it is not a placeholder)
            if self._literal is None:
                self._literal = psycopg.ClientCursor(self.connection)
            query = self._literal.mogrify(query, params)
        super().execute(query, prepare=prepare, binary=binary)
        if self._query is None:  # psycopg leaves it unset on a prepared run; Django's query log reads its text
            self._query = self._convert_query(query)
        return self


@contextmanager
def repeated_statements_cursor() -> Iterator[CursorWrapper]:
    """Django's cursor (its connection checks, query logging and error wrapping) for statements this process
    runs over and over: on PostgreSQL it runs them through a ``LiteralStatementCursor``; elsewhere it is
    Django's cursor as it is."""
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.cursor.close()
            cursor.cursor = LiteralStatementCursor(connection.connection)
        yield cursor
