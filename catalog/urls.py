from django.urls import path

from catalog import apis

app_name = "catalog"

urlpatterns = [
    path("categories/", apis.CategoryListApi.as_view(), name="category-list"),
    path("categories/<str:lookup>/", apis.CategoryDetailApi.as_view(), name="category-detail"),
    path("products/", apis.ProductListApi.as_view(), name="product-list"),
    # Fixed paths before <lookup>: "facets" would otherwise be taken for a slug.
    path("products/facets/", apis.ProductFacetsApi.as_view(), name="product-facets"),
    path("products/export.csv", apis.ProductExportApi.as_view(), name="product-export"),
    path("products/<str:lookup>/", apis.ProductDetailApi.as_view(), name="product-detail"),
    path("products/<str:lookup>/variations/", apis.ProductVariationListApi.as_view(), name="product-variations"),
]
