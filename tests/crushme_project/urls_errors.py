"""Test-only URLs: the production routes and error handlers, plus views that fail the way a bug would."""

from django.http import HttpRequest, HttpResponse
from django.urls import path
from rest_framework.request import Request
from rest_framework.views import APIView

from catalog.apis import CatalogApi
from crushme_project.urls import handler400, handler403, handler404, handler500  # noqa: F401
from crushme_project.urls import urlpatterns as production_urlpatterns


class BoomApi(CatalogApi):
    def get(self, request: Request) -> HttpResponse:
        raise RuntimeError("secret-detail-from-a-bug")


class PlainBoomApi(APIView):
    def get(self, request: Request) -> HttpResponse:
        raise RuntimeError("secret-detail-from-a-bug")


def boom_view(request: HttpRequest) -> HttpResponse:
    raise RuntimeError("secret-detail-from-a-bug")


urlpatterns = [
    path("api/test/boom/", BoomApi.as_view()),
    path("api/test/plain-boom/", PlainBoomApi.as_view()),
    path("api/test/view-boom/", boom_view),
    path("test/boom/", boom_view),
    *production_urlpatterns,
]
