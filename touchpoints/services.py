"""Writes for touch points, criteria, sites and evaluations.

`submit_evaluations` is the one write path for evaluations: the browser form, the API,
CSV import and demo data all call it, so all of them refuse the same things with the
same messages.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from contextlib import nullcontext
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TypeGuard

from django.core.exceptions import ValidationError
from django.db import IntegrityError, connection, transaction
from django.db.models import F
from django.utils import timezone

from accounts.access import membership_for, require_role
from accounts.models import ROLES_THAT_EDIT_STRUCTURE, Organization, User
from accounts.services import audit_changes, record_audit
from core import ordering
from core.map_changes import map_changed
from core.text import clean_text, conflict, is_storable, raise_if, text_problems
from core.write_batch import batched_writes
from journeys.models import Journey, JourneyStatus, Stage
from journeys.services import clean_score
from touchpoints.answer_scores import insert_scored_evaluations
from touchpoints.hooks import evaluations_stored
from touchpoints.models import (
    COMMENT_MAX_LENGTH,
    OBSERVED_AT_CLOCK_SKEW,
    Answer,
    Channel,
    Criterion,
    CriterionKind,
    CriterionVersion,
    Evaluation,
    Site,
    Source,
    TouchPoint,
)
from touchpoints.outbox import record_critical_failures

# --- Touch points -------------------------------------------------------------------------

TOUCH_POINT_FIELDS = ("name", "description", "channel", "owner_team", "importance", "target")
MIN_IMPORTANCE, MAX_IMPORTANCE = 1, 5  # minor .. make or break


def _touch_point_values(data: dict[str, Any]) -> dict[str, Any]:
    errors: dict[str, list[str]] = {}
    unknown = set(data) - set(TOUCH_POINT_FIELDS)
    if unknown:
        errors["__all__"] = [f"Unknown fields: {', '.join(sorted(unknown))}."]
    values: dict[str, Any] = {}
    if "name" in data:
        values["name"] = clean_text(errors, "name", data["name"], max_length=200, required=True)
    if "description" in data:
        values["description"] = clean_text(
            errors, "description", data["description"], max_length=5000
        )
    if "owner_team" in data:
        values["owner_team"] = clean_text(errors, "owner_team", data["owner_team"], max_length=120)
    if "channel" in data:
        if data["channel"] not in Channel.values:
            errors["channel"] = [f"Channel must be one of {', '.join(Channel.values)}."]
        values["channel"] = data["channel"]
    if "importance" in data:
        importance = data["importance"]
        if (
            isinstance(importance, bool)
            or not isinstance(importance, int)
            or not MIN_IMPORTANCE <= importance <= MAX_IMPORTANCE
        ):
            errors["importance"] = ["Importance must be a whole number from 1 to 5."]
        values["importance"] = importance
    if "target" in data:
        values["target"] = (
            None if data["target"] is None else clean_score(errors, "target", data["target"])
        )
    raise_if(errors)
    return values


def _lock_stage(stage_id: int, action: str) -> None:
    ordering.lock(Stage, stage_id)


def _touch_point_changed(touch_point: TouchPoint, action: str) -> None:
    """Any change of a touch point on the map can change "is last", a priority or the
    journey score."""
    map_changed(journey_ids=[touch_point.journey_id])


TOUCH_POINTS = ordering.Ordered(
    model=TouchPoint, parent="stage", lock_parent=_lock_stage, changed=_touch_point_changed
)
#: Changes of these fields change a touch point's status or priority.
SCORED_TOUCH_POINT_FIELDS = frozenset({"importance", "target"})


@transaction.atomic
def create_touch_point(
    *,
    actor: User,
    stage: Stage,
    name: str,
    position: int | None = None,
    **data: Any,
) -> TouchPoint:
    require_role(actor, stage.organization_id, ROLES_THAT_EDIT_STRUCTURE)
    values = _touch_point_values({"name": name, **data})
    touch_point: TouchPoint = ordering.create(
        TOUCH_POINTS,
        actor=actor,
        organization_id=stage.organization_id,
        parent_id=stage.pk,
        position=position,
        values={"journey_id": stage.journey_id, **values},
    )
    return touch_point


@transaction.atomic
def update_touch_point(*, actor: User, touch_point: TouchPoint, data: dict[str, Any]) -> TouchPoint:
    require_role(actor, touch_point.organization_id, ROLES_THAT_EDIT_STRUCTURE)
    values = _touch_point_values(data)
    changes = audit_changes(touch_point, values)
    for name, value in values.items():
        setattr(touch_point, name, value)
    if changes:
        touch_point.save(update_fields=list(changes))
        record_audit(
            actor=actor,
            organization=touch_point.organization_id,
            action="update",
            obj=touch_point,
            changes=changes,
        )
        if SCORED_TOUCH_POINT_FIELDS.intersection(changes):
            _touch_point_changed(touch_point, "update")
    return touch_point


@transaction.atomic
def move_touch_point(
    *, actor: User, touch_point: TouchPoint, position: int, stage: Stage | None = None
) -> list[int]:
    """Move a touch point to `position` in its stage, or into another stage of its journey."""
    require_role(actor, touch_point.organization_id, ROLES_THAT_EDIT_STRUCTURE)
    if stage is None or stage.pk == touch_point.stage_id:
        return ordering.move(TOUCH_POINTS, actor=actor, item=touch_point, position=position)
    # Lock both stages in id order so two crossing moves cannot deadlock.
    for stage_id in sorted({touch_point.stage_id, stage.pk}):
        ordering.lock(Stage, stage_id)
    touch_point.refresh_from_db(fields=["position", "archived_at", "stage"])
    if touch_point.is_archived:
        raise ValidationError({"position": [conflict("Restore the touch point before moving it.")]})
    stage.refresh_from_db(fields=["archived_at"])
    if stage.journey_id != touch_point.journey_id or stage.is_archived:
        raise ValidationError({"stage": ["Choose an active stage of the same journey."]})
    old_position, old_stage = touch_point.position, touch_point.stage
    if stage.pk == old_stage.pk:  # it was moved there meanwhile: a move inside the stage
        return ordering.move(TOUCH_POINTS, actor=actor, item=touch_point, position=position)
    touch_point.stage = stage
    touch_point.position = TouchPoint.objects.filter(stage=stage, archived_at__isnull=True).count()
    touch_point.save(update_fields=["stage", "position"])
    order = ordering.insert(TouchPoint.objects.filter(stage=stage), touch_point.pk, position)
    ordering.close_gap(TouchPoint.objects.filter(stage_id=old_stage.pk))
    record_audit(
        actor=actor,
        organization=touch_point.organization_id,
        action="reorder",
        obj=touch_point,
        # Names, as the history shows them; the ids too, should a stage be renamed later.
        changes={
            "position": [old_position, order.index(touch_point.pk)],
            "stage": [old_stage.name, stage.name],
            "stage_id": [old_stage.pk, stage.pk],
        },
    )
    _touch_point_changed(touch_point, "reorder")
    return order


@transaction.atomic
def archive_touch_point(*, actor: User, touch_point: TouchPoint) -> TouchPoint:
    require_role(actor, touch_point.organization_id, ROLES_THAT_EDIT_STRUCTURE)
    return ordering.archive(TOUCH_POINTS, actor=actor, item=touch_point)  # type: ignore[no-any-return]


@transaction.atomic
def restore_touch_point(
    *, actor: User, touch_point: TouchPoint, position: int | None = None
) -> TouchPoint:
    require_role(actor, touch_point.organization_id, ROLES_THAT_EDIT_STRUCTURE)
    return ordering.restore(  # type: ignore[no-any-return]
        TOUCH_POINTS, actor=actor, item=touch_point, position=position
    )


@transaction.atomic
def delete_touch_point(*, actor: User, touch_point: TouchPoint) -> bool:
    """Delete a touch point nobody evaluated; archive one with evaluations. True if deleted."""
    require_role(actor, touch_point.organization_id, ROLES_THAT_EDIT_STRUCTURE)
    if Evaluation.objects.filter(touch_point_id=touch_point.pk).exists():
        archive_touch_point(actor=actor, touch_point=touch_point)
        return False
    ordering.remove(TOUCH_POINTS, actor=actor, item=touch_point)
    return True


# --- Criteria --------------------------------------------------------------------------------

CRITERION_TEXT_FIELDS = ("name", "description")
RUBRIC_FIELDS = (
    "kind",
    "scale_size",
    "scale_labels",
    "unit",
    "target_value",
    "worst_value",
    "weight",
    "critical",
)
MAX_SCALE_SIZE = 11

# Rubric and answer numbers are bounded so that nothing accepted can make scoring leave
# float8: PostgreSQL raises on overflow (a 1e308 target minus a -1e308 worst value) and on
# an underflow to 0 (5e-324 / 10), where Python quietly gives inf or 0. Within these
# bounds every answer score, weighted sum and mean stays far inside float8's range
# (tests/api/test_rubric_bounds.py scores evaluations at every extreme).
MIN_WEIGHT, MAX_WEIGHT = 0.001, 1000.0
MAX_MEASURE = 1e9  # a numeric criterion's target and worst value, either sign
# A non-zero measure or numeric answer must be at least this far from 0 (answers may be
# as large as any finite number: scoring compares them with the rubric before dividing).
MIN_MAGNITUDE = 1e-9


MEASURE_MESSAGE = (
    f"Must be a number from {-MAX_MEASURE:g} to {MAX_MEASURE:g}, "
    f"0 or at least {MIN_MAGNITUDE:g} away from 0."
)
ANSWER_MESSAGE = f"Must be 0 or at least {MIN_MAGNITUDE:g} away from 0."


def _within(value: float, limit: float) -> bool:
    """|value| <= limit, and either 0 or at least MIN_MAGNITUDE away from it."""
    return value == 0 or MIN_MAGNITUDE <= abs(value) <= limit


def _is_finite(value: int | float) -> bool:
    """math.isfinite, except that an int too large for a float is not finite (not a crash)."""
    try:
        return math.isfinite(value)
    except OverflowError:
        return False


def _finite_number(
    errors: dict[str, list[str]], name: str, value: Any, message: str
) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not _is_finite(value):
        errors.setdefault(name, []).append(message)
        return None
    return float(value)


def _rubric_values(data: dict[str, Any]) -> dict[str, Any]:
    """Validate a complete rubric (kind and everything that kind needs)."""
    errors: dict[str, list[str]] = {}
    kind = data.get("kind")
    if kind not in CriterionKind.values:
        raise ValidationError({"kind": [f"Kind must be one of {', '.join(CriterionKind.values)}."]})
    values: dict[str, Any] = {
        "kind": kind,
        "scale_size": None,
        "scale_labels": [],
        "unit": "",
        "target_value": None,
        "worst_value": None,
    }
    weight_message = f"Weight must be a number from {MIN_WEIGHT:g} to {MAX_WEIGHT:g}."
    weight = _finite_number(errors, "weight", data.get("weight", 1.0), weight_message)
    if weight is not None and not MIN_WEIGHT <= weight <= MAX_WEIGHT:
        errors.setdefault("weight", []).append(weight_message)
    values["weight"] = weight
    critical = data.get("critical", False)
    if not isinstance(critical, bool):
        errors["critical"] = ["Critical must be true or false."]
    values["critical"] = critical
    if kind == CriterionKind.SCALE:
        size = data.get("scale_size")
        if size is None:  # not given; 0 is a wrong size, not a missing one
            size = 5
        if isinstance(size, bool) or not isinstance(size, int) or not 2 <= size <= MAX_SCALE_SIZE:
            errors["scale_size"] = [
                f"Scale size must be a whole number from 2 to {MAX_SCALE_SIZE}."
            ]
            size = 5
        labels = data.get("scale_labels") or []
        if not isinstance(labels, list) or not all(isinstance(x, str) for x in labels):
            errors["scale_labels"] = ["Scale labels must be a list of texts."]
        elif labels and len(labels) != size:
            errors["scale_labels"] = [f"Give one label per scale point ({size}), or none."]
        else:
            labels = [clean_text(errors, "scale_labels", x, max_length=60) for x in labels]
        values["scale_size"] = size
        values["scale_labels"] = labels
    elif kind == CriterionKind.NUMERIC:
        target = _finite_number(
            errors,
            "target_value",
            data.get("target_value"),
            "A numeric criterion needs a target value.",
        )
        worst = _finite_number(
            errors,
            "worst_value",
            data.get("worst_value"),
            "A numeric criterion needs a worst value.",
        )
        for name, number in (("target_value", target), ("worst_value", worst)):
            if number is not None and not _within(number, MAX_MEASURE):
                errors.setdefault(name, []).append(MEASURE_MESSAGE)
        if target is not None and worst is not None and target == worst:
            errors["worst_value"] = ["The worst value must differ from the target."]
        values["target_value"], values["worst_value"] = target, worst
        values["unit"] = clean_text(errors, "unit", data.get("unit", ""), max_length=30)
    raise_if(errors)
    return values


def _new_version(criterion: Criterion, rubric: dict[str, Any]) -> CriterionVersion:
    number = 1 + max((v.number for v in criterion.versions.all()), default=0)
    version = CriterionVersion.objects.create(criterion=criterion, number=number, **rubric)
    criterion.current_version = version
    criterion.save(update_fields=["current_version"])
    return version


def _lock_touch_point(touch_point_id: int, action: str) -> None:
    if action == ordering.REORDER:
        # A new order changes no score: the weaker lock, which submissions do not wait for.
        ordering.lock(TouchPoint, touch_point_id)
    else:
        _lock_rubric(touch_point_id)


def _rubric_changed(criterion: Criterion, action: str) -> None:
    """The one place a touch point's rubric version moves: its set of active criteria or a
    criterion's rubric changed. Evaluations record the version they were made under. The
    touch point's breakdown (criteria means) is part of its scores: the map changed."""
    if action == ordering.REORDER:
        return
    TouchPoint.objects.filter(pk=criterion.touch_point_id).update(
        rubric_version=F("rubric_version") + 1
    )
    map_changed(
        journey_ids=TouchPoint.objects.filter(pk=criterion.touch_point_id).values_list(
            "journey_id", flat=True
        )
    )


