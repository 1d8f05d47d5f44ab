"""`GET /api/v1/ping/`, the cheapest authenticated API read.

It pays exactly what every API request pays (token authentication, the organization the
request acts in, DRF's request/response cycle) and nothing else: the floor the benchmark
compares the real endpoints against, and a handy "is my token and X-Organization right?"
check for clients.
"""

from __future__ import annotations

from typing import Any

from django.utils import timezone
from drf_spectacular.utils import OpenApiExample, extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.models import Role
from core.api.errors import with_access_refusals
from core.api.tenancy import ORGANIZATION_PARAMETER, request_membership


class PingSerializer(serializers.Serializer[Any]):
    organization = serializers.CharField(help_text="Slug of the organization acted in.")
    role = serializers.ChoiceField(choices=Role.choices, help_text="Your role in it.")
    time = serializers.DateTimeField(help_text="The server's clock (UTC).")


class PingView(APIView):
    """Who you are acting as, and the server's time."""

    @extend_schema(
        operation_id="ping_retrieve",
        summary="Check a token and the organization it acts in",
        description=(
            "Answers with the organization this request acts in (see X-Organization), your "
            "role there and the server's time. Costs what every API request costs and "
            "nothing more."
        ),
        parameters=[ORGANIZATION_PARAMETER],
        responses=with_access_refusals({200: PingSerializer}),
        examples=[
            OpenApiExample(
                "Acting in one organization",
                value={
                    "organization": "acme-broadband",
                    "role": "evaluator",
                    "time": "2026-05-01T12:41:07.512000Z",
                },
                response_only=True,
            )
        ],
    )
    def get(self, request: Request) -> Response:
        membership = request_membership(request)
        return Response(
            {
                "organization": membership.organization.slug,
                "role": membership.role,
                # What serializers.DateTimeField renders for UTC, without building one.
                "time": timezone.now().isoformat().replace("+00:00", "Z"),
            }
        )
