"""Conflicts between a local edit and a WooCommerce change of the same field, resolved by SYNC_FIELD_RULES."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from io import StringIO

import pytest
from django.core.checks import run_checks
from django.core.management import call_command

from catalog.models import Product
from sync.models import SyncOperation
from sync.services.field_rules import FieldRulesError, field_rules_parse
from tests.sync.helpers import run_sync
from tests.sync.push_helpers import Receiver, client, drain, local_edit, resource, simple_products, webhook_register
from tests.sync.webhook_samples import SAMPLE_SECRET

pytestmark = pytest.mark.django_db


@pytest.fixture
def receiver():
    receiver = Receiver()
    yield receiver
    receiver.close()


@pytest.fixture
def store(make_sandbox, settings, receiver):
    """A mirrored store whose product.updated deliveries the test forwards to the real receiver."""
    settings.WOOCOMMERCE_WEBHOOK_SECRET = SAMPLE_SECRET
    settings.SYNC_QUEUE_RETRY_BASE_SECONDS = 0
    server = make_sandbox(products=20, variable_share=0.0)
    pid = simple_products(server)[0]
    server.catalog.edit_product(pid, name="Mug", regular_price="20.00", sale_price="", stock_quantity=10)
    assert run_sync("--full").code == 0
    with client() as woo:
        webhook_register(woo, receiver.url)
    server.deliver_webhooks()
    receiver.bodies.clear()
    server.reset_stats()
    server.pid = pid
    return server


@pytest.fixture
def woo(store):
    woo = client()
    yield woo
    woo.close()


def _both_pending(store, receiver, django_client, *, local: dict, base: dict, remote: dict) -> SyncOperation:
    """A staff edit queued first, then WooCommerce's own edit delivered: both wait for the processor."""
    op = local_edit(object_id=store.pid, new=local, base=base)
    SyncOperation.objects.filter(id=op.id).update(created_at=op.created_at - timedelta(seconds=5))
    store.catalog.edit_product(store.pid, **remote)
    store.deliver_webhooks()
    assert receiver.forward(django_client) == 1
    assert SyncOperation.objects.filter(origin="webhook", object_id=store.pid, state="pending").count() == 1
    return op


def test_central_keeps_woocommerces_price_in_both_places_and_records_the_losing_value(
    store, woo, receiver, client, settings
):
    settings.SYNC_FIELD_RULES = "regular_price=central"
    op = _both_pending(
        store, receiver, client, local={"regular_price": "25.00"}, base={"regular_price": "20.00"},
        remote={"regular_price": "22.00"},
    )  # fmt: skip

    drain(woo)

    op.refresh_from_db()
    assert op.state == "done"
    assert Decimal(resource(woo, store.pid)["regular_price"]) == Decimal("22.00")
    assert Product.objects.get(id=store.pid).regular_price == Decimal("22.00")
    field = op.resolution["fields"]["regular_price"]
    assert (field["rule"], field["local"], field["base"], field["result"], field["winner"]) == (
        "central", "25.00", "20.00", "22", "remote",
    )  # fmt: skip
    assert Decimal(field["remote"]) == 22 and field["conflict"] is True
    assert op.resolution["result"] == "nothing_to_push"
    assert store.stats["writes"] == 0
    webhook = SyncOperation.objects.get(origin="webhook", object_id=store.pid)
    assert webhook.state == "done" and webhook.resolution == {"result": "superseded", "by": op.id}


def test_last_write_by_default_the_later_woocommerce_edit_wins(store, woo, receiver, client, settings):
    settings.SYNC_FIELD_RULES = ""
    op = _both_pending(
        store, receiver, client, local={"regular_price": "25.00"}, base={"regular_price": "20.00"},
        remote={"regular_price": "22.00"},
    )  # fmt: skip

    drain(woo)

    op.refresh_from_db()
    assert op.resolution["fields"]["regular_price"]["rule"] == "last_write"
    assert op.resolution["fields"]["regular_price"]["winner"] == "remote"
    assert Product.objects.get(id=store.pid).regular_price == Decimal("22.00")


def test_a_restock_from_10_to_15_and_a_sale_of_2_end_at_13_in_both_places(store, woo, receiver, client):
    op = local_edit(object_id=store.pid, new={"stock_quantity": 15}, base={"stock_quantity": 10})
    store.create_order(line_items=[{"product_id": store.pid, "quantity": 2}])
    store.deliver_webhooks()
    assert receiver.forward(client) == 1  # the sale's product.updated

    drain(woo)

    op.refresh_from_db()
    assert op.state == "done", op.last_error
    assert resource(woo, store.pid)["stock_quantity"] == 13
    assert Product.objects.get(id=store.pid).stock_quantity == 13
    field = op.resolution["fields"]["stock_quantity"]
    assert (field["rule"], field["base"], field["local"], field["remote"], field["result"]) == ("delta", 10, 15, 8, 13)
    assert op.resolution["pushed"] == {"stock_quantity": 13}


