"""`/api/v1/organization/`: the acting organization's settings (managers only), read
and changed through alerts.organization like the settings page.

GET answers the settings with an ETag; PATCH changes any of them and must send that ETag
back in If-Match (428 without, 412 when another manager saved in between: nothing is
stored), as every structure write of the API does. The serializer describes the fields
for the schema and picks them out of the body; the service judges the values, so the API
and the page refuse the same things with the same messages.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from drf_spectacular.utils import OpenApiExample, extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.settings import api_settings
from rest_framework.views import APIView

from accounts.access import signed_in_user
from accounts.models import MIN_N_MAX, SMOOTHING_K_MAX, WINDOW_DAYS_MAX, Role
from alerts import organization
from core.api.concurrency import (
    ETAG_HEADER,
    IF_MATCH_PARAMETER,
    PRECONDITION_RESPONSES,
    PreconditionFailed,
    if_match_tags,
)
from core.api.errors import with_access_refusals
from core.api.parsers import NestingSafeJSONParser
from core.api.tenancy import ORGANIZATION_PARAMETER, request_membership
from core.api.viewsets import FIELD_ERRORS


class OrganizationSettingsSerializer(serializers.Serializer[Any]):
    name = serializers.CharField(max_length=200, help_text="The organization's name.")
    default_target = serializers.FloatField(
        min_value=0,
        max_value=100,
        help_text="The target score (0–100) a new journey starts with; existing journeys "
        "keep theirs.",
    )
    min_n = serializers.IntegerField(
        min_value=1,
        max_value=MIN_N_MAX,
        help_text="Scored evaluations a touch point needs in the window before it gets a "
        "status (fewer: a blind spot).",
    )
    smoothing_k = serializers.FloatField(
        min_value=0,
        max_value=SMOOTHING_K_MAX,
        help_text="Weight, in evaluations, of the journey's mean in each smoothed score "
        "(0: no smoothing).",
    )
    window_days = serializers.IntegerField(
        min_value=1,
        max_value=WINDOW_DAYS_MAX,
        help_text="Days of observed time the scores cover, up to now.",
    )
    digest_time = serializers.CharField(
        min_length=5,
        max_length=5,
        help_text="When the daily digest goes out, HH:MM in UTC.",
    )

    def to_internal_value(self, data: Any) -> dict[str, Any]:
        """The fields present, untouched: the service says what a valid value is."""
        if not isinstance(data, Mapping):
            raise serializers.ValidationError(
                {api_settings.NON_FIELD_ERRORS_KEY: ["Send a JSON object."]}
            )
        return {name: data[name] for name in organization.FIELDS if name in data}


EXAMPLE = {
    "name": "Northwind Broadband",
    "default_target": 80.0,
    "min_n": 5,
    "smoothing_k": 5.0,
    "window_days": 90,
    "digest_time": "07:00",
}


def _tagged(values: dict[str, Any]) -> Response:
    response = Response(values)
    response["ETag"] = organization.version_of(values)
    return response


@extend_schema(tags=["organization"], parameters=[ORGANIZATION_PARAMETER])
class OrganizationSettingsView(APIView):
    """The acting organization's settings (managers only)."""

    parser_classes = [NestingSafeJSONParser]
    # Managers only, reads included (core.api.tenancy.RolePermission).
    read_roles = write_roles = frozenset({Role.MANAGER})
    role_refusal = "Only managers see and change these settings."

    @extend_schema(
        operation_id="organization_retrieve",
        summary="The organization's settings",
        parameters=[ETAG_HEADER],
        responses=with_access_refusals({200: OrganizationSettingsSerializer}),
        examples=[OpenApiExample("Settings", value=EXAMPLE, response_only=True)],
    )
    def get(self, request: Request) -> Response:
        return _tagged(organization.current_settings(request_membership(request).organization_id))

    @extend_schema(
        operation_id="organization_partial_update",
        summary="Change the organization's settings",
        description=(
            "Any of the fields; the others keep their values. Changing min_n, smoothing_k "
            "or window_days rescores every journey (the scores read `pending` until the "
            "workers are done). One refused value stores nothing. Audit-logged."
        ),
        request=OrganizationSettingsSerializer(partial=True),
        parameters=[IF_MATCH_PARAMETER, ETAG_HEADER],
        responses=with_access_refusals(
            {
                200: OrganizationSettingsSerializer,
                400: FIELD_ERRORS,
                **PRECONDITION_RESPONSES,
            }
        ),
        examples=[
            OpenApiExample("Fewer evaluations for a status", value={"min_n": 3}, request_only=True),
            OpenApiExample(
                "Digest at 18:30 UTC", value={"digest_time": "18:30"}, request_only=True
            ),
        ],
    )
    def patch(self, request: Request) -> Response:
        membership = request_membership(request)
        body = OrganizationSettingsSerializer(data=request.data, partial=True)
        body.is_valid(raise_exception=True)
        accepted = if_match_tags(request)  # 428 without If-Match; None for `*`
        try:
            # The service compares the tags with the row it locks: the one read of it.
            saved = organization.update_organization_settings(
                actor=signed_in_user(request),
                organization=membership.organization,
                data=dict(body.validated_data),
                version=accepted,
            )
        except organization.SettingsChangedError:
            raise PreconditionFailed() from None
        return _tagged(saved.values)