CRITERIA = ordering.Ordered(
    model=Criterion, parent="touch_point", lock_parent=_lock_touch_point, changed=_rubric_changed
)


@transaction.atomic
def create_criterion(
    *,
    actor: User,
    touch_point: TouchPoint,
    name: str,
    kind: str,
    description: str = "",
    position: int | None = None,
    **rubric: Any,
) -> Criterion:
    require_role(actor, touch_point.organization_id, ROLES_THAT_EDIT_STRUCTURE)
    errors: dict[str, list[str]] = {}
    name = clean_text(errors, "name", name, max_length=200, required=True)
    description = clean_text(errors, "description", description, max_length=5000)
    unknown = set(rubric) - set(RUBRIC_FIELDS)
    if unknown:
        errors["__all__"] = [f"Unknown fields: {', '.join(sorted(unknown))}."]
    try:
        rubric_values = _rubric_values({"kind": kind, **rubric})
    except ValidationError as exc:
        for key, messages in exc.message_dict.items():
            errors.setdefault(key, []).extend(messages)
    raise_if(errors)
    criterion: Criterion = ordering.create(
        CRITERIA,
        actor=actor,
        organization_id=touch_point.organization_id,
        parent_id=touch_point.pk,
        position=position,
        values={"name": name, "description": description},
        prepare=lambda created: _new_version(created, rubric_values),
    )
    return criterion


