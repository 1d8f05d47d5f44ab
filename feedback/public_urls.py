"""The public answer pages (mounted at /f/ by config.urls): short, for QR codes."""

from django.urls import path

from feedback import public

urlpatterns = [
    path("<str:token>/", public.answer, name="feedback-answer"),
    path("<str:token>/thanks/", public.thanks, name="feedback-thanks"),
]
