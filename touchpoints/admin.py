"""Admin for touch points, criteria, sites and evaluations.

Touch points and criteria can be renamed and re-described here; their order, archiving,
importance, target and rubric change in the journey map or the API. Evaluations and
their answers are facts: shown, never added, changed or deleted.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin
from django.http import HttpRequest

from accounts.admin import AuditedAdmin, ReadOnlyAdmin, ReadOnlyTabularInline
from journeys.admin import STRUCTURE_HELP, ArchivedFilter, StageAdmin, archived
from journeys.models import Stage
from touchpoints.models import (
    Answer,
    Criterion,
    CriterionVersion,
    Evaluation,
    Site,
    TouchPoint,
)


def _one_decimal(value: float | None) -> str | None:
    return None if value is None else f"{value:.1f}"


# --- Touch points --------------------------------------------------------------------------


class TouchPointInline(ReadOnlyTabularInline):
    model = TouchPoint
    fields = ("name", "position", "channel", "importance", archived)  # type: ignore[assignment]  # Django takes a callable among an inline's read-only fields; the stubs only names
    ordering = ("position", "id")
    show_change_link = True


class StageWithTouchPointsAdmin(StageAdmin):
    """journeys.admin's stage page, with the stage's touch points listed below it."""

    inlines = (TouchPointInline,)


admin.site.unregister(Stage)
admin.site.register(Stage, StageWithTouchPointsAdmin)


class CriterionInline(ReadOnlyTabularInline):
    model = Criterion
    fields = ("name", "position", "kind", "weight", "critical", archived)  # type: ignore[assignment]  # Django takes a callable among an inline's read-only fields; the stubs only names
    ordering = ("position", "id")
    show_change_link = True

    def get_queryset(self, request: HttpRequest) -> Any:
        return super().get_queryset(request).select_related("current_version")

    @admin.display(description="kind")
    def kind(self, obj: Criterion) -> str | None:
        return obj.current_version.get_kind_display() if obj.current_version else None

    @admin.display(description="weight")
    def weight(self, obj: Criterion) -> float | None:
        return obj.current_version.weight if obj.current_version else None

    @admin.display(description="critical", boolean=True)
    def critical(self, obj: Criterion) -> bool | None:
        return obj.current_version.critical if obj.current_version else None


@admin.register(TouchPoint)
class TouchPointAdmin(AuditedAdmin):
    """Touch points are added, moved and archived in the journey map or the API; here
    they can be renamed and re-described."""

    list_display = ("name", "journey", "stage", "channel", "importance", archived)
    list_filter = ("channel", "importance", "organization", ArchivedFilter)
    list_select_related = ("journey", "stage")
    search_fields = ("name", "owner_team", "journey__name", "stage__name")
    readonly_fields = (
        "organization",
        "journey",
        "stage",
        "position",
        "archived_at",
        "importance",
        "target",
        "rubric_version",
        "created_at",
    )
    fieldsets = (
        (None, {"fields": ("name", "description", "channel", "owner_team")}),
        (
            "Place in the journey and scoring",
            {"fields": readonly_fields, "description": STRUCTURE_HELP},
        ),
    )
    inlines = (CriterionInline,)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


# --- Criteria ------------------------------------------------------------------------------


class CriterionVersionInline(ReadOnlyTabularInline):
    """The rubric history: answers keep pointing at the version they were given under."""

    model = CriterionVersion
    fk_name = "criterion"
    fields = (
        "number",
        "kind",
        "scale_size",
        "scale_labels",
        "unit",
        "target_value",
        "worst_value",
        "weight",
        "critical",
        "created_at",
    )
    ordering = ("number",)
    verbose_name = "rubric version"


@admin.register(Criterion)
class CriterionAdmin(AuditedAdmin):
    """Criteria are added, moved, archived and given new rubrics in the journey map or
    the API (a rubric change makes a new version); here they can be renamed and
    re-described."""

    list_display = ("name", "touch_point", "journey", "kind", "weight", "critical", archived)
    list_filter = (
        "organization",
        ("current_version__kind", admin.ChoicesFieldListFilter),
        ("current_version__critical", admin.BooleanFieldListFilter),
        ArchivedFilter,
    )
    list_select_related = ("touch_point__journey", "current_version")
    search_fields = ("name", "touch_point__name")
    readonly_fields = (
        "organization",
        "touch_point",
        "position",
        "archived_at",
        "current_version",
        "created_at",
    )
    fieldsets = (
        (None, {"fields": ("name", "description")}),
        ("Place and rubric", {"fields": readonly_fields, "description": STRUCTURE_HELP}),
    )
    inlines = (CriterionVersionInline,)

    @admin.display(description="journey", ordering="touch_point__journey__name")
    def journey(self, obj: Criterion) -> Any:
        return obj.touch_point.journey

    @admin.display(description="kind", ordering="current_version__kind")
    def kind(self, obj: Criterion) -> str | None:
        return obj.current_version.get_kind_display() if obj.current_version else None

    @admin.display(description="weight", ordering="current_version__weight")
    def weight(self, obj: Criterion) -> float | None:
        return obj.current_version.weight if obj.current_version else None

    @admin.display(description="critical", boolean=True, ordering="current_version__critical")
    def critical(self, obj: Criterion) -> bool | None:
        return obj.current_version.critical if obj.current_version else None

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


# --- Sites ---------------------------------------------------------------------------------


class SiteForm(forms.ModelForm):  # type: ignore[type-arg]
    class Meta:
        model = Site
        fields = ("organization", "name", "code", "archived_at")

    def clean(self) -> dict[str, Any]:
        # On a change the organization is read-only, so Django's own check of the
        # (organization, name) constraint would skip it and the database would refuse.
        cleaned = super().clean() or {}
        organization = cleaned.get("organization") or getattr(self.instance, "organization", None)
        name = cleaned.get("name")
        if organization is not None and name:
            taken = Site.objects.for_organization(organization).filter(name=name)
            if self.instance.pk is not None:
                taken = taken.exclude(pk=self.instance.pk)
            if taken.exists():
                self.add_error("name", f"There is already a site called {name!r}.")
        return cleaned


@admin.register(Site)
class SiteAdmin(AuditedAdmin):
    """Sites have no order, so they can be added and edited here; retire one by setting
    its archived time (evaluations hang off sites, so they are never deleted)."""

    form = SiteForm
    list_display = ("name", "code", "organization", archived, "created_at")
    list_filter = ("organization", ArchivedFilter)
    list_select_related = ("organization",)
    search_fields = ("name", "code")
    autocomplete_fields = ("organization",)
    fields = ("organization", "name", "code", "archived_at", "created_at")

    def get_readonly_fields(self, request: HttpRequest, obj: Site | None = None) -> Any:
        # Moving a site would point other tenants' evaluations at it.
        return ("organization", "created_at") if obj is not None else ("created_at",)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


# --- Evaluations ---------------------------------------------------------------------------


class AnswerInline(ReadOnlyTabularInline):
    model = Answer
    fields = ("criterion", "value", "score", "criterion_version")

    def get_queryset(self, request: HttpRequest) -> Any:
        return super().get_queryset(request).select_related("criterion", "criterion_version")


@admin.register(Evaluation)
class EvaluationAdmin(ReadOnlyAdmin):
    """Submitted evaluations are facts: never changed or deleted, here or anywhere."""

    list_display = ("id", "touch_point", "source", "site", "evaluator", "observed_at", "score_")
    list_filter = ("source", "organization")
    list_select_related = ("touch_point", "site", "evaluator")
    date_hierarchy = "observed_at"
    search_fields = ("comment", "touch_point__name", "evaluator__email")
    # Should these ever become editable, no select box may load a whole table.
    raw_id_fields = ("organization", "journey", "touch_point", "evaluator", "site")
    # Counting every row of a big table on each page view is what makes admins slow.
    show_full_result_count = False
    fields = (
        "organization",
        "journey",
        "touch_point",
        "evaluator",
        "source",
        "site",
        "observed_at",
        "submitted_at",
        "comment",
        "client_key",
        "rubric_version",
        "score",
    )
    inlines = (AnswerInline,)

    @admin.display(description="score", ordering="score")
    def score_(self, obj: Evaluation) -> str | None:
        return _one_decimal(obj.score)
