"""Read-only admin for the score snapshots and the stale marks behind them, and the
"Scoring status" page.

Snapshots are rewritten by the recompute; a hand edit would be overwritten and, until
then, lie. Support staff use these lists to see what a page shows and how far behind
the workers are (the oldest stale marks come first). The status page shows the figures
of `manage.py scoring_status`: the queue, the last sweep and the worker heartbeat too.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils import timezone
from django.utils.timesince import timesince

from accounts.admin import ReadOnlyAdmin
from core.models import JourneyStaleMark
from scoring import services
from scoring.management.commands.scoring_status import lines
from scoring.models import JourneyScore, StaleMark, TouchPointScore, WeeklyScore

# Who may see the status page: whoever may see the stale marks it summarizes.
STATUS_PERMISSION = "scoring.view_stalemark"


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


@admin.register(JourneyStaleMark)
class JourneyStaleMarkAdmin(ReadOnlyAdmin):
    """Journeys whose map or scoring settings changed since their scores were computed
    (core.map_changes); old marks mean the workers or the sweep are not keeping up."""

    list_display = ("journey_id", "marked_at", "age")
    ordering = ("marked_at", "id")

    @admin.display(description="stale for", ordering="marked_at")
    def age(self, obj: JourneyStaleMark) -> str:
        return timesince(obj.marked_at, timezone.now())


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

    def get_urls(self) -> list[URLPattern]:
        status = path(
            "status/", self.admin_site.admin_view(self.status_view), name="scoring_status"
        )
        return [status, *super().get_urls()]

    def status_view(self, request: HttpRequest) -> TemplateResponse:
        if not request.user.has_perm(STATUS_PERMISSION):
            raise PermissionDenied
        status = services.scoring_status()
        context = {
            **self.admin_site.each_context(request),
            "title": "Scoring status",
            "rows": lines(status),
            "broker_error": status["broker_error"],
            "opts": self.model._meta,
        }
        return TemplateResponse(request, "admin/scoring_status.html", context)


def _app_list_with_status(original: Any) -> Any:
    """The admin index (and its sidebar) lists the status page first under Scoring.

    Django has no registry for pages that are not a model's, so this wraps the default
    site's get_app_list rather than replacing the site.
    """

    def get_app_list(request: HttpRequest, app_label: str | None = None) -> list[dict[str, Any]]:
        app_list: list[dict[str, Any]] = original(request, app_label)
        if not request.user.has_perm(STATUS_PERMISSION):
            return app_list
        for app in app_list:
            if app["app_label"] == "scoring":
                entry = {
                    "name": "Scoring status",
                    "object_name": "ScoringStatus",
                    "admin_url": reverse("admin:scoring_status"),
                    "add_url": None,
                    "view_only": True,
                    "perms": {"view": True},
                    "model": None,
                }
                app["models"].insert(0, entry)
        return app_list

    return get_app_list


admin.site.get_app_list = _app_list_with_status(admin.site.get_app_list)  # type: ignore[method-assign]
