"""REST API routes of the alerts app (mounted under /api/v1/ by config.urls)."""

from alerts import api

urlpatterns = [*api.urlpatterns]
