"""``POST /api/webhooks/woocommerce/``: the WooCommerce webhook receiver.

A plain Django view, not a DRF one: the signature covers the raw bytes, so nothing may parse the
body first, and the endpoint has no user to authenticate and no anonymous throttle (a store
delivering a burst of webhooks is not a scraper: it is authenticated by the signature instead).
It only enqueues: it never calls WooCommerce and never writes the catalog, so it answers in
milliseconds (a slow receiver holds up the store's whole delivery queue).
"""

from __future__ import annotations

import logging

from django.conf import settings
from django.db import DatabaseError
from django.http import HttpRequest, HttpResponse, JsonResponse, UnreadablePostError
from django.utils.decorators import method_decorator
from django.views import View
from django.views.decorators.csrf import csrf_exempt

from sync.services.webhooks import WebhookRejected, webhook_is_ping, webhook_receive

logger = logging.getLogger(__name__)


def _rejected(request: HttpRequest, status: int, message: str) -> JsonResponse:
    logger.warning(
        "webhook rejected: %d %s (topic=%r delivery=%r webhook=%r from %s)",
        status,
        message,
        request.headers.get("X-WC-Webhook-Topic", "")[:100],
        request.headers.get("X-WC-Webhook-Delivery-ID", "")[:100],
        request.headers.get("X-WC-Webhook-ID", "")[:20],
        request.META.get("REMOTE_ADDR", "?"),
    )
    return _error_response(_REJECTION_CODES.get(status, "webhook_rejected"), message, status)


# Shaped like every other /api/ error (WooCommerce's {code, message, data: {status}}).
_REJECTION_CODES = {400: "webhook_invalid", 401: "webhook_unauthorized", 413: "webhook_too_large"}


def _error_response(code: str, message: str, status: int) -> JsonResponse:
    response = JsonResponse({"code": code, "message": message, "data": {"status": status}}, status=status)
    response["Cache-Control"] = "no-store"
    return response


@method_decorator(csrf_exempt, name="dispatch")
class WooCommerceWebhookApi(View):
    """Verify, route and enqueue one delivery; answer the creation ping with a bare 200."""

    http_method_names = ["post"]

    def post(self, request: HttpRequest) -> HttpResponse:
        limit = settings.WEBHOOK_MAX_BODY_BYTES
        try:
            declared = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            return _rejected(request, 400, "bad Content-Length")
        if declared > limit:
            return _rejected(request, 413, f"body over {limit} bytes")
        try:
            body = request.read(limit + 1)
        except (UnreadablePostError, OSError):
            return _rejected(request, 400, "the body could not be read (truncated?)")
        if len(body) > limit:
            return _rejected(request, 413, f"body over {limit} bytes")
        if declared and len(body) < declared:
            return _rejected(request, 400, f"truncated body ({len(body)} of {declared} bytes)")

        signature = request.headers.get("X-WC-Webhook-Signature")
        if webhook_is_ping(body=body, signature=signature):
            logger.info("webhook ping: %s", body[:40].decode("ascii", "replace"))
            response = HttpResponse(status=200)
            response["Cache-Control"] = "no-store"
            return response
        topic = request.headers.get("X-WC-Webhook-Topic", "")
        try:
            outcome = webhook_receive(
                topic=topic, body=body, signature=signature, secret=settings.WOOCOMMERCE_WEBHOOK_SECRET
            )
        except WebhookRejected as rejected:
            return _rejected(request, rejected.status, rejected.message)
        except DatabaseError as error:
            # The store counts it as a failed delivery either way; a clear 503 beats an HTML 500.
            logger.error("webhook %r not queued: database error %s", topic[:100], type(error).__name__)
            return _error_response("database_unavailable", "the queue is unavailable, the delivery was not stored", 503)
        logger.info(
            "webhook %s: %d operation(s), %d new, %d duplicate(s)%s",
            outcome.topic,
            outcome.operations,
            outcome.created,
            outcome.duplicates,
            f" ({outcome.ignored})" if outcome.ignored else "",
        )
        response = JsonResponse(
            {
                "status": "ignored" if outcome.ignored else "queued",
                "operations": outcome.operations,
                "created": outcome.created,
                "duplicates": outcome.duplicates,
            }
        )
        response["Cache-Control"] = "no-store"
        return response
