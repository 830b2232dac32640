"""Indexes and statistics the API's reads need at 200,000 products (issue 12; bench/explain_api_list.py).

* ``product_unlisted_idx``: the products a listing does not show; whole-catalog category counts subtract
  their links from the links per category instead of joining every link with every product.
* ``product_upper_name_stats`` (PostgreSQL only): statistics on ``UPPER(name)``, what ``search``
  (``icontains``) compiles to. Without them PostgreSQL guesses a trigram match finds a few dozen rows
  whatever the word, and sorts every match of a common word to serve page 1 (40,000 rows at 200,000
  products) where walking the sort's index and stopping after 50 matches costs a millisecond.
"""

from django.db import migrations, models

STATISTICS = "product_upper_name_stats"


def statistics_create(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(f"CREATE STATISTICS IF NOT EXISTS {STATISTICS} ON (UPPER(name::text)) FROM catalog_product")
        # Filled by ANALYZE: now, rather than whenever autovacuum next finds enough changed rows.
        schema_editor.execute("ANALYZE catalog_product")


def statistics_drop(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(f"DROP STATISTICS IF EXISTS {STATISTICS}")


class Migration(migrations.Migration):
    dependencies = [
        ("catalog", "0008_product_list_fragments"),
    ]

    operations = [
        migrations.AddIndex(
            model_name="product",
            index=models.Index(
                models.F("id"),
                condition=models.Q(
                    ("deleted_at__isnull", True),
                    ("status", "publish"),
                    ("catalog_visibility__in", ("visible", "catalog")),
                    _negated=True,
                ),
                name="product_unlisted_idx",
            ),
        ),
        migrations.RunPython(statistics_create, statistics_drop),
    ]
