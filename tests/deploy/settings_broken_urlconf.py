"""Base settings with a URLconf that cannot be imported (the gunicorn warm-up hook's failure path)."""

from crushme_project.settings.base import *  # noqa: F403

ROOT_URLCONF = "tests.deploy.no_such_urlconf"
