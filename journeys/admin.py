"""Admin for journeys and stages: support staff rename and re-describe; the structure
itself (adding, ordering, archiving) changes in the journey map or the API, whose
services keep positions 0..n-1 and the scores in step."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest

from accounts import admin as accounts_admin
from accounts.access import signed_in_user
from accounts.admin import AuditedAdmin, ReadOnlyTabularInline
from accounts.models import Organization
from core.map_changes import map_changed
from journeys.models import Journey, Stage
from journeys.services import SCORED_JOURNEY_FIELDS, SCORING_SETTINGS, update_scoring_settings

STRUCTURE_HELP = (
    "Positions, archiving, targets and new children are changed in the journey map or "
    "through the API, which keep the order and the scores consistent."
)


class ArchivedFilter(admin.SimpleListFilter):
    title = "archived"
    parameter_name = "archived"

    def lookups(self, request: HttpRequest, model_admin: Any) -> Any:
        return (("no", "Active"), ("yes", "Archived"))

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        if self.value() in ("no", "yes"):
            return queryset.filter(archived_at__isnull=self.value() == "no")
        return queryset


@admin.display(description="archived", boolean=True, ordering="archived_at")
def archived(obj: Any) -> bool:
    return obj.archived_at is not None


class StageInline(ReadOnlyTabularInline):
    model = Stage
    fields = ("name", "position", archived, "archived_at")  # type: ignore[assignment]  # Django takes a callable among an inline's read-only fields; the stubs only names
    ordering = ("position", "id")  # archived stages (no position) come last
    show_change_link = True


@admin.register(Journey)
class JourneyAdmin(AuditedAdmin):
    list_display = ("name", "organization", "status", "target", "persona", "updated_at")
    list_filter = ("status", "organization")
    list_select_related = ("organization",)
    search_fields = ("name", "persona")
    autocomplete_fields = ("organization",)
    inlines = (StageInline,)
    fieldsets = (
        (None, {"fields": ("organization", "name", "persona", "description", "status")}),
        (
            "Structure and scoring",
            {
                "fields": ("target", "created_by", "created_at", "updated_at"),
                "description": STRUCTURE_HELP,
            },
        ),
    )

    def get_readonly_fields(self, request: HttpRequest, obj: Journey | None = None) -> Any:
        fields = ["created_by", "created_at", "updated_at"]
        if obj is not None:
            # Moving a journey would hand its rows to another tenant; the target drives
            # every inheriting touch point's status, so the services own changing it.
            fields += ["organization", "target"]
        return fields

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        # delete_journey archives a journey that has evaluations instead of deleting it.
        return False

    def save_model(self, request: HttpRequest, obj: Journey, form: Any, change: bool) -> None:
        if not change:
            obj.created_by = signed_in_user(request)
        super().save_model(request, obj, form, change)
        if change and SCORED_JOURNEY_FIELDS.intersection(form.changed_data):
            map_changed(journey_ids=[obj.pk])


@admin.register(Stage)
class StageAdmin(AuditedAdmin):
    """Stages are added, moved and archived in the journey map or the API; here they
    can be renamed and re-described."""

    list_display = ("name", "journey", "organization", "position", archived)
    list_filter = (ArchivedFilter, "organization")
    list_select_related = ("journey", "organization")
    search_fields = ("name", "journey__name")
    readonly_fields = ("organization", "journey", "position", "archived_at", "created_at")
    fieldsets = (
        (None, {"fields": ("name", "description")}),
        (
            "Place in the journey",
            {
                "fields": ("organization", "journey", "position", "archived_at", "created_at"),
                "description": STRUCTURE_HELP,
            },
        ),
    )
    # Its touch points are listed by touchpoints.admin, which re-registers this admin
    # with their inline: journeys does not import the layer above it.

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def save_model(self, request: HttpRequest, obj: Stage, form: Any, change: bool) -> None:
        super().save_model(request, obj, form, change)
        if change and form.changed_data:
            map_changed(journey_ids=[obj.journey_id])  # as journeys.services.update_stage

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


# accounts sits below journeys, so its Organization admin cannot reach the service that
# re-scores every journey when the scoring settings change; this subclass replaces it.
admin.site.unregister(Organization)


@admin.register(Organization)
class OrganizationAdmin(accounts_admin.OrganizationAdmin):
    def save_model(self, request: HttpRequest, obj: Organization, form: Any, change: bool) -> None:
        scoring = [f for f in SCORING_SETTINGS if f in form.changed_data] if change else []
        if not scoring:
            super().save_model(request, obj, form, change)
            return
        others = [f for f in form.changed_data if f not in SCORING_SETTINGS]
        if others:
            obj.save(update_fields=others)
        update_scoring_settings(
            actor=signed_in_user(request),
            organization=obj,
            data={f: form.cleaned_data[f] for f in scoring},
        )
