"""Fixtures for the catalog API tests (imported by tests/catalog/conftest.py and tests/common)."""

from __future__ import annotations

import socket
import subprocess
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import redis
from django.conf import settings as django_settings

from common.cache import cache_reset_backoff


@pytest.fixture
def isolated_cache(settings: Any) -> Iterator[None]:
    """A key prefix of its own for each test: versions, responses and throttle counters never leak.

    The cache backend stays the configured one (real Redis under ``make test``); nothing is flushed.
    """
    caches = {alias: dict(conf) for alias, conf in django_settings.CACHES.items()}
    caches["default"]["KEY_PREFIX"] = f"{caches['default'].get('KEY_PREFIX', '')}-{uuid.uuid4().hex[:12]}"
    settings.CACHES = caches
    cache_reset_backoff()
    yield
    cache_reset_backoff()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class PrivateRedis:
    port: int
    process: subprocess.Popen[bytes]

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=10)


@pytest.fixture
def private_redis(tmp_path: Any) -> Iterator[PrivateRedis]:
    """A redis-server of this test's own on an ephemeral port: the test may stop it (never the shared one)."""
    port = free_port()
    process = subprocess.Popen(
        ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    server = PrivateRedis(port=port, process=process)
    client = redis.Redis(host="127.0.0.1", port=port, socket_connect_timeout=0.2)
    deadline = time.monotonic() + 10
    while True:
        try:
            client.ping()
            break
        except redis.ConnectionError:
            if time.monotonic() > deadline or process.poll() is not None:
                server.stop()
                raise
            time.sleep(0.05)
    client.close()
    yield server
    server.stop()


def redis_caches(url: str) -> dict[str, Any]:
    """CACHES pointing at ``url`` with short timeouts (an outage must cost little per request)."""
    return {
        "default": {
            "BACKEND": "django_redis.cache.RedisCache",
            "LOCATION": url,
            "KEY_PREFIX": f"crushme-test-{uuid.uuid4().hex[:12]}",
            "OPTIONS": {
                "CLIENT_CLASS": "django_redis.client.DefaultClient",
                "SOCKET_CONNECT_TIMEOUT": 0.5,
                "SOCKET_TIMEOUT": 0.5,
            },
        }
    }
