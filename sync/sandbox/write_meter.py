"""Write requests to the sandbox's REST API: a configurable latency and a count of those in flight.

Every REST request (reads included) is counted in flight too: a client bounded to N concurrent
requests must show at most N, whatever their kind.

A real store takes ~80 ms for one product PUT and ~1 s for a 50-item batch (notes §11), and a client
that pushes with bounded concurrency must never have more than N writes open at once. ``latency_ms``
delays every write request (on top of the server's ``latency_ms``, outside the catalog's lock so
parallel writes overlap), and ``in_flight`` / ``max_in_flight`` show what a client really did.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


class WriteMeter:
    def __init__(self, latency_ms: float = 0.0) -> None:
        self.latency_ms = latency_ms
        self._lock = threading.Lock()
        self._in_flight = 0
        self._max_in_flight = 0
        self._writes = 0
        self._requests_in_flight = 0
        self._max_requests_in_flight = 0

    def set_latency(self, latency_ms: object) -> None:
        if isinstance(latency_ms, bool) or not isinstance(latency_ms, int | float) or not 0 <= latency_ms <= 600_000:
            raise ValueError("write latency_ms must be a number within 0..600000")
        self.latency_ms = float(latency_ms)

    @contextmanager
    def track(self, method: str) -> Iterator[RequestCount]:
        """Count the request (and as a write when it is one) until ``finished()`` is called, which the server
        does just before the answer goes out (a client may send its next request as soon as it reads the
        answer: counted until then, the two would overlap here though they never did on the client), or
        until the block ends."""
        is_write = method.upper() in WRITE_METHODS
        with self._lock:
            self._requests_in_flight += 1
            self._max_requests_in_flight = max(self._max_requests_in_flight, self._requests_in_flight)
            if is_write:
                self._in_flight += 1
                self._writes += 1
                self._max_in_flight = max(self._max_in_flight, self._in_flight)
        count = RequestCount(is_write=is_write, meter=self)
        try:
            yield count
        finally:
            count.finished()

    def _leave(self, *, is_write: bool) -> None:
        with self._lock:
            self._requests_in_flight -= 1
            if is_write:
                self._in_flight -= 1

    def stats(self) -> dict:
        with self._lock:
            return {
                "writes": self._writes,
                "writes_in_flight": self._in_flight,
                "max_writes_in_flight": self._max_in_flight,
                "requests_in_flight": self._requests_in_flight,
                "max_requests_in_flight": self._max_requests_in_flight,
            }

    def reset(self) -> None:
        """Forget the totals; requests still running keep counting from here."""
        with self._lock:
            self._writes = 0
            self._max_in_flight = self._in_flight
            self._max_requests_in_flight = self._requests_in_flight


class RequestCount:
    """One request in the meter's count: ``finished()`` takes it out (once)."""

    def __init__(self, *, is_write: bool, meter: WriteMeter) -> None:
        self.is_write = is_write
        self._meter: WriteMeter | None = meter

    def finished(self) -> None:
        meter, self._meter = self._meter, None
        if meter is not None:
            meter._leave(is_write=self.is_write)
