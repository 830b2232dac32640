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
