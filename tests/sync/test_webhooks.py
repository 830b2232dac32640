"""The webhook receiver: signatures, rejections that write nothing, routing of every captured delivery."""

from __future__ import annotations

import json
import logging

import pytest

from sync.models import OperationAction, SyncOperation
from sync.services.webhooks import webhook_is_ping, webhook_signature_valid
from tests.sync.webhook_samples import (
    SAMPLE_SECRET,
    SAMPLES_IN_ORDER,
    WEBHOOK_URL,
    post,
    sample,
    sign,
    signed_delivery,
)

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def webhook_secret(settings):
    settings.WOOCOMMERCE_WEBHOOK_SECRET = SAMPLE_SECRET
    return SAMPLE_SECRET


def _ops() -> list[tuple]:
    return list(
        SyncOperation.objects.order_by("id").values_list("action", "object_kind", "object_id", "parent_id", "topic")
    )


# --- signatures -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", SAMPLES_IN_ORDER)
def test_every_captured_delivery_verifies_with_its_secret_and_only_with_it(name):
    delivery = sample(name)

    assert webhook_signature_valid(body=delivery.body, signature=delivery.signature, secret=SAMPLE_SECRET)
    assert not webhook_signature_valid(body=delivery.body, signature=delivery.signature, secret="another secret")
    assert not webhook_signature_valid(body=delivery.body + b" ", signature=delivery.signature, secret=SAMPLE_SECRET)


def test_the_signature_covers_the_raw_bytes_not_reserialised_json():
    delivery = sample("product.updated-price-edit")
    reserialised = json.dumps(json.loads(delivery.body), separators=(",", ":")).encode()

    assert b"\\/" in delivery.body and reserialised != delivery.body
    assert not webhook_signature_valid(body=reserialised, signature=delivery.signature, secret=SAMPLE_SECRET)


def test_the_captured_ping_is_recognised_and_a_signed_body_is_not_a_ping():
    ping = sample("ping-on-create")

    assert webhook_is_ping(body=ping.body, signature=ping.signature)
    assert not webhook_is_ping(body=ping.body, signature="x")
    assert not webhook_is_ping(body=b"webhook_id=15&x=1", signature=None)


# --- routing of every captured delivery ---------------------------------------------------------------------

EXPECTED_ROUTES = {
    "product.created-variable-parent": [("upsert", "product", 5327, None, "product.created")],
    "product.created-variation": [("upsert", "variation", 5328, 5327, "product.created")],
    "product.created-simple": [("upsert", "product", 5330, None, "product.created")],
    "product.updated-price-edit": [("upsert", "product", 5330, None, "product.updated")],
    "product.updated-variation-stock-edit": [("upsert", "variation", 5328, 5327, "product.updated")],
    "order.created-paid": [
        ("refresh", "product", 5330, None, "order.created"),
        ("refresh", "variation", 5329, 5327, "order.created"),
    ],
    "product.updated-after-order-simple": [("upsert", "product", 5330, None, "product.updated")],
    "product.updated-after-order-variation": [("upsert", "variation", 5329, 5327, "product.updated")],
    "product.deleted-trash": [("trash", "product", 5330, None, "product.deleted")],
}


@pytest.mark.parametrize("name", SAMPLES_IN_ORDER)
def test_each_captured_delivery_is_accepted_and_routed_on_its_payload(client, name):
    response = post(client, sample(name))

    assert response.status_code == 200, response.content
    assert response.json()["status"] == "queued"
    assert _ops() == EXPECTED_ROUTES[name]


def test_a_full_payload_keeps_the_resource_and_its_stock_and_price_values(client):
    post(client, sample("product.updated-after-order-simple"))

    op = SyncOperation.objects.get()
    assert op.payload["id"] == 5330 and op.payload["permalink"] == "http://127.0.0.1:8080/product/sample-mug/"
    assert op.new_values["stock_quantity"] == "28" and op.new_values["price"] == "10.5"
    assert op.base_values == {}  # not mirrored yet
    assert op.modified_at.isoformat() == "2026-12-01T04:15:14+00:00"
    assert op.state == "pending" and op.attempts == 0 and op.origin == "webhook"


def test_the_ping_gets_exactly_200_and_writes_nothing(client):
    ping = sample("ping-on-create")

    response = client.post(WEBHOOK_URL, data=ping.body, content_type=ping.content_type, headers=ping.wc_headers())

    assert response.status_code == 200
    assert response.content == b""
    assert SyncOperation.objects.count() == 0


