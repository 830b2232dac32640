"""WSGI entry point for gunicorn.

Booting the application only wires Django up: no request to WooCommerce, no sync,
no scheduler (sync runs from cron or systemd timers, see deploy/).
"""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "crushme_project.settings.production")

application = get_wsgi_application()
