"""Settings for the gunicorn servers the deploy tests start: the base settings plus test-only URLs.

The database (the pytest test database, or a proxy in front of it), the pool and the cache come from
the environment exactly as in production; only ROOT_URLCONF adds the sleeping views, which must never
ship in the production URLs.
"""

from crushme_project.settings.base import *  # noqa: F403

ROOT_URLCONF = "tests.deploy.urls_sleep"
ALLOWED_HOSTS = ["127.0.0.1", "localhost", "crushme.example.com"]
