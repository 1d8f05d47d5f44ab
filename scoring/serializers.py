"""Shapes of the scores API: the query it accepts and the answers it gives.

Answers are read from scoring.selectors' dataclasses as they are; the query serializer
only parses text, and scoring.selectors.score_filters holds the rules (the pages share them).
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from django.utils import timezone
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from scoring import formulas, selectors
from touchpoints.models import Source

# SHADOWING: `source` and `label` are names of the API's fields and also attributes of
# DRF's Field, which every serializer is. DRF's metaclass moves declared fields into
# _declared_fields, so at run time they never shadow those attributes; the stubs cannot
# know that, hence `type: ignore[assignment]` on exactly those declarations.

STATUSES = [formulas.MEETS, formulas.AT_RISK, formulas.WEAK_LINK, formulas.INSUFFICIENT_DATA]


# --- Query ---------------------------------------------------------------------------------------

# "+02:00" arrives as " 02:00" when a client forgets to percent-encode the "+".
_UNENCODED_PLUS = re.compile(r"(T\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?) (\d{2}:?\d{2})$")


class InstantField(serializers.Field):  # type: ignore[type-arg]
    """An ISO 8601 date or date-time (selectors.parse_instant); a date `until` includes
    that whole day."""

    default_error_messages = {
        "invalid": "Give an ISO 8601 date (2026-03-31) or date-time (2026-03-31T09:00:00Z).",
    }

    def __init__(self, *, end_of_day: bool = False, **kwargs: Any) -> None:
        self.end_of_day = end_of_day
        super().__init__(**kwargs)

    def to_internal_value(self, data: Any) -> datetime:
        if not isinstance(data, str) or len(data) > 40:
            self.fail("invalid")
        try:
            return selectors.parse_instant(
                _UNENCODED_PLUS.sub(r"\1+\2", data), end_of_day=self.end_of_day
            )
        except ValueError:
            pass
        self.fail("invalid")

    def to_representation(self, value: datetime) -> str:
        return value.isoformat()


class ScoresQuerySerializer(serializers.Serializer[Any]):
    """since/until/site/source, checked by selectors.score_filters into `filters`."""

    since = InstantField(required=False)
    until = InstantField(required=False, end_of_day=True)
    site = serializers.IntegerField(required=False, min_value=1)
    source = serializers.ChoiceField(choices=Source.choices, required=False)  # type: ignore[assignment]  # see SHADOWING

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        filters = selectors.score_filters(
            self.context["organization"],
            since=attrs.get("since"),
            until=attrs.get("until"),
            site_id=attrs.get("site"),
            source=attrs.get("source"),
        )
        return {**attrs, "filters": filters}


class WeakLinksQuerySerializer(ScoresQuerySerializer):
    limit = serializers.IntegerField(
        required=False, min_value=1, default=selectors.DEFAULT_WEAK_LINKS
    )


# --- Errors --------------------------------------------------------------------------------------


class ScoresQueryErrorSerializer(serializers.Serializer[Any]):
    """A 400: each bad query parameter with its messages."""

    since = serializers.ListField(child=serializers.CharField(), required=False)
    until = serializers.ListField(child=serializers.CharField(), required=False)
    site = serializers.ListField(child=serializers.CharField(), required=False)
    source = serializers.ListField(child=serializers.CharField(), required=False)  # type: ignore[assignment]  # see SHADOWING
    limit = serializers.ListField(child=serializers.CharField(), required=False)


class ScoresErrorSerializer(serializers.Serializer[Any]):
    """A 401, 403 or 404."""

    detail = serializers.CharField()


# --- Answers -------------------------------------------------------------------------------------


@extend_schema_field({"type": "string", "enum": STATUSES})
class StatusField(serializers.CharField):
    """meets, at_risk, weak_link or insufficient_data (PRODUCT.md scores 6)."""


@extend_schema_field(
    # OpenAPI 3.1's way to say "one of these strings, or null" (null without both means).
    {"type": ["string", "null"], "enum": [selectors.UP, selectors.DOWN, selectors.STEADY, None]}
)
class DirectionField(serializers.CharField):
    """up, down or steady (a change under 1 point either way); null without both means."""


@extend_schema_field({"type": "string", "enum": [selectors.SNAPSHOT, selectors.ON_DEMAND]})
class BasisField(serializers.CharField):
    """snapshot: the workers' figures for the default window; on_demand: computed now."""


def _score(**kwargs: Any) -> serializers.FloatField:
    return serializers.FloatField(allow_null=True, min_value=0, max_value=100, **kwargs)


class PeriodSerializer(serializers.Serializer[Any]):
    since = serializers.DateTimeField(help_text="Start, included.")
    until = serializers.DateTimeField(help_text="End, excluded.")


class StageRefSerializer(serializers.Serializer[Any]):
    id = serializers.IntegerField()
    name = serializers.CharField()
    position = serializers.IntegerField(allow_null=True)


class JourneyRefSerializer(serializers.Serializer[Any]):
    id = serializers.IntegerField()
    name = serializers.CharField()


