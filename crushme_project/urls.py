from django.contrib import admin
from django.urls import path

from crushme_project.health import HealthApi

urlpatterns = [
    path("admin/", admin.site.urls),
    # Explicit and before the catalog's api/ include: never cached, never throttled.
    path("api/health/", HealthApi.as_view(), name="health"),
]
