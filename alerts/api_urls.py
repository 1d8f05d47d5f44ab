"""REST API routes of the alerts app (mounted under /api/v1/ by config.urls)."""

from django.urls import path

from alerts import api, organization_api

urlpatterns = [
    *api.urlpatterns,
    path(
        "organization/",
        organization_api.OrganizationSettingsView.as_view(),
        name="organization",
    ),
]
