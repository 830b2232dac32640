"""The sync app's endpoints: the WooCommerce webhook receiver and the staff writes.

``POST /api/webhooks/woocommerce/``: a plain Django view, not a DRF one: the signature covers the raw
bytes, so nothing may parse the body first, and the endpoint has no user to authenticate and no
anonymous throttle (a store delivering a burst of webhooks is not a scraper: it is authenticated by the
signature instead). It only enqueues: it never calls WooCommerce and never writes the catalog, so it
answers in milliseconds (a slow receiver holds up the store's whole delivery queue).

Staff writes (DRF, session or token, ``IsAdminUser``): ``PATCH /api/products/<id>/`` and
``PATCH /api/products/<id>/variations/<variation_id>/`` queue a price or stock edit (202 with the
operation), ``GET /api/sync/operations/<id>/`` shows it, ``POST /api/stock-imports/`` queues a CSV.
They validate and enqueue through ``sync.services.edits`` / ``stock_imports``; none writes the mirror.

Why the product PATCH is here and how it shares its URL with the catalog's GET: ``catalog`` may not
import ``sync``, and the write belongs to the queue, so the PATCH cannot live in ``catalog/apis.py``.
``ProductEditApi`` subclasses the catalog's ``ProductDetailApi`` (``sync`` -> ``catalog``, the
allowed arrow) and only adds ``patch``: GET, HEAD and OPTIONS are the catalog's code, unchanged (same
cache entries, ETags, query counts, errors). ``sync.urls`` is included before ``catalog.urls`` and
routes ``products/<digits>/`` here; slugs still reach the catalog's own route (edits are by id only,
so a PATCH by slug is the catalog view's 405). ``CACHE_CONTROL_MAX_AGE`` names both routes. A
delegating view or a module above both packages would do the same with more indirection; a hook
declared in ``catalog`` would have put the write's request shape and errors into ``catalog``.
"""

from __future__ import annotations

import contextlib
import logging
from typing import Any

from django.conf import settings
from django.db import DatabaseError
from django.http import HttpRequest, HttpResponse, JsonResponse, UnreadablePostError
from django.utils.decorators import method_decorator
from django.utils.http import parse_etags
from django.views import View
from django.views.decorators.csrf import csrf_exempt
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, inline_serializer
from rest_framework import exceptions, serializers, status
from rest_framework.parsers import JSONParser, MultiPartParser
from rest_framework.permissions import IsAdminUser
from rest_framework.renderers import JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from catalog import presentation
from catalog.apis import (
    ERRORS,
    ProductDetailApi,
    ProductNotFound,
    catalog_exception_handler,
)
from catalog.serializers import MAX_ID, ErrorSerializer
from catalog.services import CatalogNotFound
from common.errors import json_error
from sync.models import SyncOperation
from sync.serializers import ProductEditRequestSerializer, StockImportReportSerializer, SyncOperationSerializer
from sync.services.edits import (
    EditInvalid,
    EditTarget,
    EditTargetMissing,
    EditTargetTrashed,
    edit_target_get,
    staff_edit_submit,
)
from sync.services.stock_imports import StockImportRefused, stock_import_run
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
    return json_error(status=status, code=_REJECTION_CODES.get(status, "webhook_rejected"), message=message)


# Shaped like every other /api/ error (WooCommerce's {code, message, data: {status}}).
_REJECTION_CODES = {400: "webhook_invalid", 401: "webhook_unauthorized", 413: "webhook_too_large"}


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
            return json_error(
                status=503, code="database_unavailable", message="the queue is unavailable, the delivery was not stored"
            )
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


# --- Staff writes ----------------------------------------------------------------------------------------


class ProductTrashed(exceptions.APIException):
    status_code = 409
    default_detail = "The product is in WooCommerce's trash: restore it there before editing it."
    default_code = "product_trashed"


class PreconditionFailed(exceptions.APIException):
    status_code = 412
    default_detail = "If-Match does not match the product's current ETag: read it again (GET) and retry."
    default_code = "precondition_failed"


class PayloadTooLarge(exceptions.APIException):
    status_code = 413
    default_detail = "The file is too large."
    default_code = "payload_too_large"


