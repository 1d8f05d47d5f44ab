"""REST API for feedback links: managers list, create and revoke them (members read)."""

from __future__ import annotations

from typing import Any

import django_filters
from django.core.exceptions import ValidationError
from django.db.models import Model
from django.urls import path
from django.utils.dateparse import parse_datetime
from drf_spectacular.utils import OpenApiExample, OpenApiResponse, extend_schema
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from core.api.concurrency import ETAG_HEADER, IF_MATCH_PARAMETER
from core.api.filters import IdFilter
from core.api.viewsets import DETAIL_WRITE_ERRORS, StructureViewSet, document_structure
from core.text import not_found
from feedback import services
from feedback.models import FeedbackLink
from feedback.serializers import FeedbackLinkSerializer
from touchpoints.models import TouchPoint


class FeedbackLinkFilter(django_filters.FilterSet):  # type: ignore[misc]  # django-filter ships no type information
    # Plain ids, not model choices: another organization's id must filter to nothing,
    # exactly like a missing one (a choice field would tell them apart).
    touch_point = IdFilter(field_name="touch_point_id", help_text="A touch point's id.")
    site = IdFilter(field_name="site_id", help_text="A site's id.")

    class Meta:
        model = FeedbackLink
        fields = ("touch_point", "site")


def _expiry(value: Any) -> Any:
    """An ISO 8601 text to a datetime; anything else is passed on for the service to refuse."""
    if isinstance(value, str):
        try:
            parsed = parse_datetime(value)
        except ValueError:
            parsed = None
        if parsed is None:
            raise ValidationError({"expires_at": ["Give an ISO 8601 date and time with its zone."]})
        return parsed
    return value


@document_structure(
    "feedback link",
    FeedbackLinkSerializer,
    plural="feedback links",
    create_example={"touch_point": 101, "site": 7, "label": "Counter poster", "language": "de"},
    response_example={
        "id": 3,
        "touch_point": 101,
        "site": 7,
        "label": "Counter poster",
        "language": "de",
        "expires_at": None,
        "revoked_at": None,
        "is_open": True,
        "url": "https://touchstone.example/f/q3Vd0Q2bYw9dO1q4cXl1Nw/",
        "poster_url": "https://touchstone.example/feedback/links/3/poster/",
        "created_at": "2026-05-01T09:40:00Z",
    },
)
class FeedbackLinkViewSet(StructureViewSet):
    """Public answer links of touch points. Links are revoked, never changed or deleted."""

    queryset = FeedbackLink.objects.all()
    serializer_class = FeedbackLinkSerializer
    filterset_class = FeedbackLinkFilter
    ordering_fields = ("id", "created_at")
    ordering = ("-created_at", "-id")

    def service_create(self, values: dict[str, Any]) -> Model:
        pk = values.get("touch_point")
        touch_point = (
            TouchPoint.objects.for_organization(self.organization_id).filter(pk=pk).first()
            if isinstance(pk, int) and not isinstance(pk, bool) and 0 < pk < 2**63
            else None
        )
        if touch_point is None:  # another organization's id answers like a missing one
            raise ValidationError({"touch_point": [not_found("No such touch point.")]})
        return services.create_link(
            actor=self.actor,
            touch_point=touch_point,
            label=values.get("label", ""),
            site_id=values.get("site"),
            language=values.get("language", ""),
            expires_at=_expiry(values.get("expires_at")),
        )

    @extend_schema(
        summary="Revoke a feedback link",
        description="Its page answers 410 from now on; answers already given are kept. Idempotent.",
        request=None,
        responses={
            200: OpenApiResponse(FeedbackLinkSerializer, description="The revoked link."),
            **DETAIL_WRITE_ERRORS,
        },
        parameters=[IF_MATCH_PARAMETER, ETAG_HEADER],
        examples=[
            OpenApiExample(
                "Revoked", value={"revoked_at": "2026-05-02T10:00:00Z"}, response_only=True
            )
        ],
    )
    @action(detail=True, methods=["post"])
    def revoke(self, request: Request, pk: str | None = None) -> Response:
        return self.guarded_write(lambda row: services.revoke_link(actor=self.actor, link=row))


# Routed by hand, not by a router: links are never changed or deleted, so no PUT, PATCH or
# DELETE route exists at all (a router would route them to the base class's update).
urlpatterns = [
    path(
        "feedback-links/",
        FeedbackLinkViewSet.as_view({"get": "list", "post": "create"}),
        name="feedback-link-list",
    ),
    path(
        "feedback-links/<pk>/",
        FeedbackLinkViewSet.as_view({"get": "retrieve"}),
        name="feedback-link-detail",
    ),
    path(
        "feedback-links/<pk>/revoke/",
        FeedbackLinkViewSet.as_view({"post": "revoke"}),
        name="feedback-link-revoke",
    ),
]
