"""Query filters of the touch point, criterion and site lists (see core.api.filters)."""

from __future__ import annotations

from core.api.filters import ArchivableFilterSet, IdFilter
from touchpoints.models import Criterion, Site, TouchPoint


class TouchPointFilter(ArchivableFilterSet):
    journey = IdFilter(field_name="journey_id", help_text="A journey's id.")
    stage = IdFilter(field_name="stage_id", help_text="A stage's id.")

    class Meta:
        model = TouchPoint
        fields = ("journey", "stage", "include_archived")


class CriterionFilter(ArchivableFilterSet):
    touch_point = IdFilter(field_name="touch_point_id", help_text="A touch point's id.")

    class Meta:
        model = Criterion
        fields = ("touch_point", "include_archived")


class SiteFilter(ArchivableFilterSet):
    class Meta:
        model = Site
        fields = ("include_archived",)
