"""Stored list fragments (``ProductListFragment``), the product's ``list_version`` and the list epoch.

On PostgreSQL, triggers keep both numbers without trusting any writer (the sync, the queue processor, the
admin, a psql session):

* ``catalog_product.list_version`` takes a new value of one sequence when a product row is inserted or
  changes at all, when its category links change, when a linked category's name, slug or order changes, and
  when one of its variations is added, removed, published, hidden, deleted or reordered (the list shows
  the ids of the public ones). Values are never reused, so a fragment matches only the row it was rendered
  from, even after a delete and a re-insert.
* ``catalog_productlistepoch.value`` takes a new value (never a repeated one) once per committing
  transaction that changed what a product filter can match (a deferred trigger, so it is the last lock a
  writer takes: no new deadlock).

SQLite (the dev default) gets the tables and the column but no triggers; the list renders every page there.
"""

from django.db import migrations, models

_FILTERED_COLUMNS = (
    "status",
    "deleted_at",
    "catalog_visibility",
    "name",
    "sku",
    "price",
    "stock_status",
    "on_sale",
    "featured",
)
_CHANGED = " OR ".join(f"OLD.{c} IS DISTINCT FROM NEW.{c}" for c in _FILTERED_COLUMNS)

CREATE = f"""
CREATE SEQUENCE catalog_product_list_version_seq;

CREATE FUNCTION catalog_product_list_version() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    -- Any change, including a write of list_version itself (how the triggers below renew it).
    IF TG_OP = 'INSERT' OR NEW IS DISTINCT FROM OLD THEN
        NEW.list_version := nextval('catalog_product_list_version_seq');
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER catalog_product_list_version BEFORE INSERT OR UPDATE ON catalog_product
    FOR EACH ROW EXECUTE FUNCTION catalog_product_list_version();

CREATE FUNCTION catalog_product_list_renew_links() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP IN ('INSERT', 'UPDATE') THEN
        UPDATE catalog_product SET list_version = -1 WHERE id IN (SELECT product_id FROM new_rows);
    END IF;
    IF TG_OP IN ('DELETE', 'UPDATE') THEN
        UPDATE catalog_product SET list_version = -1 WHERE id IN (SELECT product_id FROM old_rows);
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER catalog_product_list_links_insert AFTER INSERT ON catalog_productcategory
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION catalog_product_list_renew_links();
CREATE TRIGGER catalog_product_list_links_update AFTER UPDATE ON catalog_productcategory
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION catalog_product_list_renew_links();
CREATE TRIGGER catalog_product_list_links_delete AFTER DELETE ON catalog_productcategory
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION catalog_product_list_renew_links();

CREATE FUNCTION catalog_product_list_renew_categories() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    -- A product lists its categories' id, name and slug, ordered by (menu_order, name, id).
    UPDATE catalog_product SET list_version = -1 WHERE id IN (
        SELECT link.product_id FROM catalog_productcategory link
        JOIN new_rows n ON n.id = link.category_id JOIN old_rows o ON o.id = n.id
        WHERE (o.name, o.slug, o.menu_order) IS DISTINCT FROM (n.name, n.slug, n.menu_order)
    );
    RETURN NULL;
END $$;
CREATE TRIGGER catalog_product_list_categories_update AFTER UPDATE ON catalog_category
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION catalog_product_list_renew_categories();

CREATE FUNCTION catalog_product_list_renew_variations() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    -- A product lists the ids of its public variations by (menu_order, id); stock and prices are not shown.
    IF TG_OP = 'INSERT' THEN
        UPDATE catalog_product SET list_version = -1 WHERE id IN (SELECT product_id FROM new_rows);
    ELSIF TG_OP = 'DELETE' THEN
        UPDATE catalog_product SET list_version = -1 WHERE id IN (SELECT product_id FROM old_rows);
    ELSE
        UPDATE catalog_product SET list_version = -1 WHERE id IN (
            SELECT unnest(ARRAY[o.product_id, n.product_id]) FROM old_rows o JOIN new_rows n ON n.id = o.id
            WHERE (o.product_id, o.status, o.deleted_at, o.menu_order)
                IS DISTINCT FROM (n.product_id, n.status, n.deleted_at, n.menu_order)
        );
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER catalog_product_list_variations_insert AFTER INSERT ON catalog_productvariation
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION catalog_product_list_renew_variations();
CREATE TRIGGER catalog_product_list_variations_update AFTER UPDATE ON catalog_productvariation
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION catalog_product_list_renew_variations();
CREATE TRIGGER catalog_product_list_variations_delete AFTER DELETE ON catalog_productvariation
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION catalog_product_list_renew_variations();

CREATE FUNCTION catalog_product_list_epoch_bump() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    -- Deferred to the commit, once per transaction (a transaction-local flag). A value from the sequence,
    -- not value + 1: never repeated, even if the row is deleted (a test's flush) and written again.
    IF current_setting('catalog.list_epoch_bumped', true) IS DISTINCT FROM 'on' THEN
        PERFORM set_config('catalog.list_epoch_bumped', 'on', true);
        INSERT INTO catalog_productlistepoch (id, value) VALUES (1, nextval('catalog_product_list_version_seq'))
            ON CONFLICT (id) DO UPDATE SET value = EXCLUDED.value;
    END IF;
    RETURN NULL;
END $$;
CREATE CONSTRAINT TRIGGER catalog_product_list_epoch_products AFTER INSERT OR DELETE ON catalog_product
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION catalog_product_list_epoch_bump();
CREATE CONSTRAINT TRIGGER catalog_product_list_epoch_products_update AFTER UPDATE ON catalog_product
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW WHEN ({_CHANGED})
    EXECUTE FUNCTION catalog_product_list_epoch_bump();
CREATE CONSTRAINT TRIGGER catalog_product_list_epoch_links AFTER INSERT OR UPDATE OR DELETE
    ON catalog_productcategory DEFERRABLE INITIALLY DEFERRED FOR EACH ROW
    EXECUTE FUNCTION catalog_product_list_epoch_bump();
CREATE CONSTRAINT TRIGGER catalog_product_list_epoch_categories AFTER INSERT OR DELETE ON catalog_category
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION catalog_product_list_epoch_bump();
CREATE CONSTRAINT TRIGGER catalog_product_list_epoch_categories_update AFTER UPDATE ON catalog_category
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW
    WHEN ((OLD.parent_id, OLD.slug) IS DISTINCT FROM (NEW.parent_id, NEW.slug))
    EXECUTE FUNCTION catalog_product_list_epoch_bump();
"""

