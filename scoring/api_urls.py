"""REST API routes of the scoring app (mounted under /api/v1/ by config.urls)."""

from scoring import api

urlpatterns = [*api.urlpatterns]
