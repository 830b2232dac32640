"""Trigram index for the API's ``search`` (``name ILIKE '%word%'``), PostgreSQL only.

``pg_trgm`` is a trusted extension (PostgreSQL 13+): the database owner may create it. Where it
cannot be created the index is skipped with a warning and search falls back to a scan of the
public rows; the migration itself never fails for it. SQLite has no equivalent and gets nothing.
"""

import logging

from django.db import DatabaseError, migrations, transaction

logger = logging.getLogger(__name__)

INDEX = "product_pub_name_trgm_idx"


def create(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    try:
        with transaction.atomic(using=schema_editor.connection.alias):
            schema_editor.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
            # UPPER(name::text) is what Django's icontains compiles to on PostgreSQL.
            schema_editor.execute(
                f"CREATE INDEX IF NOT EXISTS {INDEX} ON catalog_product USING gin (UPPER(name::text) gin_trgm_ops) "
                "WHERE status = 'publish' AND deleted_at IS NULL"
            )
    except DatabaseError as exc:
        logger.warning("pg_trgm unavailable, product search will scan: %s", exc)


def drop(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(f"DROP INDEX IF EXISTS {INDEX}")


class Migration(migrations.Migration):
    dependencies = [("catalog", "0002_api_indexes")]

    operations = [migrations.RunPython(create, drop)]
