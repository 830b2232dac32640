"""A process-wide exclusive lock for jobs that must never overlap (the WooCommerce sync).

On PostgreSQL it is a session advisory lock held on a dedicated connection, so it
works across hosts and is released by the server the moment the process dies (even
on SIGKILL). On other databases (the SQLite default) it is an ``flock`` on a file
next to the database, released by the kernel when the process dies.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

from django.db import OperationalError, connections


class LockHeld(Exception):
    """Another process holds the lock."""


def _advisory_key(name: str) -> int:
    # A stable signed 64-bit key derived from the name (hash() is salted per process).
    return int.from_bytes(hashlib.blake2b(name.encode(), digest_size=8).digest(), "big", signed=True)


@contextmanager
def _postgres_lock(name: str, using: str) -> Iterator[None]:
    import psycopg

    # A dedicated connection (Django's own may be closed or returned to a pool mid-run), with the
    # parameters Django itself connects with: NAME, USER, HOST..., OPTIONS without Django's own keys.
    params = {
        **connections[using].get_connection_params(),
        "autocommit": True,
        "application_name": f"lock:{name}",
    }
    key = _advisory_key(name)
    conn = None
    try:
        conn = psycopg.connect(**params)
        acquired = conn.execute("SELECT pg_try_advisory_lock(%s)", (key,)).fetchone()[0]
    except psycopg.Error as error:
        if conn is not None:
            conn.close()
        # As Django reports it, so that callers handle one kind of "database unavailable".
        raise OperationalError(f"cannot take the {name} lock: {error}") from error
    try:
        if not acquired:
            raise LockHeld(f"{name} is already running (PostgreSQL advisory lock {key} is held)")
        try:
            yield
        finally:
            # When the connection is gone, the server released the lock with it.
            with suppress(psycopg.Error):
                conn.execute("SELECT pg_advisory_unlock(%s)", (key,))
    finally:
        conn.close()


def lock_file_path(name: str, using: str = "default") -> Path:
    database = str(connections[using].settings_dict.get("NAME") or "")
    if database and database != ":memory:" and not database.startswith("file:"):
        return Path(f"{database}.{name}.lock")
    return Path(tempfile.gettempdir()) / f"crushme.{name}.lock"


@contextmanager
def _file_lock(name: str, using: str) -> Iterator[None]:
    path = lock_file_path(name, using)
    with open(path, "a+") as handle:
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise LockHeld(f"{name} is already running (lock file {path.name} is held)") from None
        handle.seek(0)
        handle.truncate()
        handle.write(f"{os.getpid()}\n")
        handle.flush()
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


@contextmanager
def exclusive_lock(name: str, *, using: str = "default") -> Iterator[None]:
    """Hold the named lock for the block, or raise LockHeld at once (never waits)."""
    if connections[using].vendor == "postgresql":
        with _postgres_lock(name, using):
            yield
    else:
        with _file_lock(name, using):
            yield
