"""MemoryMonitorMiddleware: samples a share of requests, logs RSS/VMS with path and method, warns above the alert."""

import logging

import psutil
import pytest

LOGGER = "common.middleware.memory"
URL = "/api/health/"

pytestmark = pytest.mark.django_db


def _records(caplog) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == LOGGER]


def test_every_sampled_request_logs_rss_vms_path_and_method(client, settings, caplog):
    settings.MEMORY_SAMPLE_RATE = 1.0
    settings.MEMORY_ALERT_MB = 100_000
    caplog.set_level(logging.INFO, logger=LOGGER)

    client.get(URL, {"q": "x"})

    (record,) = _records(caplog)
    assert record.levelno == logging.INFO
    assert record.path == URL and record.method == "GET"
    rss_now = psutil.Process().memory_info().rss / 1024 / 1024
    assert 10 < record.rss_mb <= rss_now + 50
    assert record.vms_mb >= record.rss_mb


def test_rss_above_the_alert_is_a_warning(client, settings, caplog):
    settings.MEMORY_SAMPLE_RATE = 1.0
    settings.MEMORY_ALERT_MB = 1  # every Python process is above 1 MB
    caplog.set_level(logging.INFO, logger=LOGGER)

    client.post("/api/health/")

    (record,) = _records(caplog)
    assert record.levelno == logging.WARNING
    assert "memory alert" in record.getMessage()
    assert record.method == "POST"


def test_sample_rate_zero_logs_nothing(client, settings, caplog):
    settings.MEMORY_SAMPLE_RATE = 0.0
    settings.MEMORY_ALERT_MB = 1
    caplog.set_level(logging.INFO, logger=LOGGER)

    for _ in range(20):
        client.get(URL)

    assert _records(caplog) == []


def test_the_default_samples_about_one_percent(client, settings, caplog):
    # 1% of 2,000 requests: 20 expected; [5, 45] holds with probability > 0.9999 (binomial)
    assert settings.MEMORY_SAMPLE_RATE == 0.01
    caplog.set_level(logging.INFO, logger=LOGGER)

    for _ in range(2000):
        client.get("/no-such-page/")

    assert 5 <= len(_records(caplog)) <= 45
