"""Database availability helpers shared by the web side: what counts as "the database is unavailable",
and discarding the pool's dead connections once one request has seen it.

psycopg's pool (``DATABASES["default"]["OPTIONS"]["pool"]``, web workers only) checks a connection
before handing it out (``ConnectionPool.check_connection``, turned on by ``CONN_HEALTH_CHECKS``). When
that check fails it waits 1 s, then 2 s, 4 s... before trying the next idle connection, and after a
PostgreSQL restart every idle connection is dead: requests would time out one dead connection at a time
long after the server is back. ``database_pool_discard_idle`` checks them all at once instead.
"""

from __future__ import annotations

import logging

from django.db import DatabaseError, InterfaceError, OperationalError, connection
from psycopg import Error as PsycopgError

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
