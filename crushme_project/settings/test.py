"""Test settings: real PostgreSQL (DATABASE_URL) or SQLite, real Redis when REDIS_URL is set.

Several test runs may share one PostgreSQL and one Redis (CI, developers), so the
test database name and the cache key prefix are unique per process.
"""

import os
import tempfile

from .base import *  # noqa: F403
from .base import CACHES, DATABASES

_run_id = f"{os.getpid()}"

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
DEBUG = False

if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # A file, not :memory:, so that subprocesses (sync commands under test) share it.
    DATABASES["default"]["TEST"] = {"NAME": os.path.join(tempfile.gettempdir(), f"crushme-test-{_run_id}.sqlite3")}
else:
    DATABASES["default"]["TEST"] = {"NAME": f"test_crushme_{_run_id}"}

CACHES["default"]["KEY_PREFIX"] = f"crushme-test-{_run_id}"

# The tests start their own sandbox on an ephemeral port and point the client at it.
WOOCOMMERCE_URL = "http://127.0.0.1:1"
WOOCOMMERCE_CONSUMER_KEY = "ck_test_key"
WOOCOMMERCE_CONSUMER_SECRET = "cs_test_secret"
WOOCOMMERCE_TIMEOUT = 5.0
WOOCOMMERCE_CONNECT_TIMEOUT = 2.0
WOOCOMMERCE_BACKOFF_SECONDS = 0.01
WOOCOMMERCE_BACKOFF_MAX_SECONDS = 0.2

LOGGING["root"]["level"] = "WARNING"  # noqa: F405