# Anonymous gets 403, never 401: the first authenticator is the session, which sends no
# WWW-Authenticate challenge (DRF then answers 403), as on the CSV export.
STAFF_ERRORS = {
    403: OpenApiResponse(
        ErrorSerializer, description="Not staff: anonymous (`rest_not_authenticated`), a wrong token, or not staff."
    ),
    429: ERRORS[429],
}
EDIT_RESPONSES = {
    202: OpenApiResponse(
        SyncOperationSerializer,
        description="Queued: the operation (`state` pending). `Location` is its status URL. The catalog shows the "
        "new values once the processor has pushed them and WooCommerce has confirmed them.",
    ),
    400: OpenApiResponse(
        ErrorSerializer, description="Invalid value(s): `data.params` names each field and why. Nothing was queued."
    ),
    404: OpenApiResponse(ErrorSerializer, description="Unknown or deleted product (or variation of it)."),
    405: OpenApiResponse(ErrorSerializer, description="The lookup is not an id: edits are by WooCommerce id."),
    409: OpenApiResponse(ErrorSerializer, description="The product is in the trash."),
    412: OpenApiResponse(ErrorSerializer, description="`If-Match` is stale: nothing was queued."),
    415: OpenApiResponse(ErrorSerializer, description="The body is not JSON."),
    **STAFF_ERRORS,
}
IF_MATCH = OpenApiParameter(
    "If-Match",
    OpenApiTypes.STR,
    OpenApiParameter.HEADER,
    description="The product detail's `ETag` (GET /api/products/<id>/) the edit was made from: 412 if the "
    "product changed since. For a variation, the ETag of its product's detail.",
)
LOCATION = OpenApiParameter("Location", OpenApiTypes.STR, OpenApiParameter.HEADER, response=[202])


def _id_param(name: str, what: str) -> OpenApiParameter:
    return OpenApiParameter(
        name, {"type": "string", "pattern": "^[0-9]{1,18}$"}, OpenApiParameter.PATH, description=f"{what} id."
    )


def _if_match_check(request: Request, product_id: int) -> None:
    """412 unless ``If-Match`` (when sent) names the product detail's current ETag (weak comparison)."""
    header = request.headers.get("If-Match")
    if not header:
        return
    tags = parse_etags(header)
    if "*" in tags:
        return  # the product exists (checked before)
    try:
        current = presentation.catalog_response_get(endpoint="product", params={"id": product_id, "slug": None}).etag
    except CatalogNotFound:
        raise PreconditionFailed() from None  # not public: no representation an ETag could name
    wanted = current.removeprefix("W/")
    if not any(tag.removeprefix("W/") == wanted for tag in tags):
        raise PreconditionFailed()


def _edit_target(product_id: int, variation_id: int | None) -> EditTarget:
    try:
        return edit_target_get(product_id=product_id, variation_id=variation_id)
    except EditTargetMissing:
        raise ProductNotFound() from None
    except EditTargetTrashed:
        raise ProductTrashed() from None


def _parsed_id(value: str) -> int:
    # The route takes digits only; past a bigint it cannot be a WooCommerce id.
    number = int(value)
    if number > 2**63 - 1:
        raise ProductNotFound()
    return number


def _accepted(request: Request, target: EditTarget) -> Response:
    try:
        operation = staff_edit_submit(target=target, data=request.data, user=request.user)
    except EditInvalid as error:
        raise exceptions.ValidationError(error.errors) from None
    logger.info(
        "staff edit queued: operation %d %s %d by user %s: %s",
        operation.id,
        operation.object_kind,
        operation.object_id,
        request.user.pk,
        sorted(operation.new_values),
    )
    body = SyncOperationSerializer(operation).data
    response = Response(body, status=status.HTTP_202_ACCEPTED)
    response["Location"] = request.build_absolute_uri(body["url"])
    response.cache_private = True  # type: ignore[attr-defined]
    return response


class ProductEditApi(ProductDetailApi):
    # The catalog's product detail (GET/HEAD/OPTIONS inherited unchanged) plus the staff PATCH; see the
    # module docstring for why it is a subclass registered before the catalog's route.

    parser_classes = [JSONParser]

    def get_permissions(self) -> list[Any]:
        if self.request.method == "PATCH":
            return [IsAdminUser()]
        return super().get_permissions()

    @extend_schema(
        operation_id="products_partial_update",
        summary="Staff only: queue a price or stock edit of a product (pushed to WooCommerce by the queue).",
        description=(
            "Validated before anything is queued: prices ≥ 0 with at most the store's decimals, "
            "the sale price not above the regular price (the edit's or the mirror's), stock an integer "
            "(with `manage_stock` true, sent or already set), unknown fields refused. Session (with its "
            "CSRF token) or `Authorization: Token <key>`."
        ),
        parameters=[_id_param("lookup", "Product WooCommerce"), IF_MATCH, LOCATION],
        request=ProductEditRequestSerializer,
        responses=EDIT_RESPONSES,
    )
    def patch(self, request: Request, lookup: str) -> Response:
        product_id = _parsed_id(lookup)
        target = _edit_target(product_id, None)
        _if_match_check(request, product_id)
        return _accepted(request, target)


