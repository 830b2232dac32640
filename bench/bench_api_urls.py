"""The project's URLs plus the benchmark's references: a naive baseline and a bare ceiling.

* ``/bench/naive/...``: the same endpoints the usual way — DRF generic views, a serializer that
  follows relations per object (N+1), no cache.
* ``/bench/ceiling/``: a bare Django view answering the cached bytes of the product list (one
  cache get, no DRF, no validation): the most this stack can serve.
"""

from django.core.cache import cache
from django.db.models import Count
from django.http import HttpRequest, HttpResponse
from django.urls import include, path
from rest_framework import generics, serializers
from rest_framework.pagination import PageNumberPagination

from catalog.models import Category, Product
from catalog.serializers import CategoryRefSerializer, ProductSerializer, VariationSerializer

CEILING_KEY = "bench:ceiling"


class NaiveProductSerializer(ProductSerializer):
    categories = CategoryRefSerializer(many=True, read_only=True)

    def get_variations(self, obj: Product) -> list[int]:
        return list(obj.variations.filter(status="publish", deleted_at__isnull=True).values_list("id", flat=True))


class NaiveProductDetailSerializer(NaiveProductSerializer):
    variation_details = serializers.SerializerMethodField()

    def get_variation_details(self, obj: Product) -> list[dict]:
        variations = obj.variations.filter(status="publish", deleted_at__isnull=True).order_by("menu_order", "id")
        return VariationSerializer(variations, many=True).data


class NaivePagination(PageNumberPagination):
    page_size = 10
    page_size_query_param = "per_page"
    max_page_size = 100


class NaiveProductList(generics.ListAPIView):
    serializer_class = NaiveProductSerializer
    pagination_class = NaivePagination
    queryset = Product.objects.filter(status="publish", deleted_at__isnull=True).order_by("-date_created_gmt", "-id")


class NaiveProductDetail(generics.RetrieveAPIView):
    serializer_class = NaiveProductDetailSerializer
    queryset = Product.objects.filter(status="publish", deleted_at__isnull=True)


class NaiveCategorySerializer(serializers.ModelSerializer):
    count = serializers.SerializerMethodField()

    class Meta:
        model = Category
        fields = ["id", "name", "slug", "parent", "description", "display", "image", "menu_order", "count"]

    def get_count(self, obj: Category) -> int:
        return obj.products.filter(status="publish", deleted_at__isnull=True).aggregate(n=Count("id"))["n"]


class NaiveCategoryList(generics.ListAPIView):
    serializer_class = NaiveCategorySerializer
    pagination_class = None
    queryset = Category.objects.all()


def ceiling(request: HttpRequest) -> HttpResponse:
    return HttpResponse(cache.get(CEILING_KEY), content_type="application/json")


urlpatterns = [
    path("bench/naive/products/", NaiveProductList.as_view()),
    path("bench/naive/products/<int:pk>/", NaiveProductDetail.as_view()),
    path("bench/naive/categories/", NaiveCategoryList.as_view()),
    path("bench/ceiling/", ceiling),
    path("", include("crushme_project.urls")),
]
