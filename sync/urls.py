from django.urls import path, re_path

from sync import apis

app_name = "sync"

urlpatterns = [
    path("webhooks/woocommerce/", apis.WooCommerceWebhookApi.as_view(), name="webhook-woocommerce"),
    # Ids only (the catalog's ID pattern): slugs and the catalog's fixed paths (facets/) stay with the
    # catalog's routes, included after these. GET by id is the catalog's view, inherited unchanged.
    re_path(r"^products/(?P<lookup>[0-9]{1,200})/$", apis.ProductEditApi.as_view(), name="product-detail"),
    re_path(
        r"^products/(?P<lookup>[0-9]{1,200})/variations/(?P<variation_id>[0-9]{1,200})/$",
        apis.VariationEditApi.as_view(),
        name="variation-edit",
    ),
    re_path(
        r"^sync/operations/(?P<operation_id>[0-9]{1,200})/$",
        apis.SyncOperationDetailApi.as_view(),
        name="operation-detail",
    ),
    path("stock-imports/", apis.StockImportCreateApi.as_view(), name="stock-import-create"),
]
