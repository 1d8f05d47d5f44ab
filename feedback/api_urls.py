"""REST API routes of the feedback app (mounted under /api/v1/ by config.urls)."""

from feedback import api

urlpatterns = api.urlpatterns