def test_max_pushes_the_larger_price(store, woo, receiver, client, settings):
    settings.SYNC_FIELD_RULES = "regular_price=max"
    op = _both_pending(
        store, receiver, client, local={"regular_price": "25.00"}, base={"regular_price": "20.00"},
        remote={"regular_price": "22.00"},
    )  # fmt: skip

    drain(woo)

    op.refresh_from_db()
    assert op.resolution["fields"]["regular_price"]["winner"] == "local"
    assert Decimal(resource(woo, store.pid)["regular_price"]) == 25
    assert Product.objects.get(id=store.pid).regular_price == 25
    assert store.stats["writes"] == 1


def test_min_keeps_the_smaller_sale_price(store, woo, receiver, client, settings):
    settings.SYNC_FIELD_RULES = "sale_price=min"
    op = _both_pending(
        store, receiver, client, local={"sale_price": "15.00"}, base={"sale_price": ""}, remote={"sale_price": "12.00"}
    )

    drain(woo)

    op.refresh_from_db()
    field = op.resolution["fields"]["sale_price"]
    assert (field["rule"], field["winner"]) == ("min", "remote")
    assert Decimal(resource(woo, store.pid)["sale_price"]) == 12
    assert Product.objects.get(id=store.pid).sale_price == 12
    assert store.stats["writes"] == 0


def test_concat_joins_both_names(store, woo, receiver, client, settings):
    settings.SYNC_FIELD_RULES = "name=concat"
    op = _both_pending(
        store, receiver, client, local={"name": "Mug blue"}, base={"name": "Mug"}, remote={"name": "Mug XL"}
    )

    drain(woo)

    op.refresh_from_db()
    assert op.resolution["fields"]["name"]["result"] == "Mug XL Mug blue"
    assert resource(woo, store.pid)["name"] == "Mug XL Mug blue"
    assert Product.objects.get(id=store.pid).name == "Mug XL Mug blue"


def test_an_edit_of_another_field_is_no_conflict(store, woo, receiver, client, settings):
    settings.SYNC_FIELD_RULES = "regular_price=central"
    op = _both_pending(
        store, receiver, client, local={"regular_price": "25.00"}, base={"regular_price": "20.00"},
        remote={"name": "Mug XL"},
    )  # fmt: skip

    drain(woo)

    op.refresh_from_db()
    assert op.resolution["fields"]["regular_price"]["conflict"] is False
    assert Product.objects.filter(id=store.pid, regular_price=25, name="Mug XL").exists()


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("regular_price=concat", "makes no sense for regular_price"),
        ("name=max", "makes no sense for name"),
        ("manage_stock=min", "makes no sense for manage_stock"),
        ("stock_quantity=central", "stock is always merged as deltas"),
        ("description=central", "unknown field"),
        ("regular_price", "is not field=rule"),
        ("regular_price=central,regular_price=max", "given twice"),
    ],
)
def test_a_rule_that_makes_no_sense_is_refused_at_start_up(settings, text, message):
    with pytest.raises(FieldRulesError, match=message):
        field_rules_parse(text)
    settings.SYNC_FIELD_RULES = text
    assert [error.id for error in run_checks() if error.id.startswith("sync.")] == ["sync.E001"]
    stderr = StringIO()
    with pytest.raises(SystemExit) as exit_:
        call_command("process_sync_queue", "--once", stderr=stderr)
    assert exit_.value.code == 2 and message.split()[0] in stderr.getvalue()


def test_the_documented_example_parses():
    assert field_rules_parse(" regular_price=central , sale_price=last_write,name=concat") == {
        "regular_price": "central",
        "sale_price": "last_write",
        "name": "concat",
    }


def test_field_resolution_without_a_store():
    from datetime import UTC, datetime

    from sync.services.field_rules import field_resolve

    early, late = datetime(2026, 12, 1, 5, tzinfo=UTC), datetime(2026, 12, 1, 6, tzinfo=UTC)
    common = {"base": "20.00", "local": "25.00", "remote": "22.00", "rules": {}}
    assert field_resolve(name="regular_price", local_at=late, remote_at=early, **common).winner == "local"
    assert field_resolve(name="regular_price", local_at=early, remote_at=late, **common).winner == "remote"
    assert field_resolve(name="regular_price", local_at=late, remote_at=late, **common).winner == "local"  # a tie
    unchanged = field_resolve(
        name="regular_price", base="20.00", local="25.00", remote="20", rules={"regular_price": "central"},
        local_at=early, remote_at=late,
    )  # fmt: skip
    assert (unchanged.conflict, unchanged.result) == (False, "25.00")  # "20" is "20.00": no conflict
    no_sale = field_resolve(
        name="sale_price", base="15.00", local="", remote="12.00", rules={"sale_price": "max"},
        local_at=late, remote_at=early,
    )  # fmt: skip
    assert no_sale.result == "12.00"  # an empty sale price has no size: the price wins
    stock = field_resolve(name="stock_quantity", base=10, local=15, remote="8", rules={}, local_at=None, remote_at=None)
    assert (stock.rule, stock.result) == ("delta", 13)
