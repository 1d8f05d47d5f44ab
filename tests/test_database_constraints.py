"""The invariants hold in the database itself: rows written past the services (plain
Model.objects.create, .update(), raw SQL) are refused by check, unique and foreign key
constraints, and evaluations are protected from cascading deletes."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.db import IntegrityError, connection, transaction
from django.db.models import ProtectedError, RestrictedError
from django.utils import timezone

from accounts.models import Membership, Organization, Role
from journeys.models import Journey, Stage
from scoring.models import StaleMark
from tests.factories import (
    AnswerFactory,
    CriterionFactory,
    EvaluationFactory,
    JourneyFactory,
    MembershipFactory,
    OrganizationFactory,
    SiteFactory,
    StageFactory,
    TouchPointFactory,
    UserFactory,
)
from touchpoints.models import (
    OBSERVED_AT_CLOCK_SKEW,
    Answer,
    Criterion,
    CriterionVersion,
    Evaluation,
    TouchPoint,
)


def refused_by_database(write: Any) -> None:
    """`write` must fail with an IntegrityError, at the latest when its constraints are
    checked (deferred ones included), and leave nothing behind."""
    with pytest.raises(IntegrityError), transaction.atomic():
        write()
        connection.check_constraints()


# --- Check constraints -------------------------------------------------------------------------


@pytest.mark.parametrize("importance", [0, 6])
def test_touch_point_importance_must_be_1_to_5(personas: Any, importance: int) -> None:
    touch_point = TouchPointFactory(stage__journey__organization=personas.org)

    refused_by_database(
        lambda: TouchPoint.objects.filter(pk=touch_point.pk).update(importance=importance)
    )

    touch_point.refresh_from_db()
    assert touch_point.importance == 3


@pytest.mark.parametrize("target", [-0.1, 100.5])
def test_touch_point_target_must_be_0_to_100(personas: Any, target: float) -> None:
    touch_point = TouchPointFactory(stage__journey__organization=personas.org)

    refused_by_database(lambda: TouchPoint.objects.filter(pk=touch_point.pk).update(target=target))


@pytest.mark.parametrize("target", [-1, 101, float("nan")])
def test_journey_target_must_be_0_to_100(personas: Any, target: float) -> None:
    refused_by_database(
        lambda: Journey.objects.create(organization=personas.org, name="J", target=target)
    )

    assert not Journey.objects.exists()


def test_journey_status_must_be_known(personas: Any) -> None:
    refused_by_database(
        lambda: Journey.objects.create(organization=personas.org, name="J", status="paused")
    )


def test_touch_point_channel_must_be_known(personas: Any) -> None:
    touch_point = TouchPointFactory(stage__journey__organization=personas.org)

    refused_by_database(
        lambda: TouchPoint.objects.filter(pk=touch_point.pk).update(channel="pigeon")
    )


@pytest.mark.parametrize("weight", [0, -1, float("nan"), float("inf")])
def test_criterion_weight_must_be_a_positive_finite_number(personas: Any, weight: float) -> None:
    criterion = CriterionFactory(touch_point__stage__journey__organization=personas.org)

    refused_by_database(
        lambda: CriterionVersion.objects.filter(pk=criterion.current_version_id).update(
            weight=weight
        )
    )


@pytest.mark.parametrize("scale_size", [1, 12, None])
def test_a_scale_has_2_to_11_points(personas: Any, scale_size: int | None) -> None:
    criterion = CriterionFactory(touch_point__stage__journey__organization=personas.org)

    refused_by_database(
        lambda: CriterionVersion.objects.create(
            criterion=criterion, number=2, kind="scale", scale_size=scale_size
        )
    )


@pytest.mark.parametrize(
    ("target_value", "worst_value"), [(None, 60), (20, None), (None, None), (30, 30)]
)
def test_a_numeric_criterion_needs_a_target_and_a_different_worst_value(
    personas: Any, target_value: float | None, worst_value: float | None
) -> None:
    criterion = CriterionFactory(touch_point__stage__journey__organization=personas.org)

    refused_by_database(
        lambda: CriterionVersion.objects.create(
            criterion=criterion,
            number=2,
            kind="numeric",
            target_value=target_value,
            worst_value=worst_value,
        )
    )


def test_a_criterion_kind_must_be_known(personas: Any) -> None:
    criterion = CriterionFactory(touch_point__stage__journey__organization=personas.org)

    refused_by_database(
        lambda: CriterionVersion.objects.create(criterion=criterion, number=2, kind="stars")
    )


def test_criterion_version_numbers_are_unique_per_criterion(personas: Any) -> None:
    criterion = CriterionFactory(touch_point__stage__journey__organization=personas.org)

    refused_by_database(
        lambda: CriterionVersion.objects.create(criterion=criterion, number=1, kind="yes_no")
    )


@pytest.mark.parametrize("value", ["NaN", "Infinity", "-Infinity"])
def test_an_answer_value_must_be_finite(personas: Any, value: str) -> None:
    answer = AnswerFactory(evaluation__touch_point__stage__journey__organization=personas.org)

    # Raw SQL, so nothing in Python gets a chance to refuse the value first.
    def write() -> None:
        with connection.cursor() as cursor:
            cursor.execute(
                "UPDATE touchpoints_answer SET value = %s::float8 WHERE id = %s", [value, answer.pk]
            )

    refused_by_database(write)

    answer.refresh_from_db()
    assert answer.value == 3.0


def test_an_answer_may_be_not_applicable(personas: Any) -> None:
    answer = AnswerFactory(
        evaluation__touch_point__stage__journey__organization=personas.org, value=None
    )

    assert Answer.objects.get(pk=answer.pk).value is None


def test_an_evaluation_source_must_be_known(personas: Any) -> None:
    refused_by_database(
        lambda: EvaluationFactory(
            touch_point__stage__journey__organization=personas.org, source="gossip"
        )
    )

    assert not Evaluation.objects.exists()


def test_an_evaluation_cannot_be_observed_well_after_it_was_submitted(personas: Any) -> None:
    now = timezone.now()

    refused_by_database(
        lambda: EvaluationFactory(
            touch_point__stage__journey__organization=personas.org,
            submitted_at=now,
            observed_at=now + OBSERVED_AT_CLOCK_SKEW + timedelta(seconds=1),
        )
    )


def test_an_evaluation_may_be_observed_within_the_clock_skew_of_its_submission(
    personas: Any,
) -> None:
    now = timezone.now()

    evaluation = EvaluationFactory(
        touch_point__stage__journey__organization=personas.org,
        submitted_at=now,
        observed_at=now + OBSERVED_AT_CLOCK_SKEW,
    )

    assert Evaluation.objects.filter(pk=evaluation.pk).exists()


def test_a_membership_role_must_be_known(personas: Any) -> None:
    refused_by_database(
        lambda: Membership.objects.create(
            user=UserFactory(), organization=personas.org, role="admin"
        )
    )


def test_a_user_has_one_membership_per_organization(personas: Any) -> None:
    refused_by_database(
        lambda: Membership.objects.create(
            user=personas.viewer, organization=personas.org, role=Role.MANAGER
        )
    )

    assert personas.membership(personas.viewer).role == Role.VIEWER


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("smoothing_k", -1),
        ("smoothing_k", 100.5),
        ("min_n", 0),
        ("min_n", 1001),
        ("window_days", 0),
        ("window_days", 3661),
        ("default_target", -0.1),
        ("default_target", 100.1),
    ],
)
def test_organization_scoring_settings_stay_in_range(
    personas: Any, field: str, value: float
) -> None:
    refused_by_database(
        lambda: Organization.objects.filter(pk=personas.org.pk).update(**{field: value})
    )


def test_site_names_are_unique_per_organization_only(personas: Any) -> None:
    SiteFactory(organization=personas.org, name="Main street")

    refused_by_database(lambda: SiteFactory(organization=personas.org, name="Main street"))
    assert SiteFactory(organization=personas.other_org, name="Main street").pk is not None


# --- Positions -----------------------------------------------------------------------------------


def position_cases(personas: Any) -> dict[str, Any]:
    stage = StageFactory(journey__organization=personas.org)
    touch_point = TouchPointFactory(stage=stage)
    criterion = CriterionFactory(touch_point=touch_point)
    return {"stage": stage, "touch point": touch_point, "criterion": criterion}


@pytest.mark.parametrize("kind", ["stage", "touch point", "criterion"])
def test_an_active_row_must_have_a_position(personas: Any, kind: str) -> None:
    row = position_cases(personas)[kind]

    refused_by_database(lambda: type(row).objects.filter(pk=row.pk).update(position=None))

    row.refresh_from_db()
    assert row.position == 0


@pytest.mark.parametrize("kind", ["stage", "touch point", "criterion"])
def test_an_archived_row_must_not_have_a_position(personas: Any, kind: str) -> None:
    row = position_cases(personas)[kind]

    refused_by_database(
        lambda: type(row).objects.filter(pk=row.pk).update(archived_at=timezone.now())
    )

    row.refresh_from_db()
    assert row.archived_at is None


@pytest.mark.parametrize("kind", ["stage", "touch point", "criterion"])
def test_two_active_siblings_cannot_share_a_position(personas: Any, kind: str) -> None:
    row = position_cases(personas)[kind]
    parent = {"stage": "journey", "touch point": "stage", "criterion": "touch_point"}[kind]
    factory = {
        "stage": StageFactory,
        "touch point": TouchPointFactory,
        "criterion": CriterionFactory,
    }[kind]
    sibling = factory(**{parent: getattr(row, parent)})
    assert sibling.position == 1

    refused_by_database(lambda: type(row).objects.filter(pk=sibling.pk).update(position=0))

    sibling.refresh_from_db()
    assert sibling.position == 1


def test_siblings_may_pass_through_duplicate_positions_inside_a_transaction(personas: Any) -> None:
    """The unique (parent, position) constraints are deferred: a renumbering may swap."""
    first = StageFactory(journey__organization=personas.org)
    second = StageFactory(journey=first.journey)

    with transaction.atomic():
        Stage.objects.filter(pk=second.pk).update(position=0)
        Stage.objects.filter(pk=first.pk).update(position=1)
        connection.check_constraints()

    assert list(Stage.objects.order_by("position").values_list("pk", flat=True)) == [
        second.pk,
        first.pk,
    ]


@pytest.mark.django_db(transaction=True)
def test_two_active_stages_with_the_same_position_fail_at_commit(personas: Any) -> None:
    first = StageFactory(journey__organization=personas.org)
    second = StageFactory(journey=first.journey)

    with pytest.raises(IntegrityError), transaction.atomic():
        Stage.objects.filter(pk=second.pk).update(position=0)
        # Deferred: the duplicate is still allowed here, inside the transaction...
        assert Stage.objects.filter(journey=first.journey, position=0).count() == 2
        # ...and refused when the transaction commits.

    assert sorted(Stage.objects.values_list("position", flat=True)) == [0, 1]


# --- Answers and client keys -------------------------------------------------------------------


def test_a_criterion_is_answered_at_most_once_per_evaluation(personas: Any) -> None:
    answer = AnswerFactory(evaluation__touch_point__stage__journey__organization=personas.org)

    refused_by_database(
        lambda: Answer.objects.create(
            evaluation=answer.evaluation,
            criterion=answer.criterion,
            criterion_version=answer.criterion_version,
            value=5,
        )
    )

    assert Answer.objects.count() == 1


def test_a_client_key_is_used_once_per_organization(personas: Any) -> None:
    first = EvaluationFactory(
        touch_point__stage__journey__organization=personas.org, client_key="k-1"
    )

    refused_by_database(lambda: EvaluationFactory(touch_point=first.touch_point, client_key="k-1"))
    assert Evaluation.objects.count() == 1


def test_the_same_client_key_is_fine_in_another_organization(personas: Any) -> None:
    EvaluationFactory(touch_point__stage__journey__organization=personas.org, client_key="k-1")

    EvaluationFactory(
        touch_point__stage__journey__organization=personas.other_org, client_key="k-1"
    )

    assert Evaluation.objects.filter(client_key="k-1").count() == 2


def test_evaluations_without_a_client_key_do_not_collide(personas: Any) -> None:
    touch_point = TouchPointFactory(stage__journey__organization=personas.org)

    EvaluationFactory.create_batch(2, touch_point=touch_point, client_key=None)

    assert Evaluation.objects.count() == 2


# --- Evaluations are protected from cascading deletes -------------------------------------------


@pytest.fixture
def evaluated(personas: Any) -> Answer:
    """An evaluation (at a site) with one answer, under a full journey map."""
    site = SiteFactory(organization=personas.org)
    return AnswerFactory(
        evaluation__touch_point__stage__journey__organization=personas.org,
        evaluation__site=site,
    )


def facts() -> tuple[int, int, int, int, int]:
    return (
        Evaluation.objects.count(),
        Answer.objects.count(),
        CriterionVersion.objects.count(),
        Criterion.objects.count(),
        TouchPoint.objects.count(),
    )


@pytest.mark.parametrize(
    "delete",
    [
        pytest.param(
            lambda a: TouchPoint.objects.filter(pk=a.evaluation.touch_point_id).delete(),
            id="touch point",
        ),
        pytest.param(
            lambda a: Stage.objects.filter(pk=a.evaluation.touch_point.stage_id).delete(),
            id="stage",
        ),
        pytest.param(
            lambda a: Journey.objects.filter(pk=a.evaluation.journey_id).delete(), id="journey"
        ),
        pytest.param(
            lambda a: Criterion.objects.filter(pk=a.criterion_id).delete(), id="criterion"
        ),
        pytest.param(
            lambda a: CriterionVersion.objects.filter(pk=a.criterion_version_id).delete(),
            id="criterion version",
        ),
        pytest.param(lambda a: a.evaluation.site.delete(), id="site"),
        pytest.param(lambda a: a.evaluation.evaluator.delete(), id="evaluator"),
    ],
)
def test_deleting_what_an_evaluation_hangs_off_is_refused_and_nothing_is_lost(
    evaluated: Answer, delete: Any
) -> None:
    before = facts()

    with pytest.raises((ProtectedError, RestrictedError)), transaction.atomic():
        delete(evaluated)

    assert facts() == before
    assert Answer.objects.get(pk=evaluated.pk).value == 3.0


@pytest.mark.parametrize(
    "table", ["touchpoints_touchpoint", "touchpoints_criterion", "touchpoints_criterionversion"]
)
def test_a_raw_sql_delete_under_an_evaluation_is_refused_by_the_foreign_keys(
    evaluated: Answer, table: str
) -> None:
    row_id = {
        "touchpoints_touchpoint": evaluated.evaluation.touch_point_id,
        "touchpoints_criterion": evaluated.criterion_id,
        "touchpoints_criterionversion": evaluated.criterion_version_id,
    }[table]
    before = facts()

    def write() -> None:
        with connection.cursor() as cursor:
            # The version row points back at its criterion: cut that link first.
            cursor.execute("UPDATE touchpoints_criterion SET current_version_id = NULL")
            cursor.execute(f"DELETE FROM {table} WHERE id = %s", [row_id])  # noqa: S608

    refused_by_database(write)

    assert facts() == before


def test_an_unanswered_current_version_goes_only_with_its_criterion(personas: Any) -> None:
    criterion = CriterionFactory(touch_point__stage__journey__organization=personas.org)

    with pytest.raises(RestrictedError), transaction.atomic():
        CriterionVersion.objects.filter(pk=criterion.current_version_id).delete()

    assert Criterion.objects.get(pk=criterion.pk).current_version_id is not None
    Criterion.objects.filter(pk=criterion.pk).delete()
    assert not CriterionVersion.objects.exists()


def test_an_evaluation_cannot_point_at_a_missing_touch_point(personas: Any) -> None:
    evaluation = EvaluationFactory(touch_point__stage__journey__organization=personas.org)

    refused_by_database(
        lambda: Evaluation.objects.filter(pk=evaluation.pk).update(touch_point_id=10**12)
    )


def test_a_stale_mark_goes_with_its_touch_point(personas: Any) -> None:
    touch_point = TouchPointFactory(stage__journey__organization=personas.org)
    StaleMark.objects.create(touch_point=touch_point)

    TouchPoint.objects.filter(pk=touch_point.pk).delete()

    assert not StaleMark.objects.exists()


def test_an_organization_with_journeys_cannot_be_deleted(personas: Any) -> None:
    JourneyFactory(organization=personas.org)

    with pytest.raises(ProtectedError), transaction.atomic():
        personas.org.delete()

    assert Journey.objects.filter(organization=personas.org).exists()


def test_another_organization_can_be_deleted_with_its_memberships(personas: Any) -> None:
    spare = OrganizationFactory()
    MembershipFactory(organization=spare, role=Role.VIEWER)

    spare.delete()

    assert not Membership.objects.filter(organization_id=spare.pk).exists()
