"""The demo organization: its shape, its 120 days of evaluations, and the story they tell."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from io import StringIO
from typing import Any

import pytest
from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.management import CommandError, call_command
from django.db import transaction
from django.db.models import Avg, Count, F, Max, Min
from django.test import override_settings
from django.utils import timezone

from accounts.models import AuditEvent, Membership, Organization, Role, User
from accounts.services import add_member, create_organization
from demo import loader as demo
from demo.loader import load_demo
from journeys.models import Journey, JourneyStatus, Stage
from scoring.formulas import CUSTOMER_SOURCES, INTERNAL_SOURCES
from touchpoints.models import (
    Answer,
    Criterion,
    CriterionKind,
    Evaluation,
    Site,
    Source,
    TouchPoint,
)
from touchpoints.services import AnswerInput, EvaluationInput, submit_evaluations

pytestmark = pytest.mark.slow  # loads 5,000 evaluations once for the module

DEMO_USERS = {
    "manager@demo.touchstone.test": Role.MANAGER,
    "ana@demo.touchstone.test": Role.EVALUATOR,
    "ben@demo.touchstone.test": Role.EVALUATOR,
    "viewer@demo.touchstone.test": Role.VIEWER,
}


@pytest.fixture(scope="module")
def demo_org(django_db_setup: None, django_db_blocker: Any) -> Iterator[Organization]:
    """Load the demo once for the module, inside a transaction rolled back at the end.

    Each test's own `db` transaction nests inside this one as a savepoint. The hasher is
    the fast one conftest gives every test, which a module fixture runs before.
    """
    fast_hasher = override_settings(
        PASSWORD_HASHERS=["django.contrib.auth.hashers.MD5PasswordHasher"]
    )
    with django_db_blocker.unblock(), fast_hasher, transaction.atomic():
        organization = load_demo()
        assert organization is not None
        yield organization
        transaction.set_rollback(True)


def counts(organization: Organization) -> dict[str, int]:
    return {
        "organizations": Organization.objects.count(),
        "users": User.objects.count(),
        "memberships": Membership.objects.count(),
        "journeys": Journey.objects.for_organization(organization).count(),
        "stages": Stage.objects.for_organization(organization).count(),
        "touch_points": TouchPoint.objects.for_organization(organization).count(),
        "criteria": Criterion.objects.for_organization(organization).count(),
        "sites": Site.objects.for_organization(organization).count(),
        "evaluations": Evaluation.objects.for_organization(organization).count(),
        "answers": Answer.objects.filter(evaluation__organization=organization).count(),
        "audit_events": AuditEvent.objects.for_organization(organization).count(),
    }


def mean_score(organization: Organization, touch_point: str, **filters: Any) -> float:
    result = (
        Evaluation.objects.for_organization(organization)
        .filter(touch_point__name=touch_point, **filters)
        .aggregate(mean=Avg("score"))["mean"]
    )
    assert result is not None
    return float(result)


def test_creates_one_organization_with_three_active_journeys(
    demo_org: Organization, db: None
) -> None:
    assert list(Organization.objects.values_list("slug", "name")) == [
        ("demo", "Demo: Brightline Services")
    ]
    journeys = Journey.objects.for_organization(demo_org)
    assert sorted(journeys.values_list("name", flat=True)) == [
        "Flight from booking to baggage claim",
        "New broadband customer",
        "Vet clinic visit",
    ]
    assert set(journeys.values_list("status", flat=True)) == {JourneyStatus.ACTIVE}
    for journey in journeys.annotate(n=Count("stages")):
        assert 4 <= journey.n <= 6, journey.name


def test_each_journey_has_8_to_15_active_touch_points_with_3_to_6_criteria(
    demo_org: Organization, db: None
) -> None:
    per_journey = (
        TouchPoint.objects.for_organization(demo_org)
        .filter(archived_at__isnull=True)
        .values("journey__name")
        .annotate(n=Count("id"))
    )
    assert len(per_journey) == 3
    for row in per_journey:
        assert 8 <= row["n"] <= 15, row
    for tp in TouchPoint.objects.for_organization(demo_org).annotate(n=Count("criteria")):
        assert 3 <= tp.n <= 6, tp.name
        assert 1 <= tp.importance <= 5
    channels = set(TouchPoint.objects.for_organization(demo_org).values_list("channel", flat=True))
    assert len(channels) >= 6


def test_criteria_of_all_three_kinds_with_valid_rubrics(demo_org: Organization, db: None) -> None:
    criteria = Criterion.objects.for_organization(demo_org).select_related("current_version")
    kinds = {c.rubric.kind for c in criteria}
    assert kinds == set(CriterionKind.values)
    for c in criteria:
        if c.rubric.kind == CriterionKind.SCALE:
            assert len(c.rubric.scale_labels) == c.rubric.scale_size
        if c.rubric.kind == CriterionKind.NUMERIC:
            assert c.rubric.unit
            assert c.rubric.target_value != c.rubric.worst_value
    assert any(c.rubric.critical for c in criteria)
    assert len({c.rubric.weight for c in criteria}) > 1
    minutes_late = criteria.get(name="Minutes late")
    assert (minutes_late.rubric.target_value, minutes_late.rubric.worst_value) == (0, 60)


def test_three_sites_and_four_demo_users_with_their_roles(demo_org: Organization, db: None) -> None:
    assert Site.objects.for_organization(demo_org).count() == 3
    roles = dict(
        Membership.objects.filter(organization=demo_org).values_list("user__email", "role")
    )
    assert roles == DEMO_USERS
    manager = User.objects.get(email="manager@demo.touchstone.test")
    assert manager.is_staff
    assert not manager.is_superuser  # its password is published
    assert manager.has_perm("journeys.view_journey")
    assert not manager.has_perm("journeys.change_journey")
    # One shared hash (hashing is slow on purpose), so checking one checks all four.
    hashes = set(User.objects.filter(email__in=DEMO_USERS).values_list("password", flat=True))
    assert len(hashes) == 1
    assert manager.check_password(settings.DEMO_PASSWORD)
    assert not User.objects.filter(email__in=list(DEMO_USERS)[1:], is_staff=True).exists()


def test_structure_was_written_through_the_services(demo_org: Organization, db: None) -> None:
    """Every journey, stage, touch point, criterion and site has its audit row."""
    created = AuditEvent.objects.for_organization(demo_org).filter(action="create")
    structure = sum(
        model.objects.for_organization(demo_org).count()
        for model in (Journey, Stage, TouchPoint, Criterion, Site)
    )
    assert created.count() == structure
    assert set(created.values_list("actor__email", flat=True)) == {"manager@demo.touchstone.test"}


def test_about_5000_evaluations_from_all_sources_over_120_days(
    demo_org: Organization, db: None
) -> None:
    evaluations = Evaluation.objects.for_organization(demo_org)
    assert 4500 <= evaluations.count() <= 5500
    assert set(evaluations.values_list("source", flat=True)) == set(Source.values)
    span = evaluations.aggregate(first=Min("observed_at"), last=Max("observed_at"))
    now = timezone.now()
    assert span["last"] <= now
    assert span["first"] >= now - timedelta(days=121)
    assert span["last"] - span["first"] >= timedelta(days=110)
    # Busier lately: the last 60 days hold more than the 60 before.
    midpoint = now - timedelta(days=60)
    assert (
        evaluations.filter(observed_at__gte=midpoint).count()
        > evaluations.filter(observed_at__lt=midpoint).count()
    )
    evaluators = set(evaluations.values_list("evaluator__email", flat=True))
    assert evaluators == {
        "ana@demo.touchstone.test",
        "ben@demo.touchstone.test",
        "manager@demo.touchstone.test",
    }


def test_every_evaluation_has_an_answer_per_criterion_and_a_score(
    demo_org: Organization, db: None
) -> None:
    evaluations = Evaluation.objects.for_organization(demo_org)
    assert not evaluations.filter(answers__isnull=True).exists()
    per_evaluation = evaluations.annotate(
        answers_n=Count("answers", distinct=True),
        criteria_n=Count("touch_point__criteria", distinct=True),
    )
    assert not per_evaluation.exclude(answers_n=F("criteria_n")).exists()
    assert not evaluations.filter(score__isnull=True).exists()


def test_not_applicable_answers_only_on_non_critical_criteria(
    demo_org: Organization, db: None
) -> None:
    not_applicable = Answer.objects.filter(evaluation__organization=demo_org, value__isnull=True)
    assert not_applicable.exists()
    assert not not_applicable.filter(criterion_version__critical=True).exists()


def test_about_15_percent_have_comments_including_non_ascii(
    demo_org: Organization, db: None
) -> None:
    evaluations = Evaluation.objects.for_organization(demo_org)
    share = evaluations.exclude(comment="").count() / evaluations.count()
    assert 0.10 <= share <= 0.20
    assert evaluations.filter(comment="Très bien — merci 👍").exists()


def test_exactly_one_touch_point_is_a_blind_spot(demo_org: Organization, db: None) -> None:
    few = (
        TouchPoint.objects.for_organization(demo_org)
        .annotate(n=Count("evaluations"))
        .filter(n__lt=5)
    )
    assert [(tp.name, tp.n) for tp in few] == [("Post-install satisfaction SMS", 3)]


def test_weak_links_and_a_strong_point_are_in_the_data(demo_org: Organization, db: None) -> None:
    target = 80.0
    assert set(Journey.objects.for_organization(demo_org).values_list("target", flat=True)) == {
        target
    }
    assert mean_score(demo_org, "Technician arrival") < target - 15
    assert mean_score(demo_org, "Support call") < target - 15
    assert mean_score(demo_org, "Baggage claim") < target - 15
    assert mean_score(demo_org, "Online booking") > target + 5
    assert mean_score(demo_org, "Online records") > target


def test_repeating_the_story_is_what_drags_the_support_call_down(
    demo_org: Organization, db: None
) -> None:
    means = dict(
        Answer.objects.filter(
            evaluation__organization=demo_org, criterion__touch_point__name="Support call"
        )
        .values("criterion__name")
        .annotate(mean=Avg("score"))
        .values_list("criterion__name", "mean")
    )
    assert min(means, key=lambda name: means[name]) == "Did not have to repeat the story"


def test_baggage_claim_is_the_last_impression_of_the_flight(
    demo_org: Organization, db: None
) -> None:
    last = (
        TouchPoint.objects.for_organization(demo_org)
        .filter(journey__name="Flight from booking to baggage claim", archived_at__isnull=True)
        .order_by("-stage__position", "-position")
        .first()
    )
    assert last is not None
    assert last.name == "Baggage claim"


def test_insiders_rate_the_bag_drop_higher_than_customers(demo_org: Organization, db: None) -> None:
    internal = mean_score(demo_org, "Bag drop desk", source__in=INTERNAL_SOURCES)
    customers = mean_score(demo_org, "Bag drop desk", source__in=CUSTOMER_SOURCES)
    assert internal - customers > 10


def test_running_it_again_changes_nothing(demo_org: Organization, db: None) -> None:
    before = counts(demo_org)
    out = StringIO()

    call_command("load_demo", "--force", stdout=out)  # tests run with DEBUG off

    assert "already loaded" in out.getvalue()
    assert counts(demo_org) == before


def test_a_failure_half_way_leaves_nothing_behind(
    demo_org: Organization, db: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A second demo under another slug, whose second batch of evaluations fails."""
    before = counts(demo_org)
    calls = 0

    def failing_submit(**kwargs: Any) -> Any:
        nonlocal calls
        calls += 1
        if calls == 2:
            raise RuntimeError("the database went away")
        return submit_evaluations(**kwargs)

    monkeypatch.setattr(demo, "DEMO_SLUG", "demo-again")
    monkeypatch.setattr(demo, "submit_evaluations", failing_submit)

    with pytest.raises(RuntimeError):
        load_demo()

    assert not Organization.objects.filter(slug="demo-again").exists()
    assert counts(demo_org) == before
    assert Evaluation.objects.count() == before["evaluations"]