@transaction.atomic
def update_criterion(*, actor: User, criterion: Criterion, data: dict[str, Any]) -> Criterion:
    """Rename or re-describe in place; a rubric change makes a new version.

    Answers keep pointing at the version they were given under, so a new scale or weight
    never changes what earlier answers mean. An unanswered version is simply replaced.
    """
    require_role(actor, criterion.organization_id, ROLES_THAT_EDIT_STRUCTURE)
    errors: dict[str, list[str]] = {}
    unknown = set(data) - set(CRITERION_TEXT_FIELDS) - set(RUBRIC_FIELDS)
    if unknown:
        raise ValidationError({"__all__": [f"Unknown fields: {', '.join(sorted(unknown))}."]})
    _lock_rubric(criterion.touch_point_id)
    criterion = Criterion.objects.select_related("current_version").get(pk=criterion.pk)
    changes: dict[str, Any] = {}
    for text_field in CRITERION_TEXT_FIELDS:
        if text_field in data:
            value = clean_text(
                errors,
                text_field,
                data[text_field],
                max_length=200 if text_field == "name" else 5000,
                required=text_field == "name",
            )
            if value != getattr(criterion, text_field):
                changes[text_field] = [getattr(criterion, text_field), value]
                setattr(criterion, text_field, value)
    current = criterion.rubric
    rubric_data = {f: getattr(current, f) for f in RUBRIC_FIELDS}
    rubric_data.update({k: v for k, v in data.items() if k in RUBRIC_FIELDS})
    if "kind" in data and data["kind"] != current.kind:
        # A new kind starts from that kind's defaults, not the old kind's leftovers.
        for key in ("scale_size", "scale_labels", "target_value", "worst_value", "unit"):
            rubric_data[key] = data.get(key)
    try:
        rubric = _rubric_values(rubric_data)
    except ValidationError as exc:
        for key, messages in exc.message_dict.items():
            errors.setdefault(key, []).extend(messages)
        rubric = {}
    raise_if(errors)
    rubric_changes = audit_changes(current, rubric)
    if changes:
        criterion.save(update_fields=[k for k in CRITERION_TEXT_FIELDS if k in changes])
    if rubric_changes:
        if current.answers.exists():
            _new_version(criterion, rubric)
        else:
            # No answer needs the old rubric, but the touch point's rubric did change:
            # evaluations that left this criterion out were made under the old one.
            for key, value in rubric.items():
                setattr(current, key, value)
            current.save()
        _rubric_changed(criterion, "update")
        changes.update(rubric_changes)
    if changes:
        record_audit(
            actor=actor,
            organization=criterion.organization_id,
            action="update",
            obj=criterion,
            changes=changes,
        )
    return criterion


