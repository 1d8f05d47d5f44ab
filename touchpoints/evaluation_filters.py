"""Query filters for the evaluations list: by touch point, journey, site, source and
observed time. Ids outside the caller's organization simply match nothing (the list is
already scoped); malformed values are a 400 naming the parameter."""

from __future__ import annotations

import django_filters
from django import forms
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field

from touchpoints.models import Evaluation, Source

MAX_ID = 2**63 - 1  # a bigint: larger numbers would fail in the database, not match nothing


@extend_schema_field(OpenApiTypes.INT)
class IdFilter(django_filters.NumberFilter):
    """A whole, positive id (NumberFilter alone would take 1.5 and 10**30)."""

    field_class = forms.IntegerField

    def __init__(self, *args: object, **kwargs: object) -> None:
        kwargs.setdefault("min_value", 1)
        kwargs.setdefault("max_value", MAX_ID)
        super().__init__(*args, **kwargs)


class EvaluationFilter(django_filters.FilterSet):
    touch_point = IdFilter(field_name="touch_point_id", help_text="Id of a touch point.")
    journey = IdFilter(field_name="journey_id", help_text="Id of a journey.")
    site = IdFilter(field_name="site_id", help_text="Id of a site.")
    source = django_filters.ChoiceFilter(choices=Source.choices, help_text="Who observed.")
    # Half-open [after, before), so consecutive windows neither overlap nor leave gaps.
    observed_after = django_filters.IsoDateTimeFilter(
        field_name="observed_at",
        lookup_expr="gte",
        help_text="Observed at or after this ISO 8601 time (UTC when no zone is given).",
    )
    observed_before = django_filters.IsoDateTimeFilter(
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