class VariationEditApi(APIView):
    renderer_classes = [JSONRenderer]
    parser_classes = [JSONParser]
    permission_classes = [IsAdminUser]
    http_method_names = ["patch", "options"]

    def get_exception_handler(self) -> Any:
        return catalog_exception_handler

    @extend_schema(
        operation_id="products_variations_partial_update",
        summary="Staff only: queue a price or stock edit of a variation.",
        description="As the product PATCH; `If-Match` takes the product detail's ETag (variations are in it).",
        parameters=[
            _id_param("lookup", "Product WooCommerce"),
            _id_param("variation_id", "Variation WooCommerce"),
            IF_MATCH,
            LOCATION,
        ],
        request=ProductEditRequestSerializer,
        responses=EDIT_RESPONSES,
    )
    def patch(self, request: Request, lookup: str, variation_id: str) -> Response:
        product_id = _parsed_id(lookup)
        target = _edit_target(product_id, _parsed_id(variation_id))
        _if_match_check(request, product_id)
        return _accepted(request, target)


class OperationNotFound(exceptions.NotFound):
    default_detail = "No such operation (done operations are pruned after SYNC_QUEUE_PRUNE_DAYS)."
    default_code = "operation_not_found"


class SyncOperationDetailApi(APIView):
    renderer_classes = [JSONRenderer]
    permission_classes = [IsAdminUser]

    def get_exception_handler(self) -> Any:
        return catalog_exception_handler

    @extend_schema(
        operation_id="sync_operations_retrieve",
        summary="Staff only: one queue operation: its state, attempts, last error and resolution.",
        description=(
            "`state`: pending, processing, done, failed (retried at `next_attempt_at`) or dead. `resolution` "
            "is what the processor recorded (per field: the rule, the local, remote and base values and the "
            "result; what was pushed and confirmed)."
        ),
        parameters=[_id_param("operation_id", "Operation")],
        responses={
            200: SyncOperationSerializer,
            404: OpenApiResponse(ErrorSerializer, description="No such operation."),
            **STAFF_ERRORS,
        },
    )
    def get(self, request: Request, operation_id: str) -> Response:
        number = int(operation_id)
        operation = SyncOperation.objects.filter(id=number).first() if number <= MAX_ID else None
        if operation is None:
            raise OperationNotFound()
        response = Response(SyncOperationSerializer(operation).data)
        response.cache_private = True  # type: ignore[attr-defined]
        return response


class StockImportCreateApi(APIView):
    renderer_classes = [JSONRenderer]
    parser_classes = [MultiPartParser]
    permission_classes = [IsAdminUser]

    def get_exception_handler(self) -> Any:
        return catalog_exception_handler

    @extend_schema(
        operation_id="stock_imports_create",
        summary="Staff only: import a stock CSV (`sku`, `stock_quantity`, optional `regular_price`).",
        description=(
            "Multipart, field `file`. Each good line queues one edit; bad lines are named by line number and "
            "the good ones are still queued; unknown SKUs are listed (the first 100, and counted). The same "
            "content again (same SHA-256) queues nothing and answers 200 with `already_imported`."
        ),
        request={
            "multipart/form-data": inline_serializer(
                name="StockImportUpload", fields={"file": serializers.FileField(help_text="The CSV, UTF-8.")}
            )
        },
        responses={
            202: OpenApiResponse(StockImportReportSerializer, description="Imported: the good lines are queued."),
            200: OpenApiResponse(StockImportReportSerializer, description="Already imported: nothing queued."),
            400: OpenApiResponse(ErrorSerializer, description="No file, or no usable header: nothing queued."),
            413: OpenApiResponse(ErrorSerializer, description="Over STOCK_IMPORT_MAX_BYTES."),
            415: OpenApiResponse(ErrorSerializer, description="Not multipart/form-data."),
            **STAFF_ERRORS,
        },
    )
    def post(self, request: Request) -> Response:
        limit = settings.STOCK_IMPORT_MAX_BYTES
        try:
            declared = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            declared = 0
        if declared > limit + 64 * 1024:  # the multipart envelope around the file
            raise PayloadTooLarge(f"The file is over {limit} bytes (STOCK_IMPORT_MAX_BYTES).")
        upload = request.data.get("file")
        if upload is None or isinstance(upload, str):
            raise exceptions.ValidationError({"file": "Send the CSV as the multipart field 'file'."})

        def open_upload() -> contextlib.AbstractContextManager:
            upload.seek(0)
            return contextlib.nullcontext(upload)

        try:
            result = stock_import_run(
                open_file=open_upload, filename=upload.name or "", source="upload", user=request.user
            )
        except StockImportRefused as refused:
            if refused.status == 413:
                raise PayloadTooLarge(refused.message) from None
            raise exceptions.ValidationError({"file": refused.message}) from None
        logger.info(
            "stock import %d by user %s: %d rows, %d queued, %d bad, %d unknown%s",
            result.import_id,
            request.user.pk,
            result.rows,
            result.queued,
            result.bad,
            result.unknown,
            " (already imported)" if result.already_imported else "",
        )
        body = StockImportReportSerializer(StockImportReportSerializer.from_result(result)).data
        response = Response(body, status=status.HTTP_200_OK if result.already_imported else status.HTTP_202_ACCEPTED)
        response.cache_private = True  # type: ignore[attr-defined]
        return response
