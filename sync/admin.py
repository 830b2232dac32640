"""The sync admin: runs, the queue (with retry), stock imports, and the staff edit form on the mirror's pages.

The catalog's product and variation admins are read-only (WooCommerce is the source of truth) and
``catalog`` may not import ``sync``; the edit form therefore lives here: the catalog's admin classes are
re-registered with a subclass that adds an "Edit price or stock" page. It goes through the same
validation and enqueue service as the PATCH endpoints (``sync.services.edits``).
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import path, reverse

from catalog.admin import ProductAdmin, ProductVariationAdmin
from catalog.models import Product, ProductVariation
from common.admin import ReadOnlyAdmin
from sync.services.edits import (
    EditInvalid,
    EditTarget,
    EditTargetMissing,
    EditTargetTrashed,
    edit_target_get,
    staff_edit_submit,
)
from sync.services.queue import sync_operations_retry

from .models import StockImport, SyncOperation, SyncRun


@admin.register(SyncRun)
class SyncRunAdmin(ReadOnlyAdmin):
    list_display = [
        "id",
        "mode",
        "status",
        "started_at",
        "duration_seconds",
        "pages",
        "requests",
        "created",
        "updated",
        "unchanged",
        "deleted",
        "failed",
        "skipped",
    ]
    list_filter = ["mode", "status"]
    search_fields = ["error_summary"]
    date_hierarchy = "started_at"


@admin.register(SyncOperation)
class SyncOperationAdmin(ReadOnlyAdmin):
    """The sync queue: read-only, plus "retry" for dead operations (after fixing what killed them)."""

    list_display = [
        "id",
        "origin",
        "action",
        "object_kind",
        "object_id",
        "parent_id",
        "topic",
        "state",
        "attempts",
        "priority",
        "next_attempt_at",
        "created_at",
        "short_error",
    ]
    list_filter = ["state", "origin", "action", "object_kind"]
    search_fields = ["=object_id", "=parent_id", "dedupe_key"]
    date_hierarchy = "created_at"
    actions = ["retry"]
    show_full_result_count = False  # the table can be large: no COUNT(*) of everything on each page

    @admin.display(description="last error")
    def short_error(self, obj: SyncOperation) -> str:
        return obj.last_error[:120]

    def has_retry_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("sync.change_syncoperation")

    @admin.action(description="Retry the selected dead or failed operations now", permissions=["retry"])
    def retry(self, request: HttpRequest, queryset: QuerySet[SyncOperation]) -> None:
        retried = sync_operations_retry(ids=queryset.values_list("id", flat=True))
        skipped = queryset.count() - retried
        message = f"{retried} operation(s) queued again with a fresh attempt count."
        if skipped:
            message += f" {skipped} skipped: only dead or failed operations are retried."
        self.message_user(request, message, messages.SUCCESS if retried else messages.WARNING)


@admin.register(StockImport)
class StockImportAdmin(ReadOnlyAdmin):
    list_display = ["id", "filename", "source", "created_at", "finished_at", "rows", "queued", "bad", "unknown"]
    list_filter = ["source"]
    search_fields = ["filename", "=sha256"]
    date_hierarchy = "created_at"


# --- The staff edit form on the product and variation pages -----------------------------------------------


class PushEditForm(forms.Form):
    """Empty fields are left alone; the values are checked by ``sync.services.edits``, not here."""

    regular_price = forms.CharField(required=False, max_length=40)
    sale_price = forms.CharField(required=False, max_length=40)
    end_sale = forms.BooleanField(required=False, label="End the sale (clear the sale price)")
    stock_quantity = forms.CharField(required=False, max_length=40)
    manage_stock = forms.ChoiceField(
        choices=[("", "unchanged"), ("yes", "yes"), ("no", "no")], required=False, label="Manage stock"
    )

    def edit_data(self) -> dict[str, Any]:
        data: dict[str, Any] = {}
        for name in ("regular_price", "sale_price", "stock_quantity"):
            if self.cleaned_data[name].strip():
                data[name] = self.cleaned_data[name].strip()
        if self.cleaned_data["end_sale"]:
            if "sale_price" in data:
                self.add_error("end_sale", "Either end the sale or give a sale price.")
            data["sale_price"] = ""
        if self.cleaned_data["manage_stock"]:
            data["manage_stock"] = self.cleaned_data["manage_stock"] == "yes"
        return data


class PushEditAdminMixin:
    """Adds ``<id>/push-edit/`` to a mirror admin: the edit form, queued through the edit service."""

    change_form_template = "admin/sync/mirror_change_form.html"

    def edit_target(self, obj: Any) -> EditTarget:
        raise NotImplementedError

    def _url_name(self, view: str) -> str:
        return f"{self.model._meta.app_label}_{self.model._meta.model_name}_{view}"

    def get_urls(self) -> list:
        return [
            path(
                "<path:object_id>/push-edit/",
                self.admin_site.admin_view(self.push_edit_view),
                name=self._url_name("push_edit"),
            ),
            *super().get_urls(),
        ]

    def change_view(self, request: HttpRequest, object_id: str, form_url: str = "", extra_context=None) -> HttpResponse:
        extra_context = {
            **(extra_context or {}),
            "push_edit_url": reverse(f"admin:{self._url_name('push_edit')}", args=[object_id]),
        }
        return super().change_view(request, object_id, form_url, extra_context)

    def push_edit_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        obj = self.get_object(request, object_id)
        if obj is None:
            raise Http404("No such item.")
        if not (request.user.is_staff and self.has_view_permission(request, obj)):
            raise PermissionDenied
        change_url = reverse(f"admin:{self._url_name('change')}", args=[obj.pk])
        try:
            target = self.edit_target(obj)
        except (EditTargetMissing, EditTargetTrashed) as error:
            reason = "is in the trash" if isinstance(error, EditTargetTrashed) else "was deleted in WooCommerce"
            self.message_user(request, f"{obj} {reason}: it cannot be edited.", messages.ERROR)
            return HttpResponseRedirect(change_url)
        form = PushEditForm(request.POST if request.method == "POST" else None)
        if request.method == "POST" and form.is_valid():
            data = form.edit_data()
            if form.is_valid():  # edit_data may add an error
                try:
                    operation = staff_edit_submit(target=target, data=data, user=request.user)
                except EditInvalid as invalid:
                    for name, message in invalid.errors.items():
                        form.add_error(name if name in form.fields else None, message)
                else:
                    self.message_user(
                        request,
                        f"Queued as operation #{operation.id}: {operation.new_values}. The catalog shows it once "
                        "WooCommerce has confirmed it.",
                        messages.SUCCESS,
                    )
                    return HttpResponseRedirect(change_url)
        context = {
            **self.admin_site.each_context(request),
            "title": f"Edit price or stock: {obj}",
            "obj": obj,
            "form": form,
            "current": target.values,
            "change_url": change_url,
            "opts": self.model._meta,
        }
        return render(request, "admin/sync/push_edit.html", context, status=400 if form.errors else 200)


class ProductPushEditAdmin(PushEditAdminMixin, ProductAdmin):
    def edit_target(self, obj: Product) -> EditTarget:
        return edit_target_get(product_id=obj.pk)


class ProductVariationPushEditAdmin(PushEditAdminMixin, ProductVariationAdmin):
    def edit_target(self, obj: ProductVariation) -> EditTarget:
        return edit_target_get(product_id=obj.product_id, variation_id=obj.pk)


admin.site.unregister(Product)
admin.site.register(Product, ProductPushEditAdmin)
admin.site.unregister(ProductVariation)
admin.site.register(ProductVariation, ProductVariationPushEditAdmin)
