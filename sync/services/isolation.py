"""Page writes that lose no item to another item's database error, and the database going away.

A page is written in one transaction. When the database refuses it (a value the parser
let through but a column cannot hold, a constraint), the transaction rolls back and the
page is written again item by item, each in its own transaction: every item the database
takes lands, the others are failed items with a short note. When the error left the
connection unusable (the server went away, the network dropped), retrying item by item
would only fail each item in turn: :class:`DatabaseUnavailable` ends the run instead.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from django.db import DEFAULT_DB_ALIAS, DatabaseError, InterfaceError, connections

from sync.services.results import ItemFailure, WriteResult, shorten

logger = logging.getLogger(__name__)

# What a write can raise for one item's values: the database's refusal (DataError, IntegrityError...),
# a value the driver cannot encode (UnicodeEncodeError is a ValueError) or an integer SQLite cannot hold.
WRITE_ERRORS: tuple[type[BaseException], ...] = (DatabaseError, ValueError, OverflowError)


class DatabaseUnavailable(Exception):
    """The database connection was lost or is unusable: the run cannot go on."""


@dataclass(frozen=True, slots=True)
class IsolatedItem:
    """One item of a page: what to name it by if it fails, and how to write it alone."""

    resource: str
    item_id: int | None
    write: Callable[[], WriteResult]


def database_lost(error: BaseException, using: str = DEFAULT_DB_ALIAS) -> bool:
    """Whether ``error`` left the connection unusable (as opposed to one statement refused)."""
    if isinstance(error, InterfaceError):
        return True
    connection = connections[using]
    if connection.connection is None:
        return True  # Django closed it: the rollback after the error failed too
    try:
        return not connection.is_usable()
    except DatabaseError:
        return True


def raise_if_database_lost(error: BaseException) -> None:
    if isinstance(error, DatabaseError) and database_lost(error):
        raise DatabaseUnavailable(_describe(error)) from error


def page_write_isolated(*, write_all: Callable[[], WriteResult], items: Sequence[IsolatedItem]) -> WriteResult:
    """``write_all()`` (one transaction); if the database refuses it, each item's ``write()`` alone.

    Returns the page's result, with an ItemFailure for each item the database refused.
    Raises DatabaseUnavailable when the connection is lost.
    """
    try:
        return write_all()
    except WRITE_ERRORS as error:
        raise_if_database_lost(error)
        logger.warning("sync: the database refused a page (%s); writing its %s items one by one", error, len(items))
    result = WriteResult()
    for item in items:
        try:
            result = result + item.write()
        except WRITE_ERRORS as error:
            raise_if_database_lost(error)
            failure = ItemFailure(
                resource=item.resource, item_id=item.item_id, error=f"the database refused it: {_describe(error)}"
            )
            result = result + WriteResult(failures=(failure,))
    return result


def _describe(error: BaseException) -> str:
    first_line = str(error).strip().splitlines()[0] if str(error).strip() else ""
    return shorten(f"{type(error).__name__}: {first_line}", 200)
