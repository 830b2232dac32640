from django.apps import AppConfig


class SyncConfig(AppConfig):
    name = "sync"
    verbose_name = "WooCommerce sync"
    # Nothing in ready(): sync runs only from cron or systemd timers, never at start-up.
