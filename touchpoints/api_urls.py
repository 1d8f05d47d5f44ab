"""REST API routes of the touchpoints app (mounted under /api/v1/ by config.urls)."""

from touchpoints import api, evaluations_api

urlpatterns = [*api.urlpatterns, *evaluations_api.urlpatterns]
