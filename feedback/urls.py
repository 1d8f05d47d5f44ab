"""Manager pages of customer feedback (mounted at /feedback/ by config.urls)."""

from django.urls import path

from feedback import views

urlpatterns = [
    path("touch-points/<id:touch_point_id>/", views.setup, name="feedback-setup"),
    path("touch-points/<id:touch_point_id>/links/", views.link_create, name="feedback-link-create"),
    path("links/<id:link_id>/revoke/", views.link_revoke, name="feedback-link-revoke"),
    path("links/<id:link_id>/poster/", views.poster, name="feedback-poster"),
]
