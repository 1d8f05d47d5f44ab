"""API representation of feedback links; input is shape-checked only (the service judges)."""

from __future__ import annotations

from django.urls import reverse
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from core.api.serializers import ServiceInputSerializer
from feedback.models import FeedbackLink


class FeedbackLinkSerializer(ServiceInputSerializer):
    url = serializers.SerializerMethodField(
        help_text="The public answer page (what the QR code holds)."
    )
    poster_url = serializers.SerializerMethodField(
        help_text="The printable poster page (managers)."
    )
    is_open = serializers.BooleanField(read_only=True, help_text="Not revoked and not expired.")

    class Meta:
        model = FeedbackLink
        fields = (
            "id",
            "touch_point",
            "site",
            "label",
            "language",
            "expires_at",
            "revoked_at",
            "is_open",
            "url",
            "poster_url",
            "created_at",
        )
        read_only_fields = ("id", "revoked_at", "created_at")
        extra_kwargs = {
            "touch_point": {"help_text": "The touch point customers answer about."},
            "site": {"help_text": "The site its answers are recorded at; null for none."},
            "label": {"help_text": "Where the link is used, e.g. receipt or counter poster."},
            "language": {
                "help_text": "The public page's language: en, de, or empty for the browser's."
            },
            "expires_at": {"help_text": "When it stops taking answers; null for never."},
        }

    def _absolute(self, path: str) -> str:
        request = self.context.get("request")
        return request.build_absolute_uri(path) if request is not None else path

    @extend_schema_field(serializers.URLField())
    def get_url(self, link: FeedbackLink) -> str:
        return self._absolute(reverse("feedback-answer", args=[link.token]))

    @extend_schema_field(serializers.URLField())
    def get_poster_url(self, link: FeedbackLink) -> str:
        return self._absolute(reverse("feedback-poster", args=[link.pk]))