@transaction.atomic
def move_criterion(*, actor: User, criterion: Criterion, position: int) -> list[int]:
    require_role(actor, criterion.organization_id, ROLES_THAT_EDIT_STRUCTURE)
    return ordering.move(CRITERIA, actor=actor, item=criterion, position=position)


@transaction.atomic
def archive_criterion(*, actor: User, criterion: Criterion) -> Criterion:
    require_role(actor, criterion.organization_id, ROLES_THAT_EDIT_STRUCTURE)
    return ordering.archive(CRITERIA, actor=actor, item=criterion)  # type: ignore[no-any-return]


@transaction.atomic
def restore_criterion(
    *, actor: User, criterion: Criterion, position: int | None = None
) -> Criterion:
    require_role(actor, criterion.organization_id, ROLES_THAT_EDIT_STRUCTURE)
    return ordering.restore(  # type: ignore[no-any-return]
        CRITERIA, actor=actor, item=criterion, position=position
    )


def _delete_criterion_row(criterion: Criterion) -> None:
    """A criterion and its versions point at each other: unhook, then delete both."""
    Criterion.objects.filter(pk=criterion.pk).update(current_version=None)
    criterion.versions.all().delete()
    Criterion.objects.filter(pk=criterion.pk).delete()


@transaction.atomic
def delete_criterion(*, actor: User, criterion: Criterion) -> bool:
    """Delete an unanswered criterion; archive an answered one. True if deleted."""
    require_role(actor, criterion.organization_id, ROLES_THAT_EDIT_STRUCTURE)
    if Answer.objects.filter(criterion_id=criterion.pk).exists():
        archive_criterion(actor=actor, criterion=criterion)
        return False
    ordering.remove(CRITERIA, actor=actor, item=criterion, delete=_delete_criterion_row)
    return True


# --- Sites ---------------------------------------------------------------------------------------


@transaction.atomic
def create_site(*, actor: User, organization: Organization, name: str, code: str = "") -> Site:
    require_role(actor, organization, ROLES_THAT_EDIT_STRUCTURE)
    errors: dict[str, list[str]] = {}
    name = clean_text(errors, "name", name, max_length=200, required=True)
    code = clean_text(errors, "code", code, max_length=40)
    if not errors and Site.objects.for_organization(organization).filter(name=name).exists():
        raise ValidationError({"name": [conflict(f"There is already a site called {name!r}.")]})
    raise_if(errors)
    try:
        with transaction.atomic():
            site = Site.objects.create(organization=organization, name=name, code=code)
    except IntegrityError:
        # A concurrent creation took the name between the check and the insert.
        raise ValidationError(
            {"name": [conflict(f"There is already a site called {name!r}.")]}
        ) from None
    record_audit(actor=actor, organization=organization, action="create", obj=site)
    return site


SITE_FIELDS = ("name", "code")


