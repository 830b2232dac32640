"""Memory discipline for the web workers: sample the worker's RSS on a share of requests.

An idle deployment once used ~5 GB; the sampled log lines show which worker grows and
on which path, long before the OOM killer does.
"""

import logging
import random
from collections.abc import Callable

import psutil
from django.conf import settings
from django.http import HttpRequest, HttpResponse

logger = logging.getLogger(__name__)

_MB = 1024 * 1024


class MemoryMonitorMiddleware:
    """Log RSS/VMS with path and method on ``MEMORY_SAMPLE_RATE`` of the requests (0.0-1.0).

    A sample at or above ``MEMORY_ALERT_MB`` is logged as a warning, otherwise at INFO.
    Sampling happens after the response is built, so it measures what the request left behind.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response
        self.sample_rate = float(getattr(settings, "MEMORY_SAMPLE_RATE", 0.01))
        self.alert_mb = int(getattr(settings, "MEMORY_ALERT_MB", 1536))
        self.process = psutil.Process()
        # A private generator: sampling must not disturb (or be disturbed by) seeding elsewhere.
        self._random = random.Random()

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if self.sample_rate > 0 and self._random.random() < self.sample_rate:
            self._sample(request)
        return response

    def _sample(self, request: HttpRequest) -> None:
        info = self.process.memory_info()
        rss_mb = round(info.rss / _MB, 1)
        extra = {
            "rss_mb": rss_mb,
            "vms_mb": round(info.vms / _MB, 1),
            "pid": self.process.pid,
            "path": request.path,
            "method": request.method,
        }
        if rss_mb >= self.alert_mb:
            logger.warning(
                "memory alert: worker RSS %.1f MB >= %d MB (%s %s)",
                rss_mb,
                self.alert_mb,
                request.method,
                request.path,
                extra=extra,
            )
        else:
            logger.info("memory sample: worker RSS %.1f MB (%s %s)", rss_mb, request.method, request.path, extra=extra)
