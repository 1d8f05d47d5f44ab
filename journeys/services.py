"""Writes for journeys and stages. Each is one transaction, checks the actor's role and
writes an audit row. Deleting something that evaluations hang off archives it instead."""

from __future__ import annotations

from typing import Any

from django.db import transaction

from accounts.access import require_role
from accounts.models import (
    MIN_N_MAX,
    ROLES_THAT_EDIT_STRUCTURE,
    SMOOTHING_K_MAX,
    WINDOW_DAYS_MAX,
    Organization,
    User,
)
from accounts.services import audit_changes, record_audit
from core import ordering
from core.map_changes import map_changed
from core.text import clean_text, raise_if
from journeys.in_use import journey_in_use, stage_in_use
from journeys.models import Journey, JourneyStatus, Stage

JOURNEY_FIELDS = ("name", "persona", "description", "status", "target")
# Touch points without a target of their own inherit the journey's; only active journeys
# count in the organization's weak links.
SCORED_JOURNEY_FIELDS = frozenset({"status", "target"})
STAGE_FIELDS = ("name", "description")


def clean_score(errors: dict[str, list[str]], field: str, value: Any) -> float:
    """A target on the 0–100 score scale."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        errors.setdefault(field, []).append("Must be a number from 0 to 100.")
        return 0.0
    if not 0 <= value <= 100:  # also refuses NaN, which compares false
        errors.setdefault(field, []).append("Must be a number from 0 to 100.")
    return float(value)


def _journey_values(data: dict[str, Any]) -> dict[str, Any]:
    errors: dict[str, list[str]] = {}
    unknown = set(data) - set(JOURNEY_FIELDS)
    if unknown:
        errors["__all__"] = [f"Unknown fields: {', '.join(sorted(unknown))}."]
    values: dict[str, Any] = {}
    if "name" in data:
        values["name"] = clean_text(errors, "name", data["name"], max_length=200, required=True)
    if "persona" in data:
        values["persona"] = clean_text(errors, "persona", data["persona"], max_length=200)
    if "description" in data:
        values["description"] = clean_text(
            errors, "description", data["description"], max_length=5000
        )
    if "status" in data:
        if data["status"] not in JourneyStatus.values:
            errors["status"] = [f"Status must be one of {', '.join(JourneyStatus.values)}."]
        values["status"] = data["status"]
    if "target" in data:
        values["target"] = clean_score(errors, "target", data["target"])
    raise_if(errors)
    return values


@transaction.atomic
def create_journey(
    *,
    actor: User,
    organization: Organization,
    name: str,
    persona: str = "",
    description: str = "",
    status: str = JourneyStatus.DRAFT,
    target: float | None = None,
) -> Journey:
    """A new journey; without a target it starts with the organization's default target."""
    require_role(actor, organization, ROLES_THAT_EDIT_STRUCTURE)
    if target is None:
        target = organization.default_target
    values = _journey_values(
        {
            "name": name,
            "persona": persona,
            "description": description,
            "status": status,
            "target": target,
        }
    )
    journey = Journey.objects.create(organization=organization, created_by=actor, **values)
    record_audit(actor=actor, organization=organization, action="create", obj=journey)
    return journey


@transaction.atomic
def update_journey(*, actor: User, journey: Journey, data: dict[str, Any]) -> Journey:
    require_role(actor, journey.organization_id, ROLES_THAT_EDIT_STRUCTURE)
    values = _journey_values(data)
    changes = audit_changes(journey, values)
    for field, value in values.items():
        setattr(journey, field, value)
    if changes:
        journey.save(update_fields=[*changes, "updated_at"])
        record_audit(
            actor=actor,
            organization=journey.organization_id,
            action="update",
            obj=journey,
            changes=changes,
        )
        if SCORED_JOURNEY_FIELDS.intersection(changes):
            map_changed(journey_ids=[journey.pk])
    return journey


@transaction.atomic
def delete_journey(*, actor: User, journey: Journey) -> bool:
    """Delete a journey nobody evaluated yet; archive one with evaluations (journeys.in_use).

    Returns True if it was deleted, False if it was archived.
    """
    require_role(actor, journey.organization_id, ROLES_THAT_EDIT_STRUCTURE)
    journey = ordering.lock(Journey, journey.pk)
    if journey_in_use(journey.pk):
        if journey.status != JourneyStatus.ARCHIVED:
            journey.status = JourneyStatus.ARCHIVED
            journey.save(update_fields=["status", "updated_at"])
            record_audit(
                actor=actor, organization=journey.organization_id, action="archive", obj=journey
            )
            map_changed(journey_ids=[journey.pk])
        return False
    record_audit(actor=actor, organization=journey.organization_id, action="delete", obj=journey)
    journey.delete()
    return True


def _stage_values(data: dict[str, Any]) -> dict[str, Any]:
    errors: dict[str, list[str]] = {}
    unknown = set(data) - set(STAGE_FIELDS)
    if unknown:
        errors["__all__"] = [f"Unknown fields: {', '.join(sorted(unknown))}."]
    values: dict[str, Any] = {}
    if "name" in data:
        values["name"] = clean_text(errors, "name", data["name"], max_length=200, required=True)
    if "description" in data:
        values["description"] = clean_text(
            errors, "description", data["description"], max_length=5000
        )
    raise_if(errors)
    return values


def _lock_journey(journey_id: int, action: str) -> None:
    ordering.lock(Journey, journey_id)


def _stage_changed(stage: Stage, action: str) -> None:
    """Stages order the map: any change of them can change "is last" and the priorities."""
    map_changed(journey_ids=[stage.journey_id])


STAGES = ordering.Ordered(
    model=Stage, parent="journey", lock_parent=_lock_journey, changed=_stage_changed
)


