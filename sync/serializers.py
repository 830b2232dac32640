"""Shapes of the staff write endpoints: the edit request (documentation), the operation, the import report."""

from __future__ import annotations

from typing import Any

from django.urls import reverse
from rest_framework import serializers

from sync.models import SyncOperation


class ProductEditRequestSerializer(serializers.Serializer):
    """The PATCH body as the schema shows it. The values are validated by ``sync.services.edits``
    (shared with the admin form and the stock import), not here: this serializer only documents it."""

    regular_price = serializers.CharField(
        required=False, help_text='Decimal string with at most the store\'s decimals, e.g. "12.50"; ≥ 0.'
    )
    sale_price = serializers.CharField(
        required=False,
        allow_blank=True,
        allow_null=True,
        help_text="Like regular_price, not above it (the edit's or the mirror's); \"\" or null ends the sale.",
    )
    stock_quantity = serializers.IntegerField(
        required=False, min_value=0, max_value=999_999_999, help_text="Absolute stock; needs manage_stock."
    )
    manage_stock = serializers.BooleanField(required=False)


class SyncOperationSerializer(serializers.ModelSerializer):
    url = serializers.SerializerMethodField()

    class Meta:
        model = SyncOperation
        fields = [
            "id",
            "url",
            "origin",
            "action",
            "object_kind",
            "object_id",
            "parent_id",
            "state",
            "attempts",
            "next_attempt_at",
            "last_error",
            "base_values",
            "new_values",
            "resolution",
            "created_at",
            "updated_at",
            "finished_at",
        ]
        read_only_fields = fields

    def get_url(self, obj: SyncOperation) -> str:
        return reverse("sync:operation-detail", kwargs={"operation_id": obj.id})


class StockImportLineSerializer(serializers.Serializer):
    line = serializers.IntegerField()
    reason = serializers.CharField()


class StockImportReportSerializer(serializers.Serializer):
    """What one import did (or, for a file already imported, what its first import did)."""

    import_id = serializers.IntegerField()
    sha256 = serializers.CharField()
    already_imported = serializers.BooleanField(help_text="The same content was imported before: nothing queued.")
    complete = serializers.BooleanField(
        help_text="False when an unreadable line stopped the import (named in bad_lines); the lines before it "
        "are queued, and the same file can be sent again once fixed."
    )
    rows = serializers.IntegerField(help_text="Data lines read (the header excluded).")
    queued = serializers.IntegerField(help_text="Operations queued now.")
    already_queued = serializers.IntegerField(help_text="Lines queued by an earlier, interrupted run of this file.")
    unchanged = serializers.IntegerField(help_text="Lines equal to the mirror: nothing to push.")
    bad = serializers.IntegerField(help_text="Lines refused (see bad_lines).")
    bad_lines = StockImportLineSerializer(many=True, help_text="The first ones, by line number.")
    unknown = serializers.IntegerField(help_text="Lines whose SKU the mirror does not have.")
    unknown_skus = serializers.ListField(child=serializers.CharField(), help_text="The first ones.")
    ignored_columns = serializers.ListField(child=serializers.CharField())

    @staticmethod
    def from_result(result: Any) -> dict[str, Any]:
        return {
            "import_id": result.import_id,
            "sha256": result.sha256,
            "already_imported": result.already_imported,
            "complete": result.complete,
            "rows": result.rows,
            "queued": result.queued,
            "already_queued": result.already_queued,
            "unchanged": result.unchanged,
            "bad": result.bad,
            "bad_lines": [{"line": line, "reason": reason} for line, reason in result.bad_lines],
            "unknown": result.unknown,
            "unknown_skus": list(result.unknown_skus),
            "ignored_columns": list(result.ignored_columns),
        }