def test_outsider_cannot_evaluate_a_demo_touch_point(demo_org: Organization, db: None) -> None:
    rival = create_organization(name="Rival Telecom")
    outsider = add_member(organization=rival, email="manager@rival.test", role=Role.MANAGER).user
    touch_point = TouchPoint.objects.for_organization(demo_org).get(name="Support call")
    item = EvaluationInput(
        touch_point_id=touch_point.pk,
        source=Source.AUDIT,
        observed_at=timezone.now(),
        answers=[AnswerInput(criterion_id=c.pk, value=1) for c in touch_point.criteria.all()],
    )

    with pytest.raises(ValidationError, match="evaluator"):
        submit_evaluations(evaluator=outsider, organization=demo_org, items=[item])
    # Through their own organization the demo's touch point does not exist.
    with pytest.raises(ValidationError, match="No such touch point"):
        submit_evaluations(evaluator=outsider, organization=rival, items=[item])


def test_load_demo_refuses_to_run_with_debug_off_unless_forced(
    db: None, settings: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings.DEBUG = False
    loaded: list[bool] = []
    monkeypatch.setattr(
        "demo.management.commands.load_demo.load_demo", lambda **kw: loaded.append(True)
    )

    with pytest.raises(CommandError, match="DEBUG is off"):
        call_command("load_demo", stdout=StringIO())
    assert not loaded

    call_command("load_demo", "--force", stdout=StringIO())
    assert loaded == [True]