class TrendSerializer(serializers.Serializer[Any]):
    change = serializers.FloatField(
        allow_null=True, help_text="Mean minus the previous window's mean, in score points."
    )
    previous_mean = _score(help_text="Mean over the same-length window just before.")
    direction = DirectionField(allow_null=True)


class TouchPointRowSerializer(serializers.Serializer[Any]):
    id = serializers.IntegerField()
    name = serializers.CharField()
    channel = serializers.CharField()
    importance = serializers.IntegerField(min_value=1, max_value=5)
    stage = StageRefSerializer()
    evaluations = serializers.IntegerField(help_text="Evaluations in the window, scored or not.")
    n = serializers.IntegerField(help_text="Scored evaluations in the window.")
    n_unscored = serializers.IntegerField(help_text="Evaluations with no applicable answer.")
    mean = _score()
    sd = serializers.FloatField(allow_null=True, help_text="Sample standard deviation (n - 1).")
    ci_low = _score(help_text="95 % confidence interval, clipped to 0..100; null when n < 2.")
    ci_high = _score()
    smoothed_score = _score(help_text="(n·mean + k·prior) / (n + k); null when n = 0.")
    target = serializers.FloatField(min_value=0, max_value=100)
    status = StatusField()
    priority = serializers.FloatField(
        allow_null=True, help_text="(target - smoothed) × importance, × 1.5 for the last."
    )
    is_last = serializers.BooleanField(help_text="The last touch point of the journey.")
    trend = TrendSerializer()
    latest_submitted_at = serializers.DateTimeField(allow_null=True)
    pending = serializers.BooleanField(
        help_text="Evaluations arrived that these figures do not include yet."
    )


class WeakLinkSerializer(serializers.Serializer[Any]):
    rank = serializers.IntegerField(min_value=1)
    touch_point_id = serializers.IntegerField()
    name = serializers.CharField()
    stage = StageRefSerializer()
    journey = JourneyRefSerializer()
    n = serializers.IntegerField()
    smoothed_score = serializers.FloatField(min_value=0, max_value=100)
    target = serializers.FloatField(min_value=0, max_value=100)
    importance = serializers.IntegerField(min_value=1, max_value=5)
    is_last = serializers.BooleanField()
    gap = serializers.FloatField(help_text="target - smoothed score.")
    weighted_gap = serializers.FloatField(
        help_text="The priority: gap × importance, × 1.5 for the last touch point."
    )
    pending = serializers.BooleanField()


class BlindSpotSerializer(serializers.Serializer[Any]):
    touch_point_id = serializers.IntegerField()
    name = serializers.CharField()
    stage = StageRefSerializer()
    n = serializers.IntegerField()


class StatusCountsSerializer(serializers.Serializer[Any]):
    meets = serializers.IntegerField()
    at_risk = serializers.IntegerField()
    weak_link = serializers.IntegerField()
    insufficient_data = serializers.IntegerField()


class _FiguresSerializer(serializers.Serializer[Any]):
    """What every scores answer says about where its figures come from."""

    basis = BasisField()
    window = PeriodSerializer(
        allow_null=True, help_text="Observed-time window; null before the first recompute."
    )
    site = serializers.IntegerField(source="site_id", allow_null=True)
    # Plain text, not an enum: "source" enums of other components would collide in the schema.
    source = serializers.CharField(  # type: ignore[assignment]  # see SHADOWING
        allow_null=True,
        help_text=f"The one source counted ({', '.join(Source.values)}), or null for all.",
    )
    computed_at = serializers.DateTimeField(allow_null=True)
    pending = serializers.BooleanField(
        help_text="A recompute is pending: newer evaluations are not in these figures yet."
    )


class JourneyScoresSerializer(_FiguresSerializer):
    journey = JourneyRefSerializer()
    score = _score(help_text="Importance-weighted mean of the smoothed touch point scores.")
    n = serializers.IntegerField(help_text="Scored evaluations of the journey in the window.")
    prior = _score(help_text="Mean of all the journey's scored evaluations in the window.")
    evaluations = serializers.IntegerField()
    latest_submitted_at = serializers.DateTimeField(allow_null=True)
    status_counts = StatusCountsSerializer()
    touch_points = TouchPointRowSerializer(many=True, help_text="In map order.")
    weak_links = WeakLinkSerializer(many=True, help_text="Highest priority first.")
    blind_spots = BlindSpotSerializer(many=True, help_text="Too few evaluations to call.")


class CriterionMeanSerializer(serializers.Serializer[Any]):
    id = serializers.IntegerField()
    name = serializers.CharField()
    version = serializers.IntegerField(help_text="The criterion's current rubric version.")
    kind = serializers.CharField()
    weight = serializers.FloatField()
    critical = serializers.BooleanField()
    archived = serializers.BooleanField()
    n = serializers.IntegerField(help_text="Answers that applied.")
    mean = _score()


class SourceSplitSerializer(serializers.Serializer[Any]):
    source = serializers.CharField()  # type: ignore[assignment]  # see SHADOWING
    label = serializers.CharField()  # type: ignore[assignment]  # see SHADOWING
    n = serializers.IntegerField()
    mean = _score()
    sd = serializers.FloatField(allow_null=True)


