"""Settings: laptop defaults everywhere, production refusing to start without its secrets."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

PROJECT_ROOT = Path(__file__).resolve().parents[2]

PRODUCTION_ENV = {
    "DJANGO_SECRET_KEY": "a-production-secret-that-is-long-enough-for-django-0123456789",
    "DJANGO_ALLOWED_HOSTS": "shop.example.com",
    "DATABASE_URL": "postgres://crushme@127.0.0.1:5432/crushme",
    "REDIS_URL": "redis://127.0.0.1:6379/0",
    "WOOCOMMERCE_URL": "https://shop.example.com",
    "WOOCOMMERCE_CONSUMER_KEY": "ck_production_key_value",
    "WOOCOMMERCE_CONSUMER_SECRET": "cs_production_secret_value",
}


def load_settings(module: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if k not in PRODUCTION_ENV and not k.startswith(("DJANGO_", "WOO"))}
    return subprocess.run(
        [
            sys.executable,
            "-c",
            "import django; django.setup(); from django.conf import settings; "
            "print(settings.DATABASES['default']['ENGINE'], settings.CACHES['default']['BACKEND'], settings.DEBUG)",
        ],
        cwd=PROJECT_ROOT,
        env={**clean, "DJANGO_SETTINGS_MODULE": module, "REDIS_URL": "", **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_base_settings_default_to_sqlite_local_memory_and_no_debug():
    result = load_settings("crushme_project.settings.base", {"DATABASE_URL": ""})

    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == [
        "django.db.backends.sqlite3",
        "django.core.cache.backends.locmem.LocMemCache",
        "False",
    ]


def test_production_settings_start_with_every_variable_set():
    result = load_settings("crushme_project.settings.production", PRODUCTION_ENV)

    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["django.db.backends.postgresql", "django_redis.cache.RedisCache", "False"]


@pytest.mark.parametrize(
    "missing", [("DJANGO_SECRET_KEY",), ("WOOCOMMERCE_CONSUMER_KEY", "WOOCOMMERCE_CONSUMER_SECRET")]
)
def test_production_settings_refuse_to_start_naming_what_is_missing(missing):
    env = {name: value for name, value in PRODUCTION_ENV.items() if name not in missing}

    result = load_settings("crushme_project.settings.production", env)

    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr
    for name in missing:
        assert name in result.stderr
    present = [name for name in PRODUCTION_ENV if name not in missing]
    line = next(line for line in result.stderr.splitlines() if "ImproperlyConfigured" in line)
    assert not any(name in line for name in present)
    assert "cs_production_secret_value" not in result.stderr


SETTINGS_PROBE = (
    "import json, django; django.setup(); from django.conf import settings as s; "
    "print(json.dumps({"
    "'timeout': s.WOOCOMMERCE_TIMEOUT, 'retries': s.WOOCOMMERCE_MAX_RETRIES, 'batch': s.WOOCOMMERCE_SYNC_BATCH_SIZE, "
    "'conn_max_age': s.DATABASES['default']['CONN_MAX_AGE'], 'rates': s.REST_FRAMEWORK['DEFAULT_THROTTLE_RATES'], "
    "'num_proxies': s.REST_FRAMEWORK['NUM_PROXIES'], 'ttl': [s.CATALOG_CACHE_TTL_CATEGORIES, "
    "s.CATALOG_CACHE_TTL_PRODUCT_LIST, s.CATALOG_CACHE_TTL_PRODUCT_DETAIL], "
    "'live_timeout': s.LIVE_STOCK_TIMEOUT_SECONDS}))"
)


def probe_settings(env: dict[str, str]) -> dict:
    import json

    clean = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "WOO", "THROTTLE", "CATALOG", "LIVE"))}
    clean.pop("CONN_MAX_AGE", None)
    clean.pop("NUM_PROXIES", None)
    result = subprocess.run(
        [sys.executable, "-c", SETTINGS_PROBE],
        cwd=PROJECT_ROOT,
        env={**clean, "DJANGO_SETTINGS_MODULE": "crushme_project.settings.base", "DATABASE_URL": "", **env},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_documented_defaults():
    values = probe_settings({})

    assert values == {
        "timeout": 30.0,
        "retries": 2,
        "batch": 50,
        "conn_max_age": 60,
        "rates": {"anon": "100/hour", "user": "1000/hour", "staff": "5000/hour", "auth_failure": "20/hour"},
        "num_proxies": 1,
        "ttl": [3600, 300, 300],
        "live_timeout": 2.0,
    }


def test_documented_settings_come_from_the_environment():
    values = probe_settings(
        {
            "WOOCOMMERCE_TIMEOUT": "12.5",
            "WOOCOMMERCE_MAX_RETRIES": "4",
            "WOOCOMMERCE_SYNC_BATCH_SIZE": "100",
            "CONN_MAX_AGE": "0",
            "THROTTLE_RATE_ANON": "10/minute",
            "THROTTLE_RATE_USER": "20/minute",
            "THROTTLE_RATE_STAFF": "30/minute",
            "THROTTLE_RATE_AUTH_FAILURES": "5/minute",
            "NUM_PROXIES": "2",
            "CATALOG_CACHE_TTL_CATEGORIES": "60",
            "CATALOG_CACHE_TTL_PRODUCT_LIST": "30",
            "CATALOG_CACHE_TTL_PRODUCT_DETAIL": "15",
            "LIVE_STOCK_TIMEOUT_SECONDS": "1.5",
        }
    )

    assert values == {
        "timeout": 12.5,
        "retries": 4,
        "batch": 100,
        "conn_max_age": 0,
        "rates": {"anon": "10/minute", "user": "20/minute", "staff": "30/minute", "auth_failure": "5/minute"},
        "num_proxies": 2,
        "ttl": [60, 30, 15],
        "live_timeout": 1.5,
    }


def _prepare_threshold(value: str | None) -> subprocess.CompletedProcess:
    env = {"DATABASE_URL": "postgres://crushme@127.0.0.1:5432/crushme"}
    if value is not None:
        env["DB_PREPARE_THRESHOLD"] = value
    clean = {k: v for k, v in os.environ.items() if k != "DB_PREPARE_THRESHOLD"}
    return subprocess.run(
        [
            sys.executable,
            "-c",
            "import django; django.setup(); from django.conf import settings; "
            "print(settings.DATABASES['default']['OPTIONS']['prepare_threshold'])",
        ],
        cwd=PROJECT_ROOT,
        env={**clean, "DJANGO_SETTINGS_MODULE": "crushme_project.settings.base", "REDIS_URL": "", **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.parametrize(("value", "expected"), [(None, "2"), ("", "2"), ("5", "5"), (" OFF ", "None"), ("1", "1")])
def test_prepare_threshold_comes_from_the_environment(value, expected):
    result = _prepare_threshold(value)

    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == expected


@pytest.mark.parametrize("value", ["0", "-1", "two", "2.5"])
def test_an_invalid_prepare_threshold_is_refused_naming_the_variable(value):
    result = _prepare_threshold(value)

    assert result.returncode != 0
    assert "ImproperlyConfigured: DB_PREPARE_THRESHOLD" in result.stderr
