"""``search=`` reads a narrow copy of the searchable names (``ProductSearchName``), kept by triggers.

The trigram index is lossy, so PostgreSQL rechecks every candidate it yields on the row's heap page. On the
product table (about 1.1 kB a row: descriptions, images, attributes) a word in one name out of five meant
40,000 candidates on 22,000 pages at 200,000 products: the first count of each new search term read them
all, about 100–180 ms cold. The copy holds only the id, name and SKU of the products a search can show, about
100 rows to a page, and takes the trigram index and the statistics on ``UPPER(name)``; those on the product table go (nothing
else reads them, and every write of a product row paid for the index).

On PostgreSQL one statement trigger per operation keeps the copy: inserts add the searchable rows, deletes
and TRUNCATE remove theirs, and an update touches only rows whose name, SKU, status, deletion or visibility
changed (the sync's stock and price writes touch nothing). SQLite gets the empty table and searches the
product table, as before.
"""

import logging

from django.db import DatabaseError, migrations, models, transaction

logger = logging.getLogger(__name__)

NAME_INDEX = "product_search_name_trgm_idx"
OLD_INDEX = "product_pub_name_trgm_idx"
# Statistics on what icontains compiles to (migration 0009 explains why a search page needs them).
NAME_STATISTICS = "product_search_upper_name_stats"
OLD_STATISTICS = "product_upper_name_stats"
# catalog.models.PUBLIC_PRODUCT with catalog.selectors.SEARCHED_VISIBILITIES, as of this migration.
SEARCHABLE = "n.status = 'publish' AND n.deleted_at IS NULL AND n.catalog_visibility IN ('visible', 'search')"
CHANGED = (
    "(o.name, o.sku, o.status, o.deleted_at, o.catalog_visibility) "
    "IS DISTINCT FROM (n.name, n.sku, n.status, n.deleted_at, n.catalog_visibility)"
)
# Insert-or-replace the searchable rows of a set of product rows named n.
COPY = (
    "INSERT INTO catalog_productsearchname (product_id, name, sku) SELECT n.id, n.name, n.sku FROM {rows} "
    f"WHERE {SEARCHABLE}{{also}} ON CONFLICT (product_id) DO UPDATE SET name = EXCLUDED.name, sku = EXCLUDED.sku"
)

TRIGGERS = f"""
CREATE FUNCTION catalog_product_search_names() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        {COPY.format(rows="new_rows n", also="")};
    ELSIF TG_OP = 'DELETE' THEN
        DELETE FROM catalog_productsearchname WHERE product_id IN (SELECT id FROM old_rows);
    ELSE
        -- Only rows whose searchable columns changed: stock and price writes leave the copy alone.
        DELETE FROM catalog_productsearchname WHERE product_id IN (
            SELECT o.id FROM old_rows o LEFT JOIN new_rows n ON n.id = o.id WHERE n.id IS NULL OR {CHANGED}
        );
        {COPY.format(rows="new_rows n LEFT JOIN old_rows o ON o.id = n.id", also=f" AND (o.id IS NULL OR {CHANGED})")};
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER catalog_product_search_names_insert AFTER INSERT ON catalog_product
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION catalog_product_search_names();
CREATE TRIGGER catalog_product_search_names_update AFTER UPDATE ON catalog_product
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION catalog_product_search_names();
CREATE TRIGGER catalog_product_search_names_delete AFTER DELETE ON catalog_product
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION catalog_product_search_names();

CREATE FUNCTION catalog_product_search_names_truncate() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM catalog_productsearchname;
    RETURN NULL;
END $$;
CREATE TRIGGER catalog_product_search_names_truncate AFTER TRUNCATE ON catalog_product
    FOR EACH STATEMENT EXECUTE FUNCTION catalog_product_search_names_truncate();

{COPY.format(rows="catalog_product n", also="")};
"""

DROP_TRIGGERS = """
DROP TRIGGER IF EXISTS catalog_product_search_names_truncate ON catalog_product;
DROP FUNCTION IF EXISTS catalog_product_search_names_truncate();
DROP TRIGGER IF EXISTS catalog_product_search_names_delete ON catalog_product;
DROP TRIGGER IF EXISTS catalog_product_search_names_update ON catalog_product;
DROP TRIGGER IF EXISTS catalog_product_search_names_insert ON catalog_product;
DROP FUNCTION IF EXISTS catalog_product_search_names();
"""


def _trigram_index(schema_editor, sql: str) -> None:
    """Create a trigram index; where pg_trgm is unavailable, warn and leave search to scan the narrow table."""
    try:
        with transaction.atomic(using=schema_editor.connection.alias):
            schema_editor.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
            schema_editor.execute(sql)
    except DatabaseError as exc:
        logger.warning("pg_trgm unavailable, product search will scan its names: %s", exc)


def create(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute(TRIGGERS)
    # UPPER(name::text) is what Django's icontains compiles to on PostgreSQL.
    _trigram_index(
        schema_editor,
        f"CREATE INDEX IF NOT EXISTS {NAME_INDEX} ON catalog_productsearchname "
        "USING gin (UPPER(name::text) gin_trgm_ops)",
    )
    schema_editor.execute(f"DROP INDEX IF EXISTS {OLD_INDEX}")
    schema_editor.execute(f"DROP STATISTICS IF EXISTS {OLD_STATISTICS}")
    schema_editor.execute(
        f"CREATE STATISTICS IF NOT EXISTS {NAME_STATISTICS} ON (UPPER(name::text)) FROM catalog_productsearchname"
    )
    schema_editor.execute("ANALYZE catalog_productsearchname")


def drop(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute(DROP_TRIGGERS)
    schema_editor.execute(f"DROP STATISTICS IF EXISTS {NAME_STATISTICS}")
    schema_editor.execute(
        f"CREATE STATISTICS IF NOT EXISTS {OLD_STATISTICS} ON (UPPER(name::text)) FROM catalog_product"
    )
    _trigram_index(
        schema_editor,
        f"CREATE INDEX IF NOT EXISTS {OLD_INDEX} ON catalog_product USING gin (UPPER(name::text) gin_trgm_ops) "
        "WHERE status = 'publish' AND deleted_at IS NULL",
    )


class Migration(migrations.Migration):
    dependencies = [
        ("catalog", "0010_page_index_only"),
    ]

    operations = [
        migrations.CreateModel(
            name="ProductSearchName",
            fields=[
                ("product_id", models.PositiveBigIntegerField(primary_key=True, serialize=False)),
                ("name", models.TextField()),
                ("sku", models.CharField(db_index=True, max_length=200)),
            ],
        ),
        migrations.RunPython(create, drop),
    ]
