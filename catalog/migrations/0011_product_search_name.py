"""``search=`` reads a narrow copy of the searchable names (``ProductSearchName``), kept by triggers.

The trigram index is lossy, so PostgreSQL rechecks every candidate it yields on the row's heap page. On the
product table (about 1.1 kB a row: descriptions, images, attributes) a word in one name out of five meant
40,000 candidates on 22,000 pages at 200,000 products: the first count of each new search term read them
all, about 100–180 ms cold. The copy holds only the id, name and SKU of the products a search can show,
about 100 rows to a page, and takes the trigram index and the statistics on ``UPPER(name)``; those on the
product table go (nothing else reads them, and every write of a product row paid for the index).

On PostgreSQL triggers keep the copy: statement triggers add the searchable rows of an insert and remove
those of a delete or TRUNCATE; a row trigger follows an update only where the id, name, SKU, status,
deletion or visibility changed (the sync's stock and price writes queue nothing). SQLite gets the empty
table and searches the product table, as before.
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
SEARCHABLE = "{t}.status = 'publish' AND {t}.deleted_at IS NULL AND {t}.catalog_visibility IN ('visible', 'search')"
COPIED = ("id", "name", "sku", "status", "deleted_at", "catalog_visibility")
UPSERT = "ON CONFLICT (product_id) DO UPDATE SET name = EXCLUDED.name, sku = EXCLUDED.sku"

TRIGGERS = f"""
CREATE FUNCTION catalog_product_search_names() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        INSERT INTO catalog_productsearchname (product_id, name, sku)
            SELECT n.id, n.name, n.sku FROM new_rows n WHERE {SEARCHABLE.format(t="n")} {UPSERT};
    ELSE
        DELETE FROM catalog_productsearchname WHERE product_id IN (SELECT id FROM old_rows);
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER catalog_product_search_names_insert AFTER INSERT ON catalog_product
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION catalog_product_search_names();
CREATE TRIGGER catalog_product_search_names_delete AFTER DELETE ON catalog_product
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION catalog_product_search_names();

-- Updates, row by row, only where a copied column changed: the sync's stock and price writes (most of its
-- updates) queue nothing, where a statement trigger would capture every updated row.
CREATE FUNCTION catalog_product_search_name_update() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM catalog_productsearchname WHERE product_id = OLD.id;
    IF {SEARCHABLE.format(t="NEW")} THEN
        INSERT INTO catalog_productsearchname (product_id, name, sku) VALUES (NEW.id, NEW.name, NEW.sku) {UPSERT};
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER catalog_product_search_names_update AFTER UPDATE ON catalog_product FOR EACH ROW
    WHEN (({", ".join(f"OLD.{c}" for c in COPIED)}) IS DISTINCT FROM ({", ".join(f"NEW.{c}" for c in COPIED)}))
    EXECUTE FUNCTION catalog_product_search_name_update();

CREATE FUNCTION catalog_product_search_names_truncate() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM catalog_productsearchname;
    RETURN NULL;
END $$;
CREATE TRIGGER catalog_product_search_names_truncate AFTER TRUNCATE ON catalog_product
    FOR EACH STATEMENT EXECUTE FUNCTION catalog_product_search_names_truncate();

INSERT INTO catalog_productsearchname (product_id, name, sku)
    SELECT p.id, p.name, p.sku FROM catalog_product p WHERE {SEARCHABLE.format(t="p")} {UPSERT};
"""

DROP_TRIGGERS = """
DROP TRIGGER IF EXISTS catalog_product_search_names_truncate ON catalog_product;
DROP FUNCTION IF EXISTS catalog_product_search_names_truncate();
DROP TRIGGER IF EXISTS catalog_product_search_names_delete ON catalog_product;
DROP TRIGGER IF EXISTS catalog_product_search_names_update ON catalog_product;
DROP FUNCTION IF EXISTS catalog_product_search_name_update();
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
