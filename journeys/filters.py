"""Query filters of the journey and stage lists (the shared parts: core.api.filters)."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from django_filters import rest_framework as filters

from core.api.filters import ArchivableFilterSet, IdFilter
from journeys.models import Journey, JourneyStatus, Stage


class JourneyFilter(ArchivableFilterSet):
    status = filters.ChoiceFilter(choices=JourneyStatus.choices)

    class Meta:
        model = Journey
        fields = ("status", "include_archived")

    def without_archived(self, queryset: QuerySet[Any]) -> QuerySet[Any]:
        """An archived journey is one with status archived; asking for that status shows them."""
        if self.form.cleaned_data.get("status") == JourneyStatus.ARCHIVED:
            return queryset
        return queryset.exclude(status=JourneyStatus.ARCHIVED)


class StageFilter(ArchivableFilterSet):
    journey = IdFilter(field_name="journey_id", help_text="A journey's id.")

    class Meta:
        model = Stage
        fields = ("journey", "include_archived")
