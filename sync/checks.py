"""Start-up checks of the sync settings (tag "sync": run by every manage.py command that runs system checks,
``sync_woocommerce`` included, which runs only these and the model checks)."""

from __future__ import annotations

from django.conf import settings
from django.core.checks import Error, register

from sync.services.field_rules import FieldRulesError, field_rules_parse


@register("sync")
def sync_push_settings_check(app_configs, **kwargs) -> list[Error]:
    errors: list[Error] = []
    try:
        field_rules_parse(getattr(settings, "SYNC_FIELD_RULES", ""))
    except FieldRulesError as error:
        errors.append(Error(str(error), hint="Fix SYNC_FIELD_RULES in the environment.", id="sync.E001"))
    if getattr(settings, "SYNC_QUEUE_CONCURRENCY", 5) < 1:
        errors.append(Error("SYNC_QUEUE_CONCURRENCY must be 1 or more", id="sync.E002"))
    return errors
