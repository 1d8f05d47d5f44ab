"""REST API routes of the journeys app (mounted under /api/v1/ by config.urls)."""

from journeys import api

urlpatterns = [*api.urlpatterns]
