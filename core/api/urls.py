"""Account-level API routes, mounted under /api/v1/ by config/urls.py."""

from django.urls import path

from accounts.api_views import PingView

urlpatterns = [path("ping/", PingView.as_view(), name="api-ping")]
