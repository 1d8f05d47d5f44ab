"""REST API routes of the team app (mounted under /api/v1/ by config.urls)."""

from team import api

urlpatterns = [*api.urlpatterns]