@transaction.atomic
def create_stage(
    *,
    actor: User,
    journey: Journey,
    name: str,
    description: str = "",
    position: int | None = None,
) -> Stage:
    require_role(actor, journey.organization_id, ROLES_THAT_EDIT_STRUCTURE)
    values = _stage_values({"name": name, "description": description})
    stage: Stage = ordering.create(
        STAGES,
        actor=actor,
        organization_id=journey.organization_id,
        parent_id=journey.pk,
        position=position,
        values=values,
    )
    return stage


@transaction.atomic
def update_stage(*, actor: User, stage: Stage, data: dict[str, Any]) -> Stage:
    require_role(actor, stage.organization_id, ROLES_THAT_EDIT_STRUCTURE)
    values = _stage_values(data)
    changes = audit_changes(stage, values)
    for field, value in values.items():
        setattr(stage, field, value)
    if changes:
        stage.save(update_fields=list(changes))
        record_audit(
            actor=actor,
            organization=stage.organization_id,
            action="update",
            obj=stage,
            changes=changes,
        )
        _stage_changed(stage, "update")
    return stage


@transaction.atomic
def move_stage(*, actor: User, stage: Stage, position: int) -> list[int]:
    """Move a stage to `position` (0-based) in its journey; returns the new order of ids."""
    require_role(actor, stage.organization_id, ROLES_THAT_EDIT_STRUCTURE)
    return ordering.move(STAGES, actor=actor, item=stage, position=position)


@transaction.atomic
def archive_stage(*, actor: User, stage: Stage) -> Stage:
    require_role(actor, stage.organization_id, ROLES_THAT_EDIT_STRUCTURE)
    return ordering.archive(STAGES, actor=actor, item=stage)  # type: ignore[no-any-return]


@transaction.atomic
def restore_stage(*, actor: User, stage: Stage, position: int | None = None) -> Stage:
    require_role(actor, stage.organization_id, ROLES_THAT_EDIT_STRUCTURE)
    return ordering.restore(STAGES, actor=actor, item=stage, position=position)  # type: ignore[no-any-return]


@transaction.atomic
def delete_stage(*, actor: User, stage: Stage) -> bool:
    """Delete a stage nobody evaluated; archive one with evaluations (journeys.in_use).
    True if deleted."""
    require_role(actor, stage.organization_id, ROLES_THAT_EDIT_STRUCTURE)
    if stage_in_use(stage.pk):
        archive_stage(actor=actor, stage=stage)
        return False
    ordering.remove(STAGES, actor=actor, item=stage)
    return True


# --- Organization settings -------------------------------------------------------------------

#: The organization's scoring method settings (PRODUCT.md "Scores, version 1").
SCORING_SETTINGS = ("smoothing_k", "min_n", "window_days")
#: Everything update_scoring_settings takes: the method's settings, plus the name and the
#: target new journeys start with (neither changes a score).
ORGANIZATION_SETTINGS = ("name", "default_target", *SCORING_SETTINGS)


def _scoring_values(data: dict[str, Any]) -> dict[str, Any]:
    errors: dict[str, list[str]] = {}
    unknown = set(data) - set(ORGANIZATION_SETTINGS)
    if unknown:
        errors["__all__"] = [f"Unknown fields: {', '.join(sorted(unknown))}."]
    values: dict[str, Any] = {}
    if "name" in data:
        values["name"] = clean_text(errors, "name", data["name"], max_length=200, required=True)
    if "default_target" in data:
        values["default_target"] = clean_score(errors, "default_target", data["default_target"])
    if "smoothing_k" in data:
        k = data["smoothing_k"]
        if isinstance(k, bool) or not isinstance(k, int | float) or not 0 <= k <= SMOOTHING_K_MAX:
            errors["smoothing_k"] = [f"Must be a number from 0 to {SMOOTHING_K_MAX:g}."]
        values["smoothing_k"] = k
    for name, low, high in (("min_n", 1, MIN_N_MAX), ("window_days", 1, WINDOW_DAYS_MAX)):
        if name in data:
            value = data[name]
            if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
                errors[name] = [f"Must be a whole number from {low} to {high}."]
            values[name] = value
    raise_if(errors)
    return values


@transaction.atomic
def update_scoring_settings(
    *, actor: User, organization: Organization, data: dict[str, Any], locked: bool = False
) -> Organization:
    """Change the organization's smoothing k, min n or window: every one of its journeys
    is then scored by the new method, so each is marked stale (the map-changed hook).
    Its name and default target (for new journeys) change here too, without a rescore.

    The row is locked FOR NO KEY UPDATE and read afresh, unless `locked`: the caller holds
    that lock in its transaction already and `organization` was read under it
    (alerts.organization, which checks its version on that very row), so it is changed
    as it is, not locked and read a second time.

    Managers of the organization may; so may staff allowed to change organizations in
    the admin, which calls this too."""
    if not actor.has_perm("accounts.change_organization"):
        require_role(actor, organization, ROLES_THAT_EDIT_STRUCTURE)
    values = _scoring_values(data)
    current = (
        organization
        if locked
        else Organization.objects.select_for_update(no_key=True).get(pk=organization.pk)
    )
    changes = audit_changes(current, values)
    for field, value in values.items():
        setattr(current, field, value)
        setattr(organization, field, value)
    if changes:
        current.save(update_fields=list(changes))
        record_audit(
            actor=actor, organization=current, action="update", obj=current, changes=changes
        )
    if set(changes) & set(SCORING_SETTINGS):
        map_changed(
            journey_ids=Journey.objects.filter(organization=current).values_list("pk", flat=True)
        )
    return organization
