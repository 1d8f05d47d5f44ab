"""API representations of touch points, criteria and sites, and the shape-only parsing of
their input (the services judge the values; see core.api.serializers)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from rest_framework import serializers

from core.api.serializers import ServiceInputSerializer
from touchpoints.models import Criterion, CriterionKind, Site, TouchPoint
from touchpoints.services import (
    MAX_IMPORTANCE,
    MAX_SCALE_SIZE,
    MAX_WEIGHT,
    MIN_IMPORTANCE,
    MIN_WEIGHT,
)


class TouchPointSerializer(ServiceInputSerializer):
    create_only: ClassVar[dict[str, str]] = {
        "stage": "Use POST /touchpoints/{id}/move/ with a stage to move a touch point to another stage."
    }

    class Meta:
        model = TouchPoint
        fields = (
            "id",
            "journey",
            "stage",
            "name",
            "description",
            "channel",
            "owner_team",
            "importance",
            "target",
            "position",
            "archived_at",
            "created_at",
        )
        read_only_fields = ("id", "journey", "position", "archived_at", "created_at")
        extra_kwargs = {
            "stage": {"help_text": "The stage's id; set on creation, changed with move/."},
            "journey": {"help_text": "The journey of its stage."},
            # The service's bounds, stated in the schema (values still pass through to it).
            "importance": {"min_value": MIN_IMPORTANCE, "max_value": MAX_IMPORTANCE},
        }


class TouchPointMoveSerializer(serializers.Serializer[Any]):
    position = serializers.IntegerField(
        help_text="New 0-based position among the active touch points of the (new) stage."
    )
    stage = serializers.IntegerField(
        required=False,
        help_text="Id of another active stage of the same journey to move it into.",
    )

    def to_internal_value(self, data: Any) -> dict[str, Any]:
        """Pass the values through: the service says what a valid position is."""
        if not isinstance(data, Mapping) or "position" not in data:
            raise serializers.ValidationError({"position": ["This field is required."]})
        return {"position": data["position"], "stage": data.get("stage")}


class CriterionSerializer(ServiceInputSerializer):
    """A criterion with its current rubric flattened in. Changing a rubric field makes a new
    rubric version when the old one was already answered (see update_criterion)."""

    create_only: ClassVar[dict[str, str]] = {
        "touch_point": "A criterion stays at its touch point: create one at the other touch point instead."
    }

    kind = serializers.ChoiceField(choices=CriterionKind.choices, source="current_version.kind")
    scale_size = serializers.IntegerField(
        source="current_version.scale_size",
        required=False,
        allow_null=True,
        min_value=2,
        max_value=MAX_SCALE_SIZE,
        help_text="Scale criteria: answers run 1..scale_size (2–11, default 5).",
    )
    scale_labels = serializers.ListField(
        child=serializers.CharField(allow_blank=True),
        source="current_version.scale_labels",
        required=False,
        help_text="Scale criteria: one label per scale point, or none.",
    )
    unit = serializers.CharField(
        source="current_version.unit",
        required=False,
        allow_blank=True,
        help_text="Numeric criteria: the unit of the measured value (e.g. seconds).",
    )
    target_value = serializers.FloatField(
        source="current_version.target_value",
        required=False,
        allow_null=True,
        help_text="Numeric criteria (required for them): the value that scores 100.",
    )
    worst_value = serializers.FloatField(
        source="current_version.worst_value",
        required=False,
        allow_null=True,
        help_text="Numeric criteria (required for them, and not the target value): the value "
        "that scores 0.",
    )
    weight = serializers.FloatField(
        source="current_version.weight",
        required=False,
        min_value=MIN_WEIGHT,
        max_value=MAX_WEIGHT,
        help_text=f"Weight in the evaluation score ({MIN_WEIGHT:g}–{MAX_WEIGHT:g}, default 1).",
    )
    critical = serializers.BooleanField(
        source="current_version.critical",
        required=False,
        help_text="A critical criterion scoring 0 fails the whole evaluation.",
    )
    version = serializers.IntegerField(
        source="current_version.number",
        read_only=True,
        help_text="Number of the current rubric version; answers keep the version they were given under.",
    )

    class Meta:
        model = Criterion
        fields = (
            "id",
            "touch_point",
            "name",
            "description",
            "kind",
            "scale_size",
            "scale_labels",
            "unit",
            "target_value",
            "worst_value",
            "weight",
            "critical",
            "version",
            "position",
            "archived_at",
            "created_at",
        )
        read_only_fields = ("id", "position", "archived_at", "created_at")
        extra_kwargs = {"touch_point": {"help_text": "The touch point's id; set on creation only."}}


class SiteSerializer(ServiceInputSerializer):
    class Meta:
        model = Site
        fields = ("id", "name", "code", "archived_at", "created_at")
        read_only_fields = ("id", "archived_at", "created_at")
