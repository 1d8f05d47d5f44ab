"""API representations of journeys and stages (the shape-only parsing they share:
core.api.serializers)."""

from __future__ import annotations

from typing import ClassVar

from core.api.serializers import ServiceInputSerializer
from journeys.models import Journey, Stage


class JourneySerializer(ServiceInputSerializer):
    class Meta:
        model = Journey
        fields = (
            "id",
            "name",
            "persona",
            "description",
            "status",
            "target",
            "created_at",
            "updated_at",
        )
        read_only_fields = ("id", "created_at", "updated_at")
        # Schema only (values pass through to the service, which refuses outside 0-100):
        # the schema must state the range the server enforces.
        extra_kwargs = {"target": {"min_value": 0, "max_value": 100}}


class StageSerializer(ServiceInputSerializer):
    create_only: ClassVar[dict[str, str]] = {
        "journey": "A stage stays in its journey: create a stage in the other journey instead."
    }

    class Meta:
        model = Stage
        fields = (
            "id",
            "journey",
            "name",
            "description",
            "position",
            "archived_at",
            "created_at",
        )
        read_only_fields = ("id", "position", "archived_at", "created_at")
        extra_kwargs = {"journey": {"help_text": "The journey's id; set on creation only."}}