@transaction.atomic
def update_site(*, actor: User, site: Site, data: dict[str, Any]) -> Site:
    """Rename or re-code a site; its evaluations keep pointing at it."""
    require_role(actor, site.organization_id, ROLES_THAT_EDIT_STRUCTURE)
    errors: dict[str, list[str]] = {}
    unknown = set(data) - set(SITE_FIELDS)
    if unknown:
        errors["__all__"] = [f"Unknown fields: {', '.join(sorted(unknown))}."]
    values: dict[str, Any] = {}
    if "name" in data:
        values["name"] = clean_text(errors, "name", data["name"], max_length=200, required=True)
    if "code" in data:
        values["code"] = clean_text(errors, "code", data["code"], max_length=40)
    name = values.get("name")
    if (
        not errors
        and name is not None
        and Site.objects.for_organization(site.organization_id)
        .filter(name=name)
        .exclude(pk=site.pk)
        .exists()
    ):
        raise ValidationError({"name": [conflict(f"There is already a site called {name!r}.")]})
    raise_if(errors)
    changes = audit_changes(site, values)
    if changes:
        for key in changes:
            setattr(site, key, values[key])
        try:
            with transaction.atomic():
                site.save(update_fields=list(changes))
        except IntegrityError:
            # A concurrent rename or creation took the name between the check and the save.
            raise ValidationError(
                {"name": [conflict(f"There is already a site called {site.name!r}.")]}
            ) from None
        record_audit(
            actor=actor,
            organization=site.organization_id,
            action="update",
            obj=site,
            changes=changes,
        )
    return site


@transaction.atomic
def archive_site(*, actor: User, site: Site) -> Site:
    """Take a site out of use: it takes no new evaluations; old ones keep it."""
    require_role(actor, site.organization_id, ROLES_THAT_EDIT_STRUCTURE)
    site = Site.objects.select_for_update(no_key=True).get(pk=site.pk)
    if site.archived_at is None:
        site.archived_at = timezone.now()
        site.save(update_fields=["archived_at"])
        record_audit(actor=actor, organization=site.organization_id, action="archive", obj=site)
    return site


@transaction.atomic
def restore_site(*, actor: User, site: Site) -> Site:
    require_role(actor, site.organization_id, ROLES_THAT_EDIT_STRUCTURE)
    site = Site.objects.select_for_update(no_key=True).get(pk=site.pk)
    if site.archived_at is not None:
        site.archived_at = None
        site.save(update_fields=["archived_at"])
        record_audit(actor=actor, organization=site.organization_id, action="restore", obj=site)
    return site


# --- Evaluations ---------------------------------------------------------------------------------

MAX_BATCH = 500
OBSERVED_AT_EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
CLIENT_KEY_MAX_LENGTH = 200


@dataclass(frozen=True)
class AnswerInput:
    """One answer as a caller hands it over, not yet judged: the criterion's id and a
    number, or None for "not applicable". `submit_evaluations` checks type and meaning
    together (one set of messages for every entry point), so the fields are `object`:
    mypy refuses any use of them that the validator has not narrowed first."""

    criterion_id: object
    value: object


@dataclass(frozen=True)
class EvaluationInput:
    """An evaluation as a caller hands it over (the API's serializers, the browser form,
    CSV import, feedback links, demo data), not yet judged; see AnswerInput."""

    touch_point_id: object
    source: object
    observed_at: object
    answers: Sequence[AnswerInput] = field(default_factory=tuple)
    site_id: object = None
    comment: object = ""
    client_key: object = None


@dataclass(frozen=True, slots=True)
class ValidAnswer:
    """An answer the validator accepted: an active criterion of the touch point, the rubric
    version it is scored under, and a value that fits that rubric's kind (a whole number
    1..size for a scale, 0 or 1 for yes/no, a bounded number for numeric), or None."""

    criterion_id: int
    version_id: int
    value: float | None


@dataclass(frozen=True, slots=True)
class ValidEvaluation:
    """An evaluation the validator accepted (_validate_item): what storing it may rely on."""

    touch_point: TouchPoint
    source: str  # one of Source.values
    observed_at: datetime  # aware, 1970 to now (plus the allowed clock skew)
    answers: tuple[ValidAnswer, ...]
    site_id: int | None  # an active site of the organization
    comment: str
    client_key: str | None  # well-formed; uniqueness is checked across the batch


class BatchValidationError(ValidationError):
    """A batch was refused: `item_errors` maps each bad item's index to its field errors."""

    def __init__(self, item_errors: dict[int, dict[str, list[str]]]):
        self.item_errors = item_errors
        super().__init__(
            {
                f"items[{index}].{name}": messages
                for index, errors in item_errors.items()
                for name, messages in errors.items()
            }
        )


def _is_id(value: object) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool) and 0 < value < 2**63


def _is_client_key(value: object) -> TypeGuard[str]:
    return isinstance(value, str) and 0 < len(value) <= CLIENT_KEY_MAX_LENGTH and is_storable(value)


