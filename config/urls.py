"""URL configuration. The REST API lives under /api/v1/, one urls module per app;
the health probes sit at the root, outside the API and its authentication."""

from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from config import health

api_v1 = [
    path("", include("accounts.api_urls")),
    path("", include("journeys.api_urls")),
    path("", include("touchpoints.api_urls")),
    path("", include("scoring.api_urls")),
    path("schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("docs/", SpectacularSwaggerSplitView.as_view(url_name="api-schema"), name="api-docs"),
]

urlpatterns = [
    path("healthz", health.healthz, name="healthz"),
    path("readyz", health.readyz, name="readyz"),
    path("admin/", admin.site.urls),
    path("api/v1/", include(api_v1)),
    path("", include("web.urls")),
]
