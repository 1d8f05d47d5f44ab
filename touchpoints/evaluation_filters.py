"""Query filters for the evaluations list: by touch point, journey, site, source and
observed time. Ids outside the caller's organization simply match nothing (the list is
already scoped); malformed values are a 400 naming the parameter."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import django_filters
from django_filters.fields import IsoDateTimeField

from core.api.filters import IdFilter
from touchpoints.models import Evaluation, Source
from touchpoints.services import OBSERVED_AT_EARLIEST

#: No observation time lies outside these (touchpoints.services refuses observed_at before
#: OBSERVED_AT_EARLIEST and in the future).
EARLIEST = OBSERVED_AT_EARLIEST
LATEST = datetime(2999, 12, 31, tzinfo=UTC)


class UtcIsoDateTimeField(IsoDateTimeField):  # type: ignore[misc]  # django-filter ships no type information
    """An ISO 8601 instant, turned into UTC: PostgreSQL refuses offsets beyond ±15:59 that
    ISO 8601 and Python allow.

    A bound outside 1970-2999 is moved to that range's edge: no observation lies beyond
    it, so the filter selects the same rows, and every instant the schema's `date-time`
    allows is accepted (issue 19; it was a 400 the schema did not state). Converting such
    an instant to UTC could overflow datetime, so it is compared, never converted."""

    def clean(self, value: Any) -> datetime | None:
        instant = super().clean(value)
        if instant is None:
            return None
        if instant < EARLIEST:
            return EARLIEST
        if instant > LATEST:
            return LATEST
        return instant.astimezone(UTC)  # type: ignore[no-any-return]


class UtcIsoDateTimeFilter(django_filters.IsoDateTimeFilter):  # type: ignore[misc]  # django-filter ships no type information
    field_class = UtcIsoDateTimeField


class EvaluationFilter(django_filters.FilterSet):  # type: ignore[misc]  # django-filter ships no type information
    touch_point = IdFilter(field_name="touch_point_id", help_text="Id of a touch point.")
    journey = IdFilter(field_name="journey_id", help_text="Id of a journey.")
    site = IdFilter(field_name="site_id", help_text="Id of a site.")
    source = django_filters.ChoiceFilter(choices=Source.choices, help_text="Who observed.")
    # Half-open [after, before), so consecutive windows neither overlap nor leave gaps.
    observed_after = UtcIsoDateTimeFilter(
        field_name="observed_at",
        lookup_expr="gte",
        help_text="Observed at or after this ISO 8601 time (UTC when no zone is given).",
    )
    observed_before = UtcIsoDateTimeFilter(
        field_name="observed_at",
        lookup_expr="lt",
        help_text="Observed strictly before this ISO 8601 time (UTC when no zone is given).",
    )

    class Meta:
        model = Evaluation
        fields = [
            "touch_point",
            "journey",
            "site",
            "source",
            "observed_after",
            "observed_before",
        ]