def _check_value(version: CriterionVersion, value: object) -> float | str | None:
    """The value as stored (a float, or None for not applicable) if it fits this rubric;
    otherwise why it does not (a str)."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        return "Must be a number, or null for not applicable."
    if not _is_finite(value):
        return "Must be a finite number."
    if version.kind == CriterionKind.SCALE:
        size = version.scale_size or 5
        if value != int(value) or not 1 <= value <= size:
            return f"Must be a whole number from 1 to {size}."
    elif version.kind == CriterionKind.YES_NO and value not in (0, 1):
        return "Must be 1 (yes) or 0 (no)."
    elif version.kind == CriterionKind.NUMERIC and not _within(value, math.inf):
        return ANSWER_MESSAGE
    return float(value)


def _validate_item(
    item: EvaluationInput,
    *,
    touch_points: dict[int, TouchPoint],
    criteria: dict[int, list[Criterion]],
    sites: dict[int, Site],
    now: datetime,
) -> ValidEvaluation | dict[str, list[str]]:
    """The item as a ValidEvaluation, or every problem it has by field."""
    errors: dict[str, list[str]] = {}

    def add(name: str, message: str) -> None:
        errors.setdefault(name, []).append(message)

    touch_point = touch_points.get(item.touch_point_id) if _is_id(item.touch_point_id) else None
    if touch_point is None:
        add("touch_point", "No such touch point.")
    elif not touch_point.is_on_map:
        add("touch_point", "This touch point is archived and takes no new evaluations.")
    elif touch_point.journey.status == JourneyStatus.ARCHIVED:
        add("touch_point", "This journey is archived and takes no new evaluations.")
    source = item.source if isinstance(item.source, str) else None
    if source not in Source.values:
        add("source", f"Source must be one of {', '.join(Source.values)}.")
    observed_at = item.observed_at if isinstance(item.observed_at, datetime) else None
    if observed_at is None:
        add("observed_at", "Give the date and time of the observation.")
    elif timezone.is_naive(observed_at):
        add("observed_at", "Give the time with its time zone (e.g. 2026-05-01T14:30:00+02:00).")
    elif observed_at > now + OBSERVED_AT_CLOCK_SKEW:
        add("observed_at", "The observation cannot be in the future.")
    elif observed_at < OBSERVED_AT_EARLIEST:
        add("observed_at", "The observation cannot be before 1970.")
    site_id = item.site_id
    if site_id is None:
        pass
    elif not _is_id(site_id) or site_id not in sites:
        add("site", "No such site.")
    elif sites[site_id].archived_at is not None:
        add("site", "This site is archived and takes no new evaluations.")
    comment = item.comment if item.comment is not None else ""
    if not isinstance(comment, str):
        add("comment", "Must be text.")
    else:
        for problem in text_problems(comment, max_length=COMMENT_MAX_LENGTH):
            add("comment", problem)
    client_key = item.client_key
    if client_key is not None and not _is_client_key(client_key):
        add("client_key", f"Must be text of 1 to {CLIENT_KEY_MAX_LENGTH} characters.")

    if touch_point is None:
        return errors
    active = {c.pk: c for c in criteria.get(touch_point.pk, [])}
    if not active:
        add("answers", "This touch point has no criteria to evaluate yet.")
        return errors
    answers: list[ValidAnswer] = []
    answered: dict[int, object] = {}  # as given, valid or not
    if not isinstance(item.answers, list | tuple):
        add("answers", "Must be a list of answers.")
        return errors
    for i, answer in enumerate(item.answers):
        criterion_id = answer.criterion_id
        criterion = active.get(criterion_id) if _is_id(criterion_id) else None
        if criterion is None or not _is_id(criterion_id):
            add(f"answers[{i}].criterion", "Not an active criterion of this touch point.")
            continue
        if criterion_id in answered:
            add(f"answers[{i}].criterion", f"{criterion.name!r} is answered more than once.")
            continue
        answered[criterion_id] = answer.value
        value = _check_value(criterion.rubric, answer.value)
        if isinstance(value, str):
            add(f"answers[{i}].value", f"{criterion.name}: {value}")
        else:
            answers.append(ValidAnswer(criterion_id, criterion.rubric.pk, value))
    for criterion in active.values():
        if criterion.rubric.critical and answered.get(criterion.pk) is None:
            add(
                "answers",
                f"{criterion.name!r} is critical and must be answered (not applicable is not allowed).",
            )
    if errors or source is None or observed_at is None or not isinstance(comment, str):
        return errors
    return ValidEvaluation(
        touch_point=touch_point,
        source=source,
        observed_at=observed_at,
        answers=tuple(answers),
        site_id=site_id if _is_id(site_id) else None,
        comment=comment,
        client_key=client_key if _is_client_key(client_key) else None,
    )


def _lock_rubric(touch_point_id: int) -> None:
    """FOR UPDATE on the touch point whose rubric (its criteria, their versions, which are
    active) is about to change, until the transaction ends. It waits for submissions in
    flight on that touch point (they hold it FOR KEY SHARE, see _lock_rubrics) and they
    wait for it. Reorders take the weaker FOR NO KEY UPDATE (ordering.lock), which
    submissions do not wait for: a new order changes no score."""
    TouchPoint.objects.select_for_update().only("pk").get(pk=touch_point_id)


_TOUCH_POINT_FIELDS = [f.attname for f in TouchPoint._meta.concrete_fields]
_CRITERION_FIELDS = [f.attname for f in Criterion._meta.concrete_fields]
_VERSION_FIELDS = [f.attname for f in CriterionVersion._meta.concrete_fields]
_SITE_FIELDS = [f.attname for f in Site._meta.concrete_fields]


def _columns(alias: str, model: type[Any]) -> str:
    return ", ".join(f"{alias}.{f.column}" for f in model._meta.concrete_fields)


# Three statements, one round trip (Django binds parameters on the client, so PostgreSQL
# takes them as one query and runs them in order). The criteria and sites statements
# start after the lock is granted, each with a snapshot of its own, so they see every
# rubric edit committed before it: as new as the lock, as if sent separately.
_LOCK_RUBRICS_SQL = f"""
    SELECT {_columns("tp", TouchPoint)}, s.archived_at, j.status
    FROM {TouchPoint._meta.db_table} tp
    JOIN {Stage._meta.db_table} s ON s.id = tp.stage_id
    JOIN {Journey._meta.db_table} j ON j.id = tp.journey_id
    WHERE tp.id = ANY(%s) AND tp.organization_id = %s
    ORDER BY tp.id
    FOR KEY SHARE OF tp;
    SELECT {_columns("c", Criterion)}, {_columns("cv", CriterionVersion)}
    FROM {Criterion._meta.db_table} c
    JOIN {TouchPoint._meta.db_table} tp ON tp.id = c.touch_point_id
    LEFT JOIN {CriterionVersion._meta.db_table} cv ON cv.id = c.current_version_id
    WHERE c.touch_point_id = ANY(%s) AND tp.organization_id = %s AND c.archived_at IS NULL
    ORDER BY c.position, c.id;
    SELECT {_columns("st", Site)}
    FROM {Site._meta.db_table} st
    WHERE st.id = ANY(%s) AND st.organization_id = %s