DROP = """
DROP TRIGGER IF EXISTS catalog_product_list_epoch_categories_update ON catalog_category;
DROP TRIGGER IF EXISTS catalog_product_list_epoch_categories ON catalog_category;
DROP TRIGGER IF EXISTS catalog_product_list_epoch_links ON catalog_productcategory;
DROP TRIGGER IF EXISTS catalog_product_list_epoch_products_update ON catalog_product;
DROP TRIGGER IF EXISTS catalog_product_list_epoch_products ON catalog_product;
DROP FUNCTION IF EXISTS catalog_product_list_epoch_bump();
DROP TRIGGER IF EXISTS catalog_product_list_variations_delete ON catalog_productvariation;
DROP TRIGGER IF EXISTS catalog_product_list_variations_update ON catalog_productvariation;
DROP TRIGGER IF EXISTS catalog_product_list_variations_insert ON catalog_productvariation;
DROP FUNCTION IF EXISTS catalog_product_list_renew_variations();
DROP TRIGGER IF EXISTS catalog_product_list_categories_update ON catalog_category;
DROP FUNCTION IF EXISTS catalog_product_list_renew_categories();
DROP TRIGGER IF EXISTS catalog_product_list_links_delete ON catalog_productcategory;
DROP TRIGGER IF EXISTS catalog_product_list_links_update ON catalog_productcategory;
DROP TRIGGER IF EXISTS catalog_product_list_links_insert ON catalog_productcategory;
DROP FUNCTION IF EXISTS catalog_product_list_renew_links();
DROP TRIGGER IF EXISTS catalog_product_list_version ON catalog_product;
DROP FUNCTION IF EXISTS catalog_product_list_version();
DROP SEQUENCE IF EXISTS catalog_product_list_version_seq;
"""


def create_triggers(apps, schema_editor):
    apps.get_model("catalog", "ProductListEpoch").objects.using(schema_editor.connection.alias).get_or_create(id=1)
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(CREATE)


def drop_triggers(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(DROP)


class Migration(migrations.Migration):
    dependencies = [
        ("catalog", "0007_product_pub_stock_price_idx"),
    ]

    operations = [
        migrations.CreateModel(
            name="ProductListEpoch",
            fields=[
                ("id", models.PositiveSmallIntegerField(default=1, primary_key=True, serialize=False)),
                ("value", models.BigIntegerField(default=0)),
            ],
        ),
        migrations.CreateModel(
            name="ProductListFragment",
            fields=[
                ("product_id", models.PositiveBigIntegerField(primary_key=True, serialize=False)),
                ("version", models.BigIntegerField()),
                ("shape", models.CharField(max_length=32)),
                ("body", models.TextField()),
            ],
        ),
        migrations.AddField(
            model_name="product",
            name="list_version",
            field=models.BigIntegerField(db_default=0, default=0, editable=False),
        ),
        migrations.RunPython(create_triggers, drop_triggers),
    ]
