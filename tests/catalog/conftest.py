import pytest

from tests.catalog.fixtures import isolated_cache, private_redis  # noqa: F401


@pytest.fixture(autouse=True)
def _isolated_cache(isolated_cache: None) -> None:  # noqa: F811
    """Every catalog test gets its own cache key prefix."""
