"""Settings of the authentication benchmark's gunicorn (bench/bench_auth.py): the base settings with the
test URLs, throttles raised so every request is served (the cost of serving is measured, not a 429).

``BENCH_BASIC_AUTH=1`` puts DRF's BasicAuthentication back, as DRF's defaults had it before issue 8: the
baseline the figures are compared with, measured in the same run.
"""

import os

from crushme_project.settings.base import *  # noqa: F403
from crushme_project.settings.base import REST_FRAMEWORK

ROOT_URLCONF = "tests.deploy.urls_sleep"
REST_FRAMEWORK = {
    **REST_FRAMEWORK,
    "DEFAULT_THROTTLE_RATES": {
        **REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"],
        "anon": "1000000000/hour",
        "user": "1000000000/hour",
        "staff": "1000000000/hour",
    },
}
if os.environ.get("BENCH_BASIC_AUTH") == "1":
    REST_FRAMEWORK["DEFAULT_AUTHENTICATION_CLASSES"] = [
        "rest_framework.authentication.SessionAuthentication",
        "rest_framework.authentication.BasicAuthentication",
    ]