class SiteSplitSerializer(serializers.Serializer[Any]):
    site = serializers.IntegerField(source="site_id", allow_null=True)
    name = serializers.CharField()
    n = serializers.IntegerField()
    mean = _score()
    sd = serializers.FloatField(allow_null=True)


class PerceptionSerializer(serializers.Serializer[Any]):
    internal_n = serializers.IntegerField()
    internal_mean = _score()
    customer_n = serializers.IntegerField()
    customer_mean = _score()
    min_n = serializers.IntegerField()
    gap = serializers.FloatField(
        allow_null=True,
        help_text="Internal mean minus customer mean; null unless each side has min_n.",
    )


class WeekSerializer(serializers.Serializer[Any]):
    week_start = serializers.DateField(help_text="Monday (UTC) of the ISO week.")
    n = serializers.IntegerField()
    mean = _score()


class TouchPointScoresSerializer(_FiguresSerializer):
    journey = JourneyRefSerializer()
    touch_point = TouchPointRowSerializer()
    prior = _score()
    criteria = CriterionMeanSerializer(many=True)
    by_source = SourceSplitSerializer(many=True)
    by_site = SiteSplitSerializer(many=True)
    perception = PerceptionSerializer()
    weeks = WeekSerializer(many=True, help_text="The last 12 ISO weeks, oldest first.")


class OrganizationWeakLinksSerializer(_FiguresSerializer):
    computed_at = serializers.DateTimeField(
        allow_null=True, help_text="The oldest snapshot read: every figure is at least this fresh."
    )
    weak_links = WeakLinkSerializer(many=True)


# --- Fast rendering ------------------------------------------------------------------------------
#
# The journey scores answer is ~45 KB of nested rows: building it through the serializers
# above costs more than everything else the request does. These functions give the very
# same data (tests/api/test_scores_cache.py compares them with the serializers, which stay
# the OpenAPI description) as plain dicts.


def _instant(value: datetime | None) -> str | None:
    """As serializers.DateTimeField renders it: ISO 8601 in the current zone, UTC as Z."""
    if value is None:
        return None
    text = timezone.localtime(value).isoformat()
    return text[:-6] + "Z" if text.endswith("+00:00") else text


def _float(value: float | None) -> float | None:
    return None if value is None else float(value)


def _stage(stage: selectors.StageRef) -> dict[str, Any]:
    return {"id": stage.id, "name": stage.name, "position": stage.position}


def _row(row: selectors.TouchPointRow) -> dict[str, Any]:
    return {
        "id": row.id,
        "name": row.name,
        "channel": row.channel,
        "importance": row.importance,
        "stage": _stage(row.stage),
        "evaluations": row.evaluations,
        "n": row.n,
        "n_unscored": row.n_unscored,
        "mean": _float(row.mean),
        "sd": _float(row.sd),
        "ci_low": _float(row.ci_low),
        "ci_high": _float(row.ci_high),
        "smoothed_score": _float(row.smoothed_score),
        "target": float(row.target),
        "status": row.status,
        "priority": _float(row.priority),
        "is_last": row.is_last,
        "trend": {
            "change": _float(row.trend.change),
            "previous_mean": _float(row.trend.previous_mean),
            "direction": row.trend.direction,
        },
        "latest_submitted_at": _instant(row.latest_submitted_at),
        "pending": row.pending,
    }


def _weak_link(link: selectors.WeakLinkRow) -> dict[str, Any]:
    return {
        "rank": link.rank,
        "touch_point_id": link.touch_point_id,
        "name": link.name,
        "stage": _stage(link.stage),
        "journey": {"id": link.journey.id, "name": link.journey.name},
        "n": link.n,
        "smoothed_score": float(link.smoothed_score),
        "target": float(link.target),
        "importance": link.importance,
        "is_last": link.is_last,
        "gap": float(link.gap),
        "weighted_gap": float(link.weighted_gap),
        "pending": link.pending,
    }


def journey_scores_data(scores: selectors.JourneyScores) -> dict[str, Any]:
    """JourneyScoresSerializer(scores).data, without a serializer instance per row."""
    window = scores.window
    return {
        "basis": scores.basis,
        "window": None
        if window is None
        else {"since": _instant(window.since), "until": _instant(window.until)},
        "site": scores.site_id,
        "source": scores.source,
        "computed_at": _instant(scores.computed_at),
        "pending": scores.pending,
        "journey": {"id": scores.journey.id, "name": scores.journey.name},
        "score": _float(scores.score),
        "n": scores.n,
        "prior": _float(scores.prior),
        "evaluations": scores.evaluations,
        "latest_submitted_at": _instant(scores.latest_submitted_at),
        "status_counts": {status: scores.status_counts[status] for status in STATUSES},
        "touch_points": [_row(row) for row in scores.touch_points],
        "weak_links": [_weak_link(link) for link in scores.weak_links],
        "blind_spots": [
            {
                "touch_point_id": spot.touch_point_id,
                "name": spot.name,
                "stage": _stage(spot.stage),
                "n": spot.n,
            }
            for spot in scores.blind_spots
        ],
    }
