"""Fixtures for the catalog API tests (imported by tests/catalog/conftest.py and tests/common)."""

from __future__ import annotations

import socket
import subprocess
import threading
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


class CountingProxy:
    """A TCP proxy in front of a Redis server that counts the commands its clients send (round trips:
    a script's own calls run inside Redis and are not seen here)."""

    def __init__(self, upstream_port: int) -> None:
        self.upstream_port = upstream_port
        self.listener = socket.socket()
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(50)
        self.port = self.listener.getsockname()[1]
        self.commands: list[bytes] = []  # each command's name, in order
        self._closed = False
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while not self._closed:
            try:
                downstream, _ = self.listener.accept()
            except OSError:
                return
            upstream = socket.create_connection(("127.0.0.1", self.upstream_port))
            threading.Thread(target=self._requests, args=(downstream, upstream), daemon=True).start()
            threading.Thread(target=self._pump, args=(upstream, downstream), daemon=True).start()

    def _pump(self, source: socket.socket, target: socket.socket) -> None:
        try:
            while chunk := source.recv(65536):
                target.sendall(chunk)
        except OSError:
            pass
        finally:
            target.close()

    def _requests(self, source: socket.socket, target: socket.socket) -> None:
        # RESP requests: "*<n>\r\n" then n bulk strings "$<len>\r\n<bytes>\r\n"; the first one names the command.
        reader = source.makefile("rb")
        try:
            while header := reader.readline():
                target.sendall(header)
                parts = []
                for _ in range(int(header[1:])):
                    length = reader.readline()
                    data = reader.read(int(length[1:]) + 2)
                    target.sendall(length + data)
                    parts.append(data[:-2])
                self.commands.append(parts[0].upper())
        except (OSError, ValueError):
            pass
        finally:
            target.close()

    def close(self) -> None:
        self._closed = True
        self.listener.close()