"""  # noqa: S608 (model table and column names, values as parameters)


@dataclass(frozen=True)
class _Locked:
    touch_points: dict[int, TouchPoint]
    criteria: dict[int, list[Criterion]]  # active, by touch point, in position order
    sites: dict[int, Site]


def _lock_rubrics(
    organization: Organization, touch_point_ids: set[int], site_ids: set[int]
) -> _Locked:
    """FOR KEY SHARE on the touch points, in id order, until the caller's transaction ends;
    returns them by id as read under the lock, each with its stage's archived_at and its
    journey's status (the rest of those two loads only if read), their active criteria
    with current versions, and the organization's sites among `site_ids`.

    Rubric edits hold these rows FOR UPDATE (_lock_rubric), so a rubric cannot change
    between the moment a submission reads the current versions and the moment its
    answers under them commit: otherwise an edit that still saw a version unanswered
    would rewrite it in place under answers already scored by the old rubric. Concurrent
    submissions share the lock, and reorders (FOR NO KEY UPDATE) do not block them. A
    locked row is returned as the lock found it (its newest version, rubric_version
    included); the criteria are read after, in a statement of their own, so they are as
    new as the lock. Plain statements in one round trip: the ORM would build them at more
    cost than PostgreSQL runs them, and every evaluation takes this path.
    """
    if not touch_point_ids and not site_ids:
        return _Locked({}, {}, {})
    org, tps = organization.pk, sorted(touch_point_ids)
    with connection.cursor() as cursor:
        cursor.execute(_LOCK_RUBRICS_SQL, [tps, org, tps, org, sorted(site_ids), org])
        rows = cursor.fetchall()
        cursor.nextset()
        criterion_rows = cursor.fetchall()
        cursor.nextset()
        site_rows = cursor.fetchall()
    alias, count = connection.alias, len(_TOUCH_POINT_FIELDS)
    touch_points = {}
    for row in rows:
        touch_point = TouchPoint.from_db(alias, _TOUCH_POINT_FIELDS, row[:count])
        stage_archived_at, journey_status = row[count:]
        touch_point.stage = Stage.from_db(
            alias, ["id", "archived_at"], [touch_point.stage_id, stage_archived_at]
        )
        touch_point.journey = Journey.from_db(
            alias, ["id", "status"], [touch_point.journey_id, journey_status]
        )
        touch_points[touch_point.pk] = touch_point
    criteria: dict[int, list[Criterion]] = {}
    count = len(_CRITERION_FIELDS)
    for row in criterion_rows:
        criterion = Criterion.from_db(alias, _CRITERION_FIELDS, row[:count])
        # As select_related("current_version") would: the version, or None.
        criterion.current_version = (
            CriterionVersion.from_db(alias, _VERSION_FIELDS, row[count:])
            if row[count] is not None
            else None
        )
        criteria.setdefault(criterion.touch_point_id, []).append(criterion)
    sites = {site.pk: site for site in (Site.from_db(alias, _SITE_FIELDS, r) for r in site_rows)}
    return _Locked(touch_points, criteria, sites)


@transaction.atomic
def submit_evaluations(
    *,
    evaluator: User | None,
    organization: Organization,
    items: Sequence[EvaluationInput],
    also_store: Callable[[list[Evaluation]], object] | None = None,
) -> list[Evaluation]:
    """Store a batch of evaluations, all or none, and queue their touch points' recompute.

    Every problem in every item is reported at once (BatchValidationError); nothing is
    stored unless all items are valid. Items come in as given (EvaluationInput, fields
    `object`); _validate_item narrows each to a ValidEvaluation, and only those are
    stored, so mypy refuses a write that relies on a check nobody made. Each answer is scored under, and points to, the
    criterion's rubric version current when the submission reads it (_lock_rubrics).

    `evaluator=None` is a customer answering through a feedback link, nobody signed in:
    the caller (feedback.services) has already checked the link, and every item must be a
    customer survey. Everything else (touch point, answers, rubric pinning, scoring, the
    recompute) is the same path as staff entries take.

    `also_store` is called with the stored evaluations inside this transaction, for rows
    a caller keeps beside them (feedback: the link a response came through): they commit
    or roll back together, without the caller's own transaction around this one.
    """
    if not 1 <= len(items) <= MAX_BATCH:
        raise ValidationError({"items": [f"Send between 1 and {MAX_BATCH} evaluations at a time."]})
    if evaluator is None:
        if any(i.source != Source.CUSTOMER_SURVEY for i in items):
            raise ValidationError(
                {"source": ["Only customer survey responses are stored without a user."]}
            )
    else:
        membership = membership_for(evaluator, organization)
        if membership is None or not membership.can_evaluate:
            raise ValidationError(
                {
                    "evaluator": [
                        "You must be a manager or evaluator of this organization to evaluate."
                    ]
                }
            )
    now = timezone.now()
    locked = _lock_rubrics(
        organization,
        {i.touch_point_id for i in items if _is_id(i.touch_point_id)},
        {i.site_id for i in items if _is_id(i.site_id)},
    )
    touch_points, criteria, sites = locked.touch_points, locked.criteria, locked.sites

    item_errors: dict[int, dict[str, list[str]]] = {}
    valid: list[ValidEvaluation] = []
    for index, item in enumerate(items):
        checked = _validate_item(
            item, touch_points=touch_points, criteria=criteria, sites=sites, now=now
        )
        if isinstance(checked, ValidEvaluation):
            valid.append(checked)
        else:
            item_errors[index] = checked
    keys = [i.client_key for i in items if _is_client_key(i.client_key)]
    for index, errors in _client_key_errors(organization, items).items():
        item_errors.setdefault(index, {}).update(errors)
    if item_errors:
        raise BatchValidationError(item_errors)
    # From here on only what the validator narrowed is used: every item is valid.

    # A savepoint only where a client key can collide: it lets the caller's transaction go
    # on after that refusal. Any other integrity error fails the whole submission anyway.
    savepoint = transaction.atomic() if keys else nullcontext()
    try:
        # Every write below that returns nothing travels with the next one that does (or
        # at the block's end), instead of one round trip each (core.write_batch).
        with savepoint, batched_writes():
            evaluations = [
                Evaluation(
                    organization=organization,
                    journey_id=v.touch_point.journey_id,
                    touch_point_id=v.touch_point.pk,
                    evaluator=evaluator,
                    source=v.source,
                    site_id=v.site_id,
                    # In UTC: PostgreSQL refuses offsets beyond ±15:59 that Python allows.
                    observed_at=v.observed_at.astimezone(UTC),
                    submitted_at=now,
                    comment=v.comment.strip(),
                    client_key=v.client_key,
                    rubric_version=v.touch_point.rubric_version,
                )
                for v in valid
            ]
            # The evaluations with their answers and scores, in one statement.
            insert_scored_evaluations(
                evaluations,
                [[(a.criterion_id, a.version_id, a.value) for a in v.answers] for v in valid],
            )
            evaluation_ids = [e.pk for e in evaluations]
            critical = {c.pk for rows in criteria.values() for c in rows if c.rubric.critical}
            if any(a.criterion_id in critical for v in valid for a in v.answers):
                record_critical_failures(evaluation_ids)  # none without a critical answer
            if also_store is not None:
                also_store(evaluations)
            # Scoring's rollups and stale marks, in this transaction (touchpoints.hooks).
            evaluations_stored(
                evaluation_ids=evaluation_ids,
                touch_point_ids=sorted({v.touch_point.pk for v in valid}),
            )
    except IntegrityError as exc:
        # A concurrent submission took a client key between our check and our insert: the
        # same refusal, naming the same items, as had it been taken before the check.
        if "evaluation_client_key_unique" in str(exc) and (
            taken := _client_key_errors(organization, items)
        ):
            raise BatchValidationError(taken) from None
        raise
    return evaluations


KEY_TAKEN = "An evaluation with this client key was already submitted."


def _client_key_errors(
    organization: Organization, items: Sequence[EvaluationInput]
) -> dict[int, dict[str, list[str]]]:
    """The items whose client key the organization already has, or that an earlier item
    of the same submission carries: one refusal and one message for both, since either
    way the key names another evaluation (docs/import-evaluations.md: unique per
    evaluation within the organization). Only well-formed keys go to the database (one
    with a NUL would make it raise); a malformed one already has its own error."""
    keys = [i.client_key for i in items if _is_client_key(i.client_key)]
    if not keys:
        # Nothing to look up (every feedback answer, most staff entries): building the
        # queryset that PostgreSQL would never see cost more CPU than the page's own query.
        return {}
    taken = set(
        Evaluation.objects.for_organization(organization)
        .filter(client_key__in=keys)
        .values_list("client_key", flat=True)
    )
    errors: dict[int, dict[str, list[str]]] = {}
    seen: set[str] = set()
    for index, item in enumerate(items):
        key = item.client_key
        if not _is_client_key(key):
            continue
        if key in taken or key in seen:
            errors[index] = {"client_key": [KEY_TAKEN]}
        seen.add(key)
    return errors


def submit_evaluation(
    *,
    evaluator: User | None,
    organization: Organization,
    touch_point_id: int,
    source: str,
    observed_at: datetime,
    answers: Sequence[AnswerInput],
    site_id: int | None = None,
    comment: str = "",
    client_key: str | None = None,
    also_store: Callable[[list[Evaluation]], object] | None = None,
) -> Evaluation:
    """Store one evaluation; on a refusal the ValidationError names each bad field."""
    item = EvaluationInput(
        touch_point_id=touch_point_id,
        source=source,
        observed_at=observed_at,
        answers=tuple(answers),
        site_id=site_id,
        comment=comment,
        client_key=client_key,
    )
    try:
        return submit_evaluations(
            evaluator=evaluator, organization=organization, items=[item], also_store=also_store
        )[0]
    except BatchValidationError as exc:
        raise ValidationError(exc.item_errors[0]) from None
