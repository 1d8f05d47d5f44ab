"""Read-only admin for the score snapshots and the stale marks behind them.

Snapshots are rewritten by the recompute; a hand edit would be overwritten and, until
then, lie. Support staff use these lists to see what a page shows and how far behind
the workers are (the oldest stale marks come first).
"""

from __future__ import annotations

from django.contrib import admin
from django.utils import timezone
from django.utils.timesince import timesince

from accounts.admin import ReadOnlyAdmin
from scoring.models import JourneyScore, StaleMark, TouchPointScore, WeeklyScore


def _one_decimal(value: float | None) -> str | None:
    return None if value is None else f"{value:.1f}"


@admin.register(TouchPointScore)
class TouchPointScoreAdmin(ReadOnlyAdmin):
    list_display = ("touch_point", "journey", "n", "smoothed_", "target", "status", "computed_at")
    list_filter = ("status", "organization")
    list_select_related = ("touch_point", "journey")
    search_fields = ("touch_point__name", "journey__name")
    show_full_result_count = False

    @admin.display(description="smoothed", ordering="smoothed")
    def smoothed_(self, obj: TouchPointScore) -> str | None:
        return _one_decimal(obj.smoothed)


@admin.register(JourneyScore)
class JourneyScoreAdmin(ReadOnlyAdmin):
    list_display = ("journey", "organization", "score_", "n", "computed_at")
    list_filter = ("organization",)
    list_select_related = ("journey", "organization")
    search_fields = ("journey__name",)

    @admin.display(description="score", ordering="score")
    def score_(self, obj: JourneyScore) -> str | None:
        return _one_decimal(obj.score)


@admin.register(WeeklyScore)
class WeeklyScoreAdmin(ReadOnlyAdmin):
    list_display = ("touch_point", "week_start", "n", "mean_", "computed_at")
    list_filter = ("touch_point__organization",)
    list_select_related = ("touch_point",)
    search_fields = ("touch_point__name",)
    date_hierarchy = "week_start"
    show_full_result_count = False

    @admin.display(description="mean", ordering="mean")
    def mean_(self, obj: WeeklyScore) -> str | None:
        return _one_decimal(obj.mean)


@admin.register(StaleMark)
class StaleMarkAdmin(ReadOnlyAdmin):
    """Touch points whose scores are behind their evaluations; old marks mean the
    workers or the sweep are not keeping up."""

    list_display = ("touch_point", "journey", "marked_at", "age")
    list_filter = ("touch_point__organization",)
    list_select_related = ("touch_point__journey",)
    search_fields = ("touch_point__name", "touch_point__journey__name")
    ordering = ("marked_at", "id")

    @admin.display(description="journey", ordering="touch_point__journey__name")
    def journey(self, obj: StaleMark) -> object:
        return obj.touch_point.journey

    @admin.display(description="stale for", ordering="marked_at")
    def age(self, obj: StaleMark) -> str:
        return timesince(obj.marked_at, timezone.now())
