"""The check psycopg's pool runs on an idle connection before a request gets it (web workers only).

No Django import: the settings hand this function to the pool (``DATABASES["default"]["OPTIONS"]["pool"]``).
"""

from __future__ import annotations

import select
from typing import Any

from psycopg import pq
from psycopg_pool import ConnectionPool


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
