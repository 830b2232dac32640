"""Settings of the API benchmark's gunicorn: production settings plus the bench's extra views.

``BENCH_NO_CACHE=1`` swaps the cache for Django's DummyCache (every request builds from the
database: the "uncached" figures). ``BENCH_THROTTLE_APART=1`` counts the throttle in its own Redis
round trip, as before issue 12 (the "round trip" scenario's baseline). Throttle rates are raised
so wrk measures serving, not 429s; the throttle still runs on every request.
"""

import os

from crushme_project.settings.production import *  # noqa: F403
from crushme_project.settings.production import REST_FRAMEWORK

ROOT_URLCONF = "bench.bench_api_urls"
SECURE_SSL_REDIRECT = False
REST_FRAMEWORK = {
    **REST_FRAMEWORK,
    "DEFAULT_THROTTLE_RATES": {"anon": "1000000000/hour", "user": "1000000000/hour", "staff": "1000000000/hour"},
}
if os.environ.get("BENCH_NO_CACHE") == "1":
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.dummy.DummyCache"}}
if os.environ.get("BENCH_THROTTLE_APART") == "1":
    REST_FRAMEWORK["DEFAULT_THROTTLE_CLASSES"] = ["bench.bench_throttle.ApartThrottle"]
