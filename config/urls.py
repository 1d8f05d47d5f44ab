"""URL configuration. The REST API lives under /api/v1/, one urls module per app;
the health probes sit at the root, outside the API and its authentication."""

from django.contrib import admin
from django.http import HttpRequest, JsonResponse
from django.urls import URLPattern, URLResolver, include, path, re_path
from django.views.decorators.csrf import csrf_exempt
from drf_spectacular.views import SpectacularSwaggerSplitView

from config import health
from core.api.schema import CachedSchemaView


@csrf_exempt
def api_not_found(request: HttpRequest, rest: str = "") -> JsonResponse:
    """Any path under /api/v1/ that no route matches: JSON like every API answer, not the
    site's HTML 404 page. CSRF-exempt like DRF's views: it changes nothing, and a write to
    an unknown path must get this JSON 404, not the CSRF middleware's HTML 403."""
    return JsonResponse({"detail": "Not found."}, status=404)


api_v1: list[URLPattern | URLResolver] = [
    path("", include("core.api.urls")),
    path("", include("journeys.api_urls")),
    path("", include("touchpoints.api_urls")),
    path("", include("scoring.api_urls")),
    path("", include("alerts.api_urls")),
    path("", include("team.api_urls")),
    path("", include("feedback.api_urls")),
    path("schema/", CachedSchemaView.as_view(), name="api-schema"),
    # metadata_class=None: OPTIONS answers 405 instead of rendering the HTML page without
    # its context (a 500).
    path(
        "docs/",
        SpectacularSwaggerSplitView.as_view(url_name="api-schema", metadata_class=None),
        name="api-docs",
    ),
    re_path(r"^(?P<rest>.*)$", api_not_found, name="api-not-found"),
]

# JSON under /api/v1/, the error pages elsewhere (config/errors.py).
handler400 = "config.errors.bad_request"
handler403 = "config.errors.permission_denied"
handler500 = "config.errors.server_error"

urlpatterns = [
    path("healthz", health.healthz, name="healthz"),
    path("readyz", health.readyz, name="readyz"),
    path("admin/", admin.site.urls),
    path("api/v1/", include(api_v1)),
    # Customer feedback: short public answer pages (for QR codes) and the managers' pages.
    path("f/", include("feedback.public_urls")),
    path("feedback/", include("feedback.urls")),
    path("", include("web.urls")),
]
