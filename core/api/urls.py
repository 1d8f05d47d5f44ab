"""The API routes of the core (the ping), mounted under /api/v1/ by config/urls.py."""

from django.urls import path

from core.api.ping import PingView

urlpatterns = [path("ping/", PingView.as_view(), name="api-ping")]
