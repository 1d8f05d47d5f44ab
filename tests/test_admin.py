"""The Django admin for support staff: every model opens, big lists stay cheap, and the
admin cannot change what the services own (evaluations, order, archiving)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest
from axes.models import AccessFailureLog
from django.contrib import admin
from django.contrib.auth.models import Group
from django.db import models
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from accounts.admin import ReadOnlyAdmin
from accounts.models import AuditEvent, User
from alerts import delivery as webhook_delivery
from alerts import services as alert_services
from alerts.models import AlertSettings, WebhookAttempt, WebhookEndpoint
from core.models import JourneyStaleMark
from journeys.models import Journey, Stage
from journeys.services import archive_stage
from scoring.formulas import INSUFFICIENT_DATA
from scoring.models import JourneyScore, StaleMark, TouchPointScore, WeeklyScore
from tests.conftest import Personas
from tests.factories import (
    PASSWORD,
    CriterionFactory,
    JourneyFactory,
    SiteFactory,
    StageFactory,
    TouchPointFactory,
)
from touchpoints.models import Criterion, CriterionKind, Evaluation, Site, Source, TouchPoint
from touchpoints.services import AnswerInput, EvaluationInput, submit_evaluations


def url(model: type[models.Model], view: str, *args: Any) -> str:
    return reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_{view}", args=args)


@dataclass
class World:
    journey: Journey
    stage: Stage
    touch_points: list[TouchPoint]
    criteria: list[Criterion]
    site: Site


def build_world(personas: Personas, *, touch_points: int = 2) -> World:
    org = personas.org
    journey = JourneyFactory(organization=org, name="New broadband customer")
    stage = StageFactory(journey=journey, name="Install")
    tps = [TouchPointFactory(stage=stage, name=f"Technician call {i}") for i in range(touch_points)]
    criteria = []
    for tp in tps:
        criteria.append(CriterionFactory(touch_point=tp, name="Used the customer's name"))
        criteria.append(CriterionFactory(touch_point=tp, name="On time", kind=CriterionKind.YES_NO))
    return World(
        journey=journey,
        stage=stage,
        touch_points=tps,
        criteria=criteria,
        site=SiteFactory(organization=org, name="Leeds store"),
    )


def evaluate(
    personas: Personas, world: World, count: int, comment: str = "Fine"
) -> list[Evaluation]:
    """`count` evaluations through the one write path, spread over touch points."""
    now = timezone.now()
    items = []
    for i in range(count):
        tp = world.touch_points[i % len(world.touch_points)]
        items.append(
            EvaluationInput(
                touch_point_id=tp.pk,
                source=Source.SUPERVISOR if i % 2 else Source.MYSTERY_SHOPPER,
                observed_at=now - timedelta(hours=i + 1),
                site_id=world.site.pk if i % 3 else None,
                comment=comment,
                answers=[
                    AnswerInput(
                        criterion_id=c.pk,
                        value=i % 2 if c.rubric.kind == CriterionKind.YES_NO else 1 + i % 5,
                    )
                    for c in world.criteria
                    if c.touch_point_id == tp.pk
                ],
            )
        )
    return submit_evaluations(evaluator=personas.evaluator, organization=personas.org, items=items)


@pytest.fixture
def world(personas: Personas) -> World:
    """At least one row of every model the admin shows."""
    world = build_world(personas)
    evaluate(personas, world, 1)
    archive_stage(actor=personas.manager, stage=StageFactory(journey=world.journey))
    Group.objects.create(name="Support")
    # django-axes registers its own lists: a failed and a good sign-in fill two of them;
    # it writes failure logs only with AXES_ENABLE_ACCESS_FAILURE_LOG on.
    login = reverse("admin:login")
    Client().post(login, {"username": personas.manager.email, "password": "wrong"})
    Client().post(login, {"username": personas.manager.email, "password": PASSWORD})
    AccessFailureLog.objects.create(username=personas.manager.email, path_info=login)
    now = timezone.now()
    tp = world.touch_points[0]
    # Snapshots are made directly: these tests are about the admin, not the recompute.
    window = {"window_start": now - timedelta(days=90), "window_end": now, "computed_at": now}
    TouchPointScore.objects.create(
        touch_point=tp,
        organization=personas.org,
        journey=world.journey,
        n=1,
        mean=50.0,
        smoothed=50.0,
        target=80.0,
        status=INSUFFICIENT_DATA,
        **window,
    )
    JourneyScore.objects.create(journey=world.journey, organization=personas.org, **window)
    WeeklyScore.objects.create(
        touch_point=tp, week_start=now.date(), n=1, mean=50.0, computed_at=now
    )
    # The alerts app: an action (its event and the managers' feed entries), an email
    # choice, the digest time, and an endpoint with a delivery and one attempt.
    manager = personas.membership(personas.manager)
    alert_services.open_action(
        actor=personas.manager, touch_point=tp, description="Call back", owner_id=manager.user_id
    )
    alert_services.set_notification_mode(
        actor=personas.manager, membership=manager, journey=world.journey, mode="digest"
    )
    alert_services.set_digest_time(
        actor=personas.manager, organization_id=personas.org.pk, value="18:30"
    )
    endpoint, _ = webhook_delivery.register_endpoint(
        actor=personas.manager,
        organization=personas.org,
        data={"url": "http://127.0.0.1:9/hook", "event_types": ["weak_link.entered"]},
    )
    sent = webhook_delivery.send_test(actor=personas.manager, endpoint=endpoint)
    WebhookAttempt.objects.create(delivery=sent, at=now, status_code=500, latency_ms=12)
    return world


REGISTERED = sorted(admin.site._registry, key=lambda m: m._meta.label)


@pytest.mark.parametrize("model", REGISTERED, ids=lambda m: m._meta.label)
def test_every_registered_model_lists_and_opens_for_a_superuser(
    admin_client: Client, world: World, model: type[models.Model]
) -> None:
    assert admin_client.get(url(model, "changelist")).status_code == 200
    obj = model._default_manager.first()
    assert obj is not None, f"give the world fixture a {model._meta.label} row"
    assert admin_client.get(url(model, "change", obj.pk)).status_code == 200


def test_search_and_filters_answer_on_every_changelist(admin_client: Client, world: World) -> None:
    for model, model_admin in admin.site._registry.items():
        if model_admin.search_fields:
            response = admin_client.get(url(model, "changelist"), {"q": "broadband"})
            assert response.status_code == 200, model._meta.label
    response = admin_client.get(url(TouchPoint, "changelist"), {"archived": "no"})
    assert set(response.context["cl"].result_list) == set(world.touch_points)


def test_evaluation_changelist_runs_a_bounded_number_of_queries(
    admin_client: Client, personas: Personas, django_assert_max_num_queries: Any
) -> None:
    world = build_world(personas, touch_points=5)
    evaluate(personas, world, 30)
    # session, user, the page's rows, its count, the date hierarchy, the organization
    # filter: one query per evaluation (an N+1) would blow well past this.
    with django_assert_max_num_queries(8):
        response = admin_client.get(url(Evaluation, "changelist"))
    assert response.status_code == 200
    assert len(response.context["cl"].result_list) == 30


def test_touch_point_changelist_runs_a_bounded_number_of_queries(
    admin_client: Client, personas: Personas, django_assert_max_num_queries: Any
) -> None:
    for journey in JourneyFactory.create_batch(3, organization=personas.org):
        for stage in StageFactory.create_batch(2, journey=journey):
            TouchPointFactory.create_batch(5, stage=stage)
    with django_assert_max_num_queries(8):
        response = admin_client.get(url(TouchPoint, "changelist"))
    assert response.status_code == 200
    assert len(response.context["cl"].result_list) == 30


def test_evaluation_change_page_lists_its_answers_without_a_query_per_answer(
    admin_client: Client,
    personas: Personas,
    django_assert_max_num_queries: Any,
) -> None:
    world = build_world(personas, touch_points=1)
    for _ in range(10):
        CriterionFactory(touch_point=world.touch_points[0])
    world.criteria = list(Criterion.objects.filter(touch_point=world.touch_points[0]))
    (evaluation,) = evaluate(personas, world, 1)
    # session, user, the evaluation, its answers (criteria and versions joined), one per
    # read-only foreign key shown as a link, and the content type of the admin log link.
    with django_assert_max_num_queries(10):
        response = admin_client.get(url(Evaluation, "change", evaluation.pk))
    assert response.status_code == 200
    assert len(response.context["inline_admin_formsets"][0].formset.forms) == 12


# --- Evaluations are facts ---------------------------------------------------------------


def test_evaluation_cannot_be_added_through_the_admin(admin_client: Client, world: World) -> None:
    assert admin_client.get(url(Evaluation, "add")).status_code == 403
    assert admin_client.post(url(Evaluation, "add"), {"comment": "forged"}).status_code == 403


def test_evaluation_post_to_change_page_is_refused_and_leaves_it_untouched(
    admin_client: Client, personas: Personas, world: World
) -> None:
    evaluation = Evaluation.objects.get()
    before = Evaluation.objects.filter(pk=evaluation.pk).values().get()
    response = admin_client.post(
        url(Evaluation, "change", evaluation.pk),
        {"comment": "rewritten", "source": Source.AUDIT, "score": "100", "_save": "Save"},
    )
    assert response.status_code == 403
    assert Evaluation.objects.filter(pk=evaluation.pk).values().get() == before


def test_evaluation_cannot_be_deleted_through_the_admin(admin_client: Client, world: World) -> None:
    evaluation = Evaluation.objects.get()
    response = admin_client.post(url(Evaluation, "delete", evaluation.pk), {"post": "yes"})
    assert response.status_code == 403
    admin_client.post(
        url(Evaluation, "changelist"),
        {"action": "delete_selected", "_selected_action": [evaluation.pk], "post": "yes"},
    )
    assert Evaluation.objects.filter(pk=evaluation.pk).exists()
    assert evaluation.answers.count() == 2


@pytest.mark.parametrize(
    "model",
    [m for m, a in admin.site._registry.items() if isinstance(a, ReadOnlyAdmin)],
    ids=lambda m: m._meta.label,
)
def test_read_only_models_refuse_add_and_delete(
    admin_client: Client, world: World, model: type[models.Model]
) -> None:
    obj = model._default_manager.first()
    assert obj is not None
    assert admin_client.get(url(model, "add")).status_code == 403
    assert admin_client.post(url(model, "delete", obj.pk), {"post": "yes"}).status_code == 403
    assert model._default_manager.filter(pk=obj.pk).exists()


# --- Structure: order and archiving belong to the services ---------------------------------


@pytest.mark.parametrize("model", [Stage, TouchPoint, Criterion])
def test_structure_cannot_be_added_or_deleted_through_the_admin(
    admin_client: Client, world: World, model: type[models.Model]
) -> None:
    obj = model._default_manager.first()
    assert obj is not None
    assert admin_client.get(url(model, "add")).status_code == 403
    assert admin_client.post(url(model, "delete", obj.pk), {"post": "yes"}).status_code == 403
    assert model._default_manager.filter(pk=obj.pk).exists()


def change_form_data(response: Any, **changes: Any) -> dict[str, Any]:
    """What the browser would post back from a rendered change form, plus `changes`."""
    data: dict[str, Any] = {}
    forms = [response.context["adminform"].form]
    for inline in response.context["inline_admin_formsets"]:
        forms += [inline.formset.management_form, *inline.formset.forms]
    for form in forms:
        for name in form.fields:
            value = form[name].value()
            if value is not None:
                data[form.add_prefix(name)] = value
    data.update(changes)
    return data


def test_stage_rename_keeps_its_position_whatever_is_posted(
    admin_client: Client, personas: Personas, world: World
) -> None:
    stage = world.stage
    change = url(Stage, "change", stage.pk)
    data = change_form_data(
        admin_client.get(change), name="Installation", position="5", archived_at_0="2026-01-01"
    )
    response = admin_client.post(change, data)
    assert response.status_code == 302, response.context["adminform"].form.errors
    stage.refresh_from_db()
    assert (stage.name, stage.position, stage.archived_at) == ("Installation", 0, None)
    audit = AuditEvent.objects.filter(object_type="stage", object_id=stage.pk).get()
    assert audit.action == "update"
    assert audit.changes == {"name": ["Install", "Installation"]}


def test_touch_point_rename_keeps_position_importance_and_target(
    admin_client: Client, world: World
) -> None:
    tp = world.touch_points[1]
    change = url(TouchPoint, "change", tp.pk)
    data = change_form_data(
        admin_client.get(change), name="Welcome call", position="0", importance="5", target="10"
    )
    assert admin_client.post(change, data).status_code == 302
    tp.refresh_from_db()
    assert (tp.name, tp.position, tp.importance, tp.target) == ("Welcome call", 1, 3, None)


def test_site_rename_to_a_taken_name_is_a_form_error(
    admin_client: Client, personas: Personas, world: World
) -> None:
    SiteFactory(organization=personas.org, name="York store")
    change = url(Site, "change", world.site.pk)
    response = admin_client.post(
        change, change_form_data(admin_client.get(change), name="York store")
    )
    assert response.status_code == 200
    assert (
        "There is already a site called 'York store'."
        in response.context["adminform"].form.errors["name"]
    )


def test_site_added_through_the_admin_is_audited(
    admin_client: Client, personas: Personas, admin_user: User
) -> None:
    response = admin_client.post(
        url(Site, "add"), {"organization": personas.org.pk, "name": "Leeds", "code": "LDS"}
    )
    assert response.status_code == 302
    site = Site.objects.get(name="Leeds")
    assert site.organization == personas.org
    assert AuditEvent.objects.get(object_type="site").actor == admin_user


@pytest.mark.parametrize(
    ("field", "value"),
    [("smoothing_k", "100.5"), ("min_n", "1001"), ("window_days", "0"), ("default_target", "101")],
)
def test_settings_out_of_bounds_are_form_errors_in_the_admin_too(
    admin_client: Client, personas: Personas, field: str, value: str
) -> None:
    change = url(type(personas.org), "change", personas.org.pk)
    data = change_form_data(admin_client.get(change), **{field: value})
    response = admin_client.post(change, data)
    assert response.status_code == 200
    assert field in response.context["adminform"].form.errors
    personas.org.refresh_from_db()
    assert (personas.org.smoothing_k, personas.org.min_n, personas.org.window_days) == (5, 5, 90)
    assert personas.org.default_target == 80.0


def test_changing_scoring_settings_marks_the_organizations_journeys_stale(
    admin_client: Client, personas: Personas
) -> None:
    world = build_world(personas)
    other = TouchPointFactory(stage__journey__organization=personas.other_org)
    change = url(type(personas.org), "change", personas.org.pk)
    data = change_form_data(admin_client.get(change), min_n="3")
    assert admin_client.post(change, data).status_code == 302
    personas.org.refresh_from_db()
    assert personas.org.min_n == 3
    stale = set(JourneyStaleMark.objects.values_list("journey_id", flat=True))
    assert stale == {world.journey.pk}
    assert other.journey_id not in stale
    audit = AuditEvent.objects.get(object_type="organization")
    assert audit.changes == {"min_n": [5, 3]}


# --- Users ---------------------------------------------------------------------------------


def test_user_is_added_with_email_and_two_passwords(admin_client: Client, db: None) -> None:
    response = admin_client.post(
        url(User, "add"),
        {"email": "New.Person@Example.test", "password1": PASSWORD, "password2": PASSWORD},
    )
    assert response.status_code == 302
    user = User.objects.get(email="new.person@example.test")
    assert user.check_password(PASSWORD)
    assert not user.is_staff


def test_user_with_an_email_taken_in_another_case_is_refused(
    admin_client: Client, personas: Personas
) -> None:
    response = admin_client.post(
        url(User, "add"),
        {"email": "MANAGER@northwind.test", "password1": PASSWORD, "password2": PASSWORD},
    )
    assert response.status_code == 200
    assert response.context["adminform"].form.errors["email"]


# --- Reading ---------------------------------------------------------------------------------


def test_evaluations_are_found_by_their_comment(
    admin_client: Client, personas: Personas, world: World
) -> None:
    (wanted,) = evaluate(personas, world, 1, comment="Technician was two hours late")
    response = admin_client.get(url(Evaluation, "changelist"), {"q": "hours late"})
    assert list(response.context["cl"].result_list) == [wanted]


def test_stale_marks_list_the_oldest_first(admin_client: Client, world: World) -> None:
    newer = StaleMark.objects.create(touch_point=world.touch_points[1])
    response = admin_client.get(url(StaleMark, "changelist"))
    assert list(response.context["cl"].result_list)[-1] == newer


@pytest.mark.parametrize("model", [Evaluation, Journey, User, StaleMark])
def test_anonymous_user_is_sent_to_the_admin_login(client: Client, db: None, model: Any) -> None:
    target = url(model, "changelist")
    response = client.get(target)
    assert response.status_code == 302
    assert response["Location"] == f"{reverse('admin:login')}?next={target}"


def test_member_without_staff_status_is_sent_to_the_admin_login(
    client: Client, personas: Personas
) -> None:
    client.force_login(personas.manager)
    response = client.get(url(Evaluation, "changelist"))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("admin:login"))


# --- Alerts: history read-only, secrets never shown ----------------------------------------


def test_a_webhook_secret_is_never_shown_in_the_admin(admin_client: Client, world: World) -> None:
    endpoint = WebhookEndpoint.objects.get()
    pages = [
        url(WebhookEndpoint, "changelist"),
        url(WebhookEndpoint, "change", endpoint.pk),
        url(WebhookEndpoint, "history", endpoint.pk),
    ]
    delivery = endpoint.deliveries.get()
    pages += [url(type(delivery), "changelist"), url(type(delivery), "change", delivery.pk)]
    for page in pages:
        response = admin_client.get(page)
        assert response.status_code == 200, page
        assert endpoint.secret.encode() not in response.content, page
        assert endpoint.secret.removeprefix("whsec_").encode() not in response.content, page
    # Nor can it be found by searching for it.
    found = admin_client.get(url(WebhookEndpoint, "changelist"), {"q": endpoint.secret})
    assert endpoint.url.encode() not in found.content


def test_the_digest_time_changed_by_staff_is_audited(admin_client: Client, world: World) -> None:
    row = AlertSettings.objects.get()
    change = url(AlertSettings, "change", row.pk)
    response = admin_client.post(change, {"digest_time": "06:15"})
    assert response.status_code == 302
    row.refresh_from_db()
    assert row.digest_time.strftime("%H:%M") == "06:15"
    audit = AuditEvent.objects.filter(object_type="alertsettings").latest("at")
    assert audit.changes == {"digest_time": ["18:30:00", "06:15:00"]}
