from django.apps import AppConfig


class SyncConfig(AppConfig):
    name = "sync"
    verbose_name = "WooCommerce sync"

    def ready(self) -> None:
        # Wiring only: the catalog's live hook. No query, no HTTP (the sync runs from cron or
        # systemd timers, never at start-up).
        from catalog.services import live_source_register
        from sync import checks  # noqa: F401 - registers the start-up checks
        from sync.services.live import WooCommerceLiveSource

        live_source_register(WooCommerceLiveSource())
