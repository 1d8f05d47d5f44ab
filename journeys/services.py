"""Writes for journeys and stages. Each is one transaction, checks the actor's role and
writes an audit row. Deleting something that evaluations hang off archives it instead."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from accounts.access import require_role
from accounts.models import ROLES_THAT_EDIT_STRUCTURE, Organization, User
from accounts.services import record_audit
from core.text import clean_text, raise_if
from journeys import ordering
from journeys.models import Journey, JourneyStatus, Stage

JOURNEY_FIELDS = ("name", "persona", "description", "status", "target")
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
    target: float = 80.0,
) -> Journey:
    require_role(actor, organization, ROLES_THAT_EDIT_STRUCTURE)
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
    changes = {
        field: [getattr(journey, field), value]
        for field, value in values.items()
        if getattr(journey, field) != value
    }
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
        if "target" in changes:
            # Touch points without a target of their own inherit this one.
            from scoring.services import mark_stale
            from touchpoints.models import TouchPoint

            mark_stale(
                TouchPoint.objects.filter(journey=journey, archived_at__isnull=True).values_list(
                    "pk", flat=True
                )
            )
    return journey


@transaction.atomic
def delete_journey(*, actor: User, journey: Journey) -> bool:
    """Delete a journey nobody evaluated yet; archive one with evaluations.

    Returns True if it was deleted, False if it was archived.
    """
    from touchpoints.models import Evaluation

    require_role(actor, journey.organization_id, ROLES_THAT_EDIT_STRUCTURE)
    journey = ordering.lock(Journey, journey.pk)
    if Evaluation.objects.filter(journey=journey).exists():
        if journey.status != JourneyStatus.ARCHIVED:
            journey.status = JourneyStatus.ARCHIVED
            journey.save(update_fields=["status", "updated_at"])
            record_audit(
                actor=actor, organization=journey.organization_id, action="archive", obj=journey
            )
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
    ordering.lock(Journey, journey.pk)
    siblings = Stage.objects.filter(journey=journey)
    stage = Stage.objects.create(
        organization_id=journey.organization_id,
        journey=journey,
        position=siblings.filter(archived_at__isnull=True).count(),
        **values,
    )
    if position is not None:
        ordering.insert(siblings, stage.pk, position)
        stage.refresh_from_db(fields=["position"])
    record_audit(actor=actor, organization=journey.organization_id, action="create", obj=stage)
    return stage


@transaction.atomic
def update_stage(*, actor: User, stage: Stage, data: dict[str, Any]) -> Stage:
    require_role(actor, stage.organization_id, ROLES_THAT_EDIT_STRUCTURE)
    values = _stage_values(data)
    changes = {f: [getattr(stage, f), v] for f, v in values.items() if getattr(stage, f) != v}
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
    return stage


@transaction.atomic
def move_stage(*, actor: User, stage: Stage, position: int) -> list[int]:
    """Move a stage to `position` (0-based) in its journey; returns the new order of ids."""
    require_role(actor, stage.organization_id, ROLES_THAT_EDIT_STRUCTURE)
    ordering.lock(Journey, stage.journey_id)
    stage.refresh_from_db(fields=["position", "archived_at"])
    if stage.is_archived:
        raise ValidationError({"position": ["Restore the stage before moving it."]})
    old_position = stage.position
    order = ordering.move(Stage.objects.filter(journey_id=stage.journey_id), stage.pk, position)
    record_audit(
        actor=actor,
        organization=stage.organization_id,
        action="reorder",
        obj=stage,
        changes={"position": [old_position, order.index(stage.pk)]},
    )
    return order


@transaction.atomic
def archive_stage(*, actor: User, stage: Stage) -> Stage:
    require_role(actor, stage.organization_id, ROLES_THAT_EDIT_STRUCTURE)
    ordering.lock(Journey, stage.journey_id)
    stage.refresh_from_db(fields=["position", "archived_at"])
    if not stage.is_archived:
        stage.archived_at = timezone.now()
        stage.position = None
        stage.save(update_fields=["archived_at", "position"])
        ordering.close_gap(Stage.objects.filter(journey_id=stage.journey_id))
        record_audit(actor=actor, organization=stage.organization_id, action="archive", obj=stage)
    return stage


@transaction.atomic
def restore_stage(*, actor: User, stage: Stage, position: int | None = None) -> Stage:
    require_role(actor, stage.organization_id, ROLES_THAT_EDIT_STRUCTURE)
    ordering.lock(Journey, stage.journey_id)
    stage.refresh_from_db(fields=["position", "archived_at"])
    if stage.is_archived:
        siblings = Stage.objects.filter(journey_id=stage.journey_id)
        stage.archived_at = None
        stage.position = siblings.filter(archived_at__isnull=True).count()
        stage.save(update_fields=["archived_at", "position"])
        ordering.insert(siblings, stage.pk, position)
        stage.refresh_from_db(fields=["position"])
        record_audit(actor=actor, organization=stage.organization_id, action="restore", obj=stage)
    return stage


@transaction.atomic
def delete_stage(*, actor: User, stage: Stage) -> bool:
    """Delete a stage nobody evaluated; archive one with evaluations. True if deleted."""
    from touchpoints.models import Evaluation

    require_role(actor, stage.organization_id, ROLES_THAT_EDIT_STRUCTURE)
    if Evaluation.objects.filter(touch_point__stage_id=stage.pk).exists():
        archive_stage(actor=actor, stage=stage)
        return False
    ordering.lock(Journey, stage.journey_id)
    record_audit(actor=actor, organization=stage.organization_id, action="delete", obj=stage)
    stage.delete()
    ordering.close_gap(Stage.objects.filter(journey_id=stage.journey_id))
    return True