# --- rejections write nothing -----------------------------------------------------------------------------


def test_a_bad_signature_gets_401_and_writes_nothing(client, caplog):
    delivery = sample("product.updated-price-edit")
    forged = delivery.wc_headers() | {"X-WC-Webhook-Signature": sign(delivery.body, "guessed")}

    with caplog.at_level(logging.WARNING):
        response = client.post(WEBHOOK_URL, data=delivery.body, content_type="application/json", headers=forged)

    assert response.status_code == 401
    assert response.json() == {
        "code": "webhook_unauthorized",
        "message": "bad X-WC-Webhook-Signature",
        "data": {"status": 401},
    }
    assert SyncOperation.objects.count() == 0
    assert "webhook rejected: 401" in caplog.text
    assert SAMPLE_SECRET not in caplog.text


def test_a_missing_signature_gets_401_and_writes_nothing(client):
    delivery = sample("product.updated-price-edit")
    headers = {k: v for k, v in delivery.wc_headers().items() if k != "X-WC-Webhook-Signature"}

    response = client.post(WEBHOOK_URL, data=delivery.body, content_type="application/json", headers=headers)

    assert response.status_code == 401
    assert response.json() == {
        "code": "webhook_unauthorized",
        "message": "missing X-WC-Webhook-Signature",
        "data": {"status": 401},
    }
    assert SyncOperation.objects.count() == 0


def test_no_configured_secret_refuses_even_a_correctly_signed_delivery(client, settings):
    settings.WOOCOMMERCE_WEBHOOK_SECRET = ""

    response = post(client, sample("product.updated-price-edit"))

    assert response.status_code == 401
    assert SyncOperation.objects.count() == 0


def test_a_truncated_body_gets_400_and_writes_nothing(client):
    body = sample("product.updated-price-edit").body[:700]  # signed as it arrived: the JSON is cut
    delivery = signed_delivery("product.updated", body)

    response = post(client, delivery)

    assert response.status_code == 400
    assert "not valid JSON" in response.json()["message"]
    assert SyncOperation.objects.count() == 0


def test_a_3_mb_body_gets_413_and_writes_nothing(client):
    payload = json.loads(sample("product.updated-price-edit").body)
    payload["description"] = "x" * (3 * 1024 * 1024)
    delivery = signed_delivery("product.updated", payload)

    response = post(client, delivery)

    assert response.status_code == 413
    assert SyncOperation.objects.count() == 0


def test_the_body_limit_is_a_setting(client, settings):
    settings.WEBHOOK_MAX_BODY_BYTES = 1000

    assert post(client, sample("product.updated-price-edit")).status_code == 413
    assert post(client, sample("product.deleted-trash")).status_code == 200


@pytest.mark.parametrize(
    ("topic", "body", "error"),
    [
        ("coupon.created", b'{"id":1}', "unsupported topic 'coupon.created'"),
        ("", b'{"id":1}', "unsupported topic ''"),
        ("action.woocommerce_product_set_stock", b'{"action":"x","arg":[]}', "unsupported topic"),
        ("product.updated", b"[1,2]", "the body must be a JSON object"),
        ("product.updated", b'{"name":"no id"}', "no usable id"),
        ("product.updated", b'{"id":99999999999999999999}', "id out of range"),
        ("product.updated", b'{"id":7,"type":"variation"}', "no usable parent_id"),
        ("product.deleted", b'{"id":"x"}', "product.deleted needs an id"),
        ("order.created", b'{"id":9,"line_items":"nope"}', "no line_items list"),
        ("product.updated", b"\xff\xfe not utf-8", "not valid JSON"),
    ],
)
def test_unknown_topics_and_unusable_bodies_get_400_and_write_nothing(client, topic, body, error):
    response = post(client, signed_delivery(topic, body))

    assert response.status_code == 400
    assert error in response.json()["message"]
    assert SyncOperation.objects.count() == 0


def test_get_is_not_allowed(client):
    assert client.get(WEBHOOK_URL).status_code == 405


# --- deduplication ----------------------------------------------------------------------------------------


