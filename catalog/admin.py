from django.contrib import admin

from common.admin import ReadOnlyAdmin

from .models import Category, Product, ProductVariation


class DeletedFilter(admin.SimpleListFilter):
    title = "deleted in WooCommerce"
    parameter_name = "deleted"

    def lookups(self, request, model_admin):
        return [("no", "Live"), ("yes", "Deleted")]

    def queryset(self, request, queryset):
        if self.value() == "no":
            return queryset.filter(deleted_at__isnull=True)
        if self.value() == "yes":
            return queryset.filter(deleted_at__isnull=False)
        return queryset


@admin.register(Category)
class CategoryAdmin(ReadOnlyAdmin):
    list_display = ["id", "name", "slug", "parent_id", "count", "menu_order", "synced_at"]
    search_fields = ["name", "slug", "=id"]
    list_filter = ["display"]
    ordering = ["id"]


class VariationInline(admin.TabularInline):
    model = ProductVariation
    fields = ["id", "sku", "price", "regular_price", "sale_price", "stock_status", "stock_quantity", "deleted_at"]
    readonly_fields = fields
    extra = 0
    can_delete = False
    show_change_link = True

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(Product)
class ProductAdmin(ReadOnlyAdmin):
    list_display = [
        "id",
        "name",
        "sku",
        "type",
        "status",
        "price",
        "stock_status",
        "stock_quantity",
        "date_modified_gmt",
        "deleted_at",
    ]
    list_filter = ["status", "type", "stock_status", "on_sale", "featured", DeletedFilter, "categories"]
    search_fields = ["name", "sku", "slug", "=id"]
    date_hierarchy = "date_modified_gmt"
    filter_horizontal = []
    inlines = [VariationInline]
    list_select_related = False
    show_full_result_count = False  # COUNT(*) over a large catalog on every page is wasted work.


@admin.register(ProductVariation)
class ProductVariationAdmin(ReadOnlyAdmin):
    list_display = ["id", "product_id", "sku", "price", "stock_status", "stock_quantity", "deleted_at"]
    list_filter = ["stock_status", "on_sale", DeletedFilter]
    search_fields = ["sku", "=id", "=product__id"]
    raw_id_fields = ["product"]
    show_full_result_count = False
