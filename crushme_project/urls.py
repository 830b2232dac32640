from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from crushme_project.health import HealthApi

urlpatterns = [
    path("admin/", admin.site.urls),
    # Explicit and before the catalog's api/ include: never cached, never throttled.
    path("api/health/", HealthApi.as_view(), name="health"),
    # Schema and docs: not throttled (a docs page loads the schema on every visit).
    path("api/schema/", SpectacularAPIView.as_view(throttle_classes=[]), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema", throttle_classes=[]), name="api-docs"),
    # Before the catalog: sync may import catalog, never the other way round.
    path("api/", include("sync.urls")),
    path("api/", include("catalog.urls")),
]

# JSON under /api/, Django's pages elsewhere (crushme_project/errors.py).
handler400 = "crushme_project.errors.bad_request"
handler403 = "crushme_project.errors.permission_denied"
handler404 = "crushme_project.errors.page_not_found"
handler500 = "crushme_project.errors.server_error"
