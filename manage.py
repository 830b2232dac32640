#!/usr/bin/env python
"""Django's command-line utility for administrative tasks."""

import gc
import os
import sys


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "crushme_project.settings.base")
    from django.core.management import execute_from_command_line

    apps_load_without_gc()
    execute_from_command_line(sys.argv)


def apps_load_without_gc() -> None:
    """Load the settings and the apps with the cyclic GC paused, then freeze what they built.

    Start-up builds about 85,000 objects that live as long as the process (modules, classes, models);
    the GC scanned them some 200 times on the way and found nothing to free, about a tenth of the CPU
    of a 5,000-product re-sync (docs/performance.md, "Re-sync margin"). Frozen, later collections
    skip them. ``execute_from_command_line`` then finds the apps loaded. A configuration that does not
    load is left to it, to be reported as usual, and so is ``runserver``, whose autoreloader wants the
    loading errors itself.
    """
    import django
    from django.conf import settings
    from django.core.exceptions import ImproperlyConfigured

    if sys.argv[1:2] == ["runserver"]:
        return
    gc.disable()
    try:
        try:
            settings.INSTALLED_APPS  # noqa: B018 - imports the settings module
        except (ImproperlyConfigured, ImportError):
            return
        django.setup()
    finally:
        gc.enable()
    gc.freeze()


if __name__ == "__main__":
    main()
