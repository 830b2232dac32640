"""Shared fixtures. The database and the cache are real; WooCommerce is the sandbox over HTTP."""

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from sync.sandbox.catalog import SandboxCatalog
from sync.sandbox.server import SandboxServer


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Remove the lock files that commands under test left beside the SQLite test database.

    Django deletes the test database file itself; ``common.locks`` puts ``<database>.<name>.lock``
    next to it, which nothing else removes.
    """
    from django.conf import settings

    database = settings.DATABASES["default"]
    name = (database.get("TEST") or {}).get("NAME")
    if database["ENGINE"].endswith("sqlite3") and name:
        for lock in Path(name).parent.glob(f"{Path(name).name}.*.lock"):
            lock.unlink(missing_ok=True)


# --- WooCommerce sandbox ---------------------------------------------------------------------------


@pytest.fixture
def make_sandbox(settings) -> Iterator[Callable[..., SandboxServer]]:
    """Factory: start a sandbox store on an ephemeral port and point ``settings.WOOCOMMERCE_*`` at it.

    ``make_sandbox(products=40, variable_share=0.25, categories=8, seed=1, store_variations=True, **kw)``;
    extra keyword arguments go to :class:`SandboxServer` (``latency_ms``, ``permissions``...).
    The key and secret are the test settings' (``ck_test_key`` / ``cs_test_secret``). Every server
    started is stopped at teardown.
    """
    servers: list[SandboxServer] = []

    def _make(
        *,
        products: int = 40,
        variable_share: float = 0.25,
        categories: int = 8,
        seed: int = 1,
        store_variations: bool = True,
        **kwargs,
    ) -> SandboxServer:
        catalog = SandboxCatalog.generate(
            products=products, variable_share=variable_share, categories=categories, seed=seed
        )
        server = SandboxServer(
            catalog,
            host="127.0.0.1",
            port=0,
            consumer_key=settings.WOOCOMMERCE_CONSUMER_KEY,
            consumer_secret=settings.WOOCOMMERCE_CONSUMER_SECRET,
            store_variations=store_variations,
            **kwargs,
        )
        server.start()
        servers.append(server)
        settings.WOOCOMMERCE_URL = server.url
        return server

    yield _make
    for server in servers:
        server.stop()


@pytest.fixture
def sandbox(make_sandbox) -> SandboxServer:
    """A running sandbox with a small default catalog (40 products, a quarter variable)."""
    return make_sandbox()