def test_the_same_delivery_twice_is_one_operation(client):
    delivery = sample("product.updated-price-edit")

    first, second = post(client, delivery), post(client, delivery)

    assert first.json()["created"] == 1
    assert second.status_code == 200 and second.json() == {
        "status": "queued",
        "operations": 1,
        "created": 0,
        "duplicates": 1,
    }
    assert SyncOperation.objects.count() == 1


def test_the_delivery_id_is_not_the_dedupe_key(client):
    # Two different edits delivered in the same second carry the same Delivery-ID: both count.
    created, edited = sample("product.created-simple"), sample("product.updated-price-edit")
    assert json.loads(created.body)["date_modified_gmt"] == json.loads(edited.body)["date_modified_gmt"]
    same_id = {"X-WC-Webhook-Delivery-ID": "366b16225c640cd77061980994ab921f"}

    client.post(WEBHOOK_URL, data=created.body, content_type="application/json", headers=created.wc_headers() | same_id)
    client.post(WEBHOOK_URL, data=edited.body, content_type="application/json", headers=edited.wc_headers() | same_id)

    assert SyncOperation.objects.count() == 2


def test_an_order_delivered_as_created_and_updated_with_the_same_body_is_queued_once(client):
    order = sample("order.created-paid")
    updated = signed_delivery("order.updated", order.body)

    post(client, order)
    post(client, updated)

    assert SyncOperation.objects.filter(action=OperationAction.REFRESH).count() == 2  # one per line item


def test_a_repeated_trash_is_one_operation_but_trash_restore_trash_are_three(client):
    trash = sample("product.deleted-trash")

    post(client, trash)
    post(client, trash)
    assert SyncOperation.objects.filter(action="trash").count() == 1

    restored = json.loads(sample("product.updated-after-order-simple").body) | {
        "date_modified_gmt": "2026-12-01T05:00:00"
    }
    post(client, signed_delivery("product.updated", restored))
    post(client, trash)

    assert _ops()[-3:] == [
        ("trash", "product", 5330, None, "product.deleted"),
        ("upsert", "product", 5330, None, "product.updated"),
        ("trash", "product", 5330, None, "product.deleted"),
    ]


def test_the_error_body_of_an_edited_then_deleted_product_is_acknowledged_and_dropped(client, caplog):
    body = b'{"code":"woocommerce_rest_product_invalid_id","message":"Invalid ID.","data":{"status":404}}'

    with caplog.at_level(logging.WARNING):
        response = post(client, signed_delivery("product.updated", body))

    assert response.status_code == 200
    assert response.json()["status"] == "ignored"
    assert SyncOperation.objects.count() == 0
    assert "woocommerce_rest_product_invalid_id" in caplog.text


# --- not throttled like anonymous traffic ------------------------------------------------------------------


def test_the_receiver_is_not_subject_to_the_anonymous_throttle(client, settings):
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {"anon": "2/hour", "user": None, "staff": None},
    }

    statuses = [post(client, sample(name)).status_code for name in SAMPLES_IN_ORDER]
    anonymous = [client.get("/api/products/").status_code for _ in range(3)]

    assert statuses == [200] * len(SAMPLES_IN_ORDER)
    assert anonymous[-1] == 429  # the throttle is on for everything else


# --- hostile but signed bodies ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "body",
    [b'{"id": NaN}', b'{"id": 5, "price": Infinity}', b'{"a":' * 100_000 + b"1" + b"}" * 100_000],
    ids=["nan", "infinity", "deep-nesting"],
)
def test_json_that_is_not_json_gets_400_and_writes_nothing(client, body):
    response = post(client, signed_delivery("product.updated", body))

    assert response.status_code == 400
    assert SyncOperation.objects.count() == 0


def test_a_nul_character_in_a_string_is_dropped_not_a_500(client):
    payload = json.loads(sample("product.created-simple").body)
    payload["description"] = "before\u0000after"

    response = post(client, signed_delivery("product.created", payload))

    assert response.status_code == 200
    assert SyncOperation.objects.get().payload["description"] == "beforeafter"


# --- cost ---------------------------------------------------------------------------------------------------


def test_a_product_delivery_costs_two_queries_and_a_duplicate_one(client, django_assert_num_queries):
    delivery = sample("product.updated-price-edit")

    # the context (mirror values, hot flag, known key) and the INSERT (+ the test transaction's savepoint)
    with django_assert_num_queries(4):
        assert post(client, delivery).status_code == 200
    with django_assert_num_queries(1):
        assert post(client, delivery).json()["duplicates"] == 1
