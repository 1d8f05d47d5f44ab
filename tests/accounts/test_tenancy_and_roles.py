"""Tenancy and roles: rows are scoped to an organization through one entry point, only
members with the right role get through accounts.access, and every structure service
refuses viewers, evaluators and outsiders without changing anything."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest
from django.apps import apps
from django.contrib.auth.models import AnonymousUser
from django.core.exceptions import PermissionDenied
from django.utils import timezone

from accounts.access import membership_for, organizations_for, require_role
from accounts.models import (
    ROLES_THAT_EDIT_STRUCTURE,
    ROLES_THAT_EVALUATE,
    AuditEvent,
    Membership,
    Organization,
    Role,
)
from accounts.services import record_audit
from journeys.models import Journey, Stage
from journeys.services import (
    archive_stage,
    create_journey,
    create_stage,
    delete_journey,
    delete_stage,
    move_stage,
    restore_stage,
    update_journey,
    update_stage,
)
from scoring.models import StaleMark
from tests.factories import (
    CriterionFactory,
    EvaluationFactory,
    JourneyFactory,
    SiteFactory,
    StageFactory,
    TouchPointFactory,
)
from touchpoints.models import Criterion, CriterionVersion, Evaluation, Site, TouchPoint
from touchpoints.services import (
    archive_criterion,
    archive_touch_point,
    create_criterion,
    create_site,
    create_touch_point,
    delete_criterion,
    delete_touch_point,
    move_criterion,
    move_touch_point,
    restore_criterion,
    restore_touch_point,
    update_criterion,
    update_touch_point,
)

# --- One scoping entry point -------------------------------------------------------------------


def tenant_models() -> list[Any]:
    """Every model that belongs to an organization, except Membership (the access point
    itself)."""
    return [
        model
        for model in apps.get_models()
        if model is not Membership
        and any(
            getattr(field, "related_model", None) is Organization and field.name == "organization"
            for field in model._meta.concrete_fields
        )
    ]


def test_every_tenant_model_is_scoped_through_for_organization() -> None:
    models = tenant_models()

    assert {Journey, Stage, TouchPoint, Criterion, Site, Evaluation, AuditEvent} <= set(models)
    for model in models:
        assert hasattr(model._default_manager, "for_organization"), model.__name__


def populate(organization: Organization, actor: Any) -> None:
    """A little of everything in one organization."""
    criterion = CriterionFactory(touch_point__stage__journey__organization=organization)
    SiteFactory(organization=organization)
    EvaluationFactory(touch_point=criterion.touch_point)
    record_audit(actor=actor, organization=organization, action="create", obj=criterion)


@pytest.mark.parametrize(
    "model",
    [Journey, Stage, TouchPoint, Criterion, Site, Evaluation, AuditEvent],
    ids=lambda m: m.__name__,
)
def test_for_organization_returns_only_that_organizations_rows(personas: Any, model: Any) -> None:
    populate(personas.org, personas.manager)
    populate(personas.other_org, personas.outsider)
    ours = set(model.objects.filter(organization=personas.org).values_list("pk", flat=True))
    theirs = set(model.objects.filter(organization=personas.other_org).values_list("pk", flat=True))
    assert ours and theirs

    assert set(model.objects.for_organization(personas.org).values_list("pk", flat=True)) == ours
    assert set(model.objects.for_organization(personas.org.pk).values_list("pk", flat=True)) == ours
    assert (
        set(model.objects.for_organization(personas.other_org).values_list("pk", flat=True))
        == theirs
    )
    assert (
        set(model.objects.for_organizations([personas.org.pk]).values_list("pk", flat=True)) == ours
    )


def test_every_tenant_model_scopes_by_its_organization_column(personas: Any) -> None:
    populate(personas.org, personas.manager)
    populate(personas.other_org, personas.outsider)

    for model in tenant_models():
        rows = model._default_manager.for_organization(personas.org)
        assert set(rows.values_list("organization_id", flat=True)) <= {personas.org.pk}


# --- accounts.access ---------------------------------------------------------------------------


@pytest.mark.parametrize("role", [Role.MANAGER, Role.EVALUATOR, Role.VIEWER])
def test_membership_for_returns_the_members_role(personas: Any, role: Role) -> None:
    user = getattr(personas, role.value)

    membership = membership_for(user, personas.org)

    assert membership is not None
    assert membership.role == role
    assert membership_for(user, personas.org.pk) == membership


def test_membership_for_an_organization_one_does_not_belong_to_is_none(personas: Any) -> None:
    assert membership_for(personas.outsider, personas.org) is None
    assert membership_for(personas.manager, personas.other_org) is None


def test_an_inactive_or_anonymous_user_has_no_membership(personas: Any) -> None:
    personas.manager.is_active = False
    personas.manager.save(update_fields=["is_active"])

    assert membership_for(personas.manager, personas.org) is None
    assert membership_for(AnonymousUser(), personas.org) is None  # type: ignore[arg-type]
    assert list(organizations_for(personas.manager)) == []
    assert list(organizations_for(AnonymousUser())) == []  # type: ignore[arg-type]


def test_organizations_for_lists_only_the_users_own(personas: Any) -> None:
    assert list(organizations_for(personas.viewer)) == [personas.org]
    assert list(organizations_for(personas.outsider)) == [personas.other_org]


@pytest.mark.parametrize(
    ("who", "roles", "allowed"),
    [
        ("manager", ROLES_THAT_EDIT_STRUCTURE, True),
        ("evaluator", ROLES_THAT_EDIT_STRUCTURE, False),
        ("viewer", ROLES_THAT_EDIT_STRUCTURE, False),
        ("outsider", ROLES_THAT_EDIT_STRUCTURE, False),
        ("manager", ROLES_THAT_EVALUATE, True),
        ("evaluator", ROLES_THAT_EVALUATE, True),
        ("viewer", ROLES_THAT_EVALUATE, False),
        ("outsider", ROLES_THAT_EVALUATE, False),
        ("viewer", {Role.VIEWER}, True),
        ("manager", set(), False),
    ],
)
def test_require_role_lets_only_the_named_roles_of_the_organization_through(
    personas: Any, who: str, roles: Any, allowed: bool
) -> None:
    user = getattr(personas, who)

    if allowed:
        assert require_role(user, personas.org, roles).user == user
    else:
        with pytest.raises(PermissionDenied):
            require_role(user, personas.org, roles)


def test_require_role_refuses_inactive_and_anonymous_users(personas: Any) -> None:
    personas.manager.is_active = False
    personas.manager.save(update_fields=["is_active"])

    with pytest.raises(PermissionDenied):
        require_role(personas.manager, personas.org, ROLES_THAT_EDIT_STRUCTURE)
    with pytest.raises(PermissionDenied):
        require_role(AnonymousUser(), personas.org, Role.values)  # type: ignore[arg-type]


def test_the_outsider_manages_their_own_organization_only(personas: Any) -> None:
    assert require_role(personas.outsider, personas.other_org, ROLES_THAT_EDIT_STRUCTURE)
    with pytest.raises(PermissionDenied):
        require_role(personas.outsider, personas.org, ROLES_THAT_EDIT_STRUCTURE)


# --- Every structure service refuses all but managers ------------------------------------------


@dataclass
class World:
    """A journey of personas.org with something of every kind to create, edit, move,
    archive, restore and delete."""

    org: Organization
    journey: Journey
    stage: Stage
    spare_stage: Stage
    archived_stage: Stage
    touch_point: TouchPoint
    archived_touch_point: TouchPoint
    criterion: Criterion
    archived_criterion: Criterion


@pytest.fixture
def world(personas: Any) -> World:
    archived = {"archived_at": timezone.now() - timedelta(days=1), "position": None}
    journey = JourneyFactory(organization=personas.org)
    stage = StageFactory(journey=journey)
    spare_stage = StageFactory(journey=journey)
    touch_point = TouchPointFactory(stage=stage)
    TouchPointFactory(stage=stage)
    criterion = CriterionFactory(touch_point=touch_point)
    CriterionFactory(touch_point=touch_point)
    return World(
        org=personas.org,
        journey=journey,
        stage=stage,
        spare_stage=spare_stage,
        archived_stage=StageFactory(journey=journey, **archived),
        touch_point=touch_point,
        archived_touch_point=TouchPointFactory(stage=stage, **archived),
        criterion=criterion,
        archived_criterion=CriterionFactory(touch_point=touch_point, **archived),
    )


@dataclass(frozen=True)
class Call:
    """A structure service called with valid arguments, and the audit row it writes."""

    name: str
    run: Callable[[Any, World], Any]
    action: str
    object_type: str


CALLS = [
    Call(
        "create_journey",
        lambda a, w: create_journey(actor=a, organization=w.org, name="Pay a bill"),
        "create",
        "journey",
    ),
    Call(
        "update_journey",
        lambda a, w: update_journey(actor=a, journey=w.journey, data={"target": 90.0}),
        "update",
        "journey",
    ),
    Call(
        "delete_journey",
        lambda a, w: delete_journey(actor=a, journey=w.journey),
        "delete",
        "journey",
    ),
    Call(
        "create_stage",
        lambda a, w: create_stage(actor=a, journey=w.journey, name="Renew", position=0),
        "create",
        "stage",
    ),
    Call(
        "update_stage",
        lambda a, w: update_stage(actor=a, stage=w.stage, data={"name": "Sign up"}),
        "update",
        "stage",
    ),
    Call(
        "move_stage",
        lambda a, w: move_stage(actor=a, stage=w.stage, position=1),
        "reorder",
        "stage",
    ),
    Call(
        "archive_stage",
        lambda a, w: archive_stage(actor=a, stage=w.stage),
        "archive",
        "stage",
    ),
    Call(
        "restore_stage",
        lambda a, w: restore_stage(actor=a, stage=w.archived_stage),
        "restore",
        "stage",
    ),
    Call(
        "delete_stage",
        lambda a, w: delete_stage(actor=a, stage=w.spare_stage),
        "delete",
        "stage",
    ),
    Call(
        "create_touch_point",
        lambda a, w: create_touch_point(actor=a, stage=w.stage, name="The bill", channel="mail"),
        "create",
        "touchpoint",
    ),
    Call(
        "update_touch_point",
        lambda a, w: update_touch_point(actor=a, touch_point=w.touch_point, data={"importance": 5}),
        "update",
        "touchpoint",
    ),
    Call(
        "move_touch_point",
        lambda a, w: move_touch_point(
            actor=a, touch_point=w.touch_point, position=0, stage=w.spare_stage
        ),
        "reorder",
        "touchpoint",
    ),
    Call(
        "archive_touch_point",
        lambda a, w: archive_touch_point(actor=a, touch_point=w.touch_point),
        "archive",
        "touchpoint",
    ),
    Call(
        "restore_touch_point",
        lambda a, w: restore_touch_point(actor=a, touch_point=w.archived_touch_point),
        "restore",
        "touchpoint",
    ),
    Call(
        "delete_touch_point",
        lambda a, w: delete_touch_point(actor=a, touch_point=w.touch_point),
        "delete",
        "touchpoint",
    ),
    Call(
        "create_criterion",
        lambda a, w: create_criterion(
            actor=a, touch_point=w.touch_point, name="Said goodbye", kind="yes_no"
        ),
        "create",
        "criterion",
    ),
    Call(
        "update_criterion",
        lambda a, w: update_criterion(actor=a, criterion=w.criterion, data={"weight": 2.0}),
        "update",
        "criterion",
    ),
    Call(
        "move_criterion",
        lambda a, w: move_criterion(actor=a, criterion=w.criterion, position=1),
        "reorder",
        "criterion",
    ),
    Call(
        "archive_criterion",
        lambda a, w: archive_criterion(actor=a, criterion=w.criterion),
        "archive",
        "criterion",
    ),
    Call(
        "restore_criterion",
        lambda a, w: restore_criterion(actor=a, criterion=w.archived_criterion),
        "restore",
        "criterion",
    ),
    Call(
        "delete_criterion",
        lambda a, w: delete_criterion(actor=a, criterion=w.criterion),
        "delete",
        "criterion",
    ),
    Call(
        "create_site",
        lambda a, w: create_site(actor=a, organization=w.org, name="Harbour branch", code="HB"),
        "create",
        "site",
    ),
]


def snapshot() -> dict[str, list[tuple[Any, ...]]]:
    """Every row a structure service could write, in full."""
    return {
        model.__name__: sorted(model.objects.order_by("pk").values_list(), key=lambda r: r[0])
        for model in (
            Journey,
            Stage,
            TouchPoint,
            Criterion,
            CriterionVersion,
            Site,
            AuditEvent,
            StaleMark,
        )
    }


@pytest.mark.parametrize("who", ["viewer", "evaluator", "outsider"])
@pytest.mark.parametrize("call", CALLS, ids=lambda c: c.name)
def test_structure_services_refuse_everyone_but_managers_and_change_nothing(
    personas: Any, world: World, call: Call, who: str
) -> None:
    before = snapshot()

    with pytest.raises(PermissionDenied):
        call.run(getattr(personas, who), world)

    assert snapshot() == before


@pytest.mark.parametrize("call", CALLS, ids=lambda c: c.name)
def test_structure_services_accept_a_manager_and_audit_what_they_did(
    personas: Any, world: World, call: Call
) -> None:
    before = snapshot()
    audited = set(AuditEvent.objects.values_list("pk", flat=True))

    call.run(personas.manager, world)

    assert snapshot() != before
    new_events = AuditEvent.objects.exclude(pk__in=audited)
    assert [(e.action, e.object_type, e.actor_id, e.organization_id) for e in new_events] == [
        (call.action, call.object_type, personas.manager.pk, personas.org.pk)
    ]


def test_a_manager_of_another_organization_cannot_create_into_this_one(
    personas: Any, world: World
) -> None:
    before = snapshot()

    for call in (CALLS[0], CALLS[-1]):  # create_journey and create_site name the organization
        with pytest.raises(PermissionDenied):
            call.run(personas.outsider, world)

    assert snapshot() == before


def test_an_update_is_audited_with_what_changed_from_what(personas: Any, world: World) -> None:
    old_name = world.journey.name

    update_journey(
        actor=personas.manager, journey=world.journey, data={"name": "Vet visit", "target": 85.0}
    )

    event = AuditEvent.objects.for_organization(personas.org).get(action="update")
    assert event.actor == personas.manager
    assert event.object_id == world.journey.pk
    assert event.object_repr == "Vet visit"
    assert event.changes == {"name": [old_name, "Vet visit"], "target": [80.0, 85.0]}


def test_a_reorder_is_audited_with_the_old_and_new_position(personas: Any, world: World) -> None:
    move_stage(actor=personas.manager, stage=world.stage, position=1)

    event = AuditEvent.objects.get(action="reorder")
    assert (event.actor, event.object_type, event.object_id) == (
        personas.manager,
        "stage",
        world.stage.pk,
    )
    assert event.changes == {"position": [0, 1]}


def test_an_update_that_changes_nothing_writes_no_audit_row(personas: Any, world: World) -> None:
    update_stage(actor=personas.manager, stage=world.stage, data={"name": world.stage.name})

    assert not AuditEvent.objects.exists()


def test_an_audit_row_outlives_its_actor(personas: Any, world: World) -> None:
    archive_stage(actor=personas.manager, stage=world.stage)

    personas.manager.delete()

    event = AuditEvent.objects.get(action="archive")
    assert event.actor is None
    assert event.object_id == world.stage.pk


@pytest.mark.parametrize("role", sorted(Role.values))
def test_only_managers_edit_structure_and_only_managers_and_evaluators_evaluate(
    personas: Any, role: str
) -> None:
    membership = personas.membership(getattr(personas, role))

    assert membership.can_edit_structure is (role == Role.MANAGER)
    assert membership.can_evaluate is (role in (Role.MANAGER, Role.EVALUATOR))
