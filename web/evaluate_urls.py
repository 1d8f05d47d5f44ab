"""Routes of the evaluation form, mounted at /evaluate/ by web.urls."""

from django.urls import URLPattern, path

from web import evaluate

urlpatterns: list[URLPattern] = [
    path("", evaluate.evaluate, name="evaluate"),
    path("done/<id:pk>/", evaluate.evaluate_done, name="evaluate-done"),
]
