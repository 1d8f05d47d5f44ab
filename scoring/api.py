"""REST API views (placeholder until the API issue lands its routes here)."""

from django.urls import URLPattern, URLResolver

urlpatterns: list[URLPattern | URLResolver] = []
