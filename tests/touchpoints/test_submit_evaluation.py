"""submit_evaluation(s), the one write path for evaluations: what it refuses (all of it at
once, per field, storing nothing), and what it stores when it accepts."""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import pytest
from django.contrib.auth.models import AnonymousUser
from django.core.exceptions import ImproperlyConfigured, ValidationError
from django.db import connection, transaction
from django.utils import timezone

from accounts.models import Role
from journeys.services import archive_stage, delete_journey
from scoring.models import StaleMark
from tests.factories import (
    CriterionFactory,
    EvaluationFactory,
    JourneyFactory,
    MembershipFactory,
    SiteFactory,
    StageFactory,
    TouchPointFactory,
    UserFactory,
)
from touchpoints.models import (
    COMMENT_MAX_LENGTH,
    OBSERVED_AT_CLOCK_SKEW,
    Answer,
    Criterion,
    CriterionKind,
    Evaluation,
    Source,
    TouchPoint,
)
from touchpoints.services import (
    MAX_BATCH,
    AnswerInput,
    BatchValidationError,
    EvaluationInput,
    archive_criterion,
    archive_touch_point,
    submit_evaluation,
    submit_evaluations,
)


@dataclass
class Rubric:
    """A touch point of personas.org with one criterion of each kind."""

    touch_point: TouchPoint
    scale: Criterion  # 1..5
    yes_no: Criterion
    numeric: Criterion  # seconds waiting: target 20, worst 120

    def good(self) -> list[AnswerInput]:
        return [
            AnswerInput(self.scale.pk, 4),
            AnswerInput(self.yes_no.pk, 1),
            AnswerInput(self.numeric.pk, 70),
        ]


@pytest.fixture
def rubric(personas: Any) -> Rubric:
    touch_point = TouchPointFactory(
        stage__journey__organization=personas.org, name="Welcome at the counter"
    )
    return Rubric(
        touch_point=touch_point,
        scale=CriterionFactory(touch_point=touch_point, name="Used the customer's name"),
        yes_no=CriterionFactory(
            touch_point=touch_point, name="Counter was clean", kind=CriterionKind.YES_NO
        ),
        numeric=CriterionFactory(
            touch_point=touch_point,
            name="Seconds waiting",
            kind=CriterionKind.NUMERIC,
            target_value=20,
            worst_value=120,
            unit="s",
        ),
    )


def an_hour_ago() -> datetime:
    return timezone.now() - timedelta(hours=1)


def submit(personas: Any, rubric: Rubric, **overrides: Any) -> Evaluation:
    """The evaluator submits a good evaluation of the rubric's touch point, unless told otherwise."""
    fields: dict[str, Any] = {
        "evaluator": personas.evaluator,
        "organization": personas.org,
        "touch_point_id": rubric.touch_point.pk,
        "source": Source.SUPERVISOR,
        "observed_at": an_hour_ago(),
        "answers": rubric.good(),
    }
    fields.update(overrides)
    return submit_evaluation(**fields)


def item(rubric: Rubric, **overrides: Any) -> EvaluationInput:
    fields: dict[str, Any] = {
        "touch_point_id": rubric.touch_point.pk,
        "source": Source.SUPERVISOR,
        "observed_at": an_hour_ago(),
        "answers": rubric.good(),
    }
    fields.update(overrides)
    return EvaluationInput(**fields)


def stored() -> tuple[int, int, int]:
    return Evaluation.objects.count(), Answer.objects.count(), StaleMark.objects.count()


def refused(personas: Any, rubric: Rubric, **overrides: Any) -> dict[str, list[str]]:
    """Submit, require a refusal that stored nothing, and return its errors by field."""
    before = stored()
    with pytest.raises(ValidationError) as exc:
        submit(personas, rubric, **overrides)
    assert stored() == before, "a refused submission stored something"
    return exc.value.message_dict


# --- Who may evaluate ----------------------------------------------------------------------


@pytest.mark.parametrize("role", ["evaluator", "manager"])
def test_evaluators_and_managers_may_evaluate(personas: Any, rubric: Rubric, role: str) -> None:
    evaluation = submit(personas, rubric, evaluator=getattr(personas, role))

    assert evaluation.evaluator == getattr(personas, role)
    assert Evaluation.objects.filter(pk=evaluation.pk).exists()


def test_viewer_cannot_submit_an_evaluation(personas: Any, rubric: Rubric) -> None:
    errors = refused(personas, rubric, evaluator=personas.viewer)

    assert set(errors) == {"evaluator"}


def test_outsider_cannot_submit_to_an_organization_they_do_not_belong_to(
    personas: Any, rubric: Rubric
) -> None:
    errors = refused(personas, rubric, evaluator=personas.outsider)

    assert set(errors) == {"evaluator"}


def test_outsider_naming_their_own_organization_finds_no_such_touch_point(
    personas: Any, rubric: Rubric
) -> None:
    errors = refused(personas, rubric, evaluator=personas.outsider, organization=personas.other_org)

    assert errors["touch_point"] == ["No such touch point."]


@pytest.mark.parametrize("who", ["no membership", "inactive evaluator", "anonymous"])
def test_someone_who_is_not_an_active_member_cannot_evaluate(
    personas: Any, rubric: Rubric, who: str
) -> None:
    if who == "no membership":
        evaluator: Any = UserFactory()
    elif who == "inactive evaluator":
        evaluator = personas.evaluator
        evaluator.is_active = False
        evaluator.save(update_fields=["is_active"])
    else:
        evaluator = AnonymousUser()

    errors = refused(personas, rubric, evaluator=evaluator)

    assert set(errors) == {"evaluator"}


# --- The touch point and the site ---------------------------------------------------------


def test_a_touch_point_of_another_organization_answers_like_one_that_does_not_exist(
    personas: Any, rubric: Rubric
) -> None:
    foreign = CriterionFactory(touch_point__stage__journey__organization=personas.other_org)

    foreign_errors = refused(
        personas,
        rubric,
        touch_point_id=foreign.touch_point_id,
        answers=[AnswerInput(foreign.pk, 3)],
    )
    missing_errors = refused(
        personas, rubric, touch_point_id=10**12, answers=[AnswerInput(foreign.pk, 3)]
    )

    assert foreign_errors == missing_errors == {"touch_point": ["No such touch point."]}


@pytest.mark.parametrize("touch_point_id", [None, "1", 1.0, True, 0, -1, 2**63])
def test_a_touch_point_id_that_is_not_an_id_is_no_such_touch_point(
    personas: Any, rubric: Rubric, touch_point_id: Any
) -> None:
    errors = refused(personas, rubric, touch_point_id=touch_point_id)

    assert errors["touch_point"] == ["No such touch point."]


def test_a_site_of_another_organization_answers_like_one_that_does_not_exist(
    personas: Any, rubric: Rubric
) -> None:
    foreign = SiteFactory(organization=personas.other_org)

    foreign_errors = refused(personas, rubric, site_id=foreign.pk)
    missing_errors = refused(personas, rubric, site_id=10**12)

    assert foreign_errors == missing_errors == {"site": ["No such site."]}


def test_a_site_of_the_organization_is_stored(personas: Any, rubric: Rubric) -> None:
    site = SiteFactory(organization=personas.org)

    evaluation = submit(personas, rubric, site_id=site.pk)

    assert evaluation.site_id == site.pk


def archive_the_touch_point(personas: Any, rubric: Rubric) -> None:
    archive_touch_point(actor=personas.manager, touch_point=rubric.touch_point)


def archive_its_stage(personas: Any, rubric: Rubric) -> None:
    archive_stage(actor=personas.manager, stage=rubric.touch_point.stage)


def archive_its_journey(personas: Any, rubric: Rubric) -> None:
    submit(personas, rubric)  # so that deleting the journey archives it
    assert delete_journey(actor=personas.manager, journey=rubric.touch_point.journey) is False


@pytest.mark.parametrize(
    "archive", [archive_the_touch_point, archive_its_stage, archive_its_journey]
)
def test_nothing_archived_takes_new_evaluations(
    personas: Any, rubric: Rubric, archive: Any
) -> None:
    archive(personas, rubric)

    errors = refused(personas, rubric)

    assert set(errors) == {"touch_point"}
    assert "archived" in errors["touch_point"][0]


def test_a_touch_point_without_active_criteria_takes_no_evaluation(personas: Any) -> None:
    touch_point = TouchPointFactory(stage__journey__organization=personas.org)
    criterion = CriterionFactory(touch_point=touch_point)
    archive_criterion(actor=personas.manager, criterion=criterion)
    rubric = Rubric(touch_point, criterion, criterion, criterion)

    errors = refused(personas, rubric, answers=[])

    assert set(errors) == {"answers"}


# --- Answers -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "value"),
    [
        ("scale", 0),
        ("scale", 6),
        ("scale", 2.5),
        ("scale", -1),
        ("scale", "3"),
        ("scale", True),
        ("scale", False),
        ("scale", math.nan),
        ("yes_no", 2),
        ("yes_no", 0.5),
        ("yes_no", -1),
        ("yes_no", "1"),
        ("yes_no", True),
        ("numeric", math.nan),
        ("numeric", math.inf),
        ("numeric", -math.inf),
        ("numeric", 10**400),  # an int no float can hold: refused, not an OverflowError
        ("scale", 10**400),
        ("numeric", "12"),
        ("numeric", [12]),
        ("numeric", False),
    ],
)
def test_a_value_that_does_not_fit_its_criterion_is_refused(
    personas: Any, rubric: Rubric, kind: str, value: Any
) -> None:
    criterion = getattr(rubric, kind)
    answers = [
        a if a.criterion_id != criterion.pk else AnswerInput(a.criterion_id, value)
        for a in rubric.good()
    ]
    index = [a.criterion_id for a in answers].index(criterion.pk)

    errors = refused(personas, rubric, answers=answers)

    assert set(errors) == {f"answers[{index}].value"}
    assert criterion.name in errors[f"answers[{index}].value"][0]


@pytest.mark.parametrize(
    ("kind", "value"),
    [
        ("scale", 1),
        ("scale", 5),
        ("scale", 3.0),
        ("yes_no", 0),
        ("yes_no", 1),
        ("yes_no", 1.0),
        ("numeric", 0),
        ("numeric", -12.5),
        ("numeric", 10**9),
        ("numeric", 1e-9),
        ("numeric", 1.7e308),
    ],
)
def test_a_value_that_fits_its_criterion_is_stored(
    personas: Any, rubric: Rubric, kind: str, value: Any
) -> None:
    criterion = getattr(rubric, kind)

    evaluation = submit(personas, rubric, answers=[AnswerInput(criterion.pk, value)])

    assert evaluation.answers.get().value == float(value)


def test_not_applicable_is_stored_as_null(personas: Any, rubric: Rubric) -> None:
    evaluation = submit(
        personas,
        rubric,
        answers=[AnswerInput(rubric.scale.pk, None), AnswerInput(rubric.yes_no.pk, 1)],
    )

    assert evaluation.answers.get(criterion=rubric.scale).value is None


def test_a_criterion_of_another_touch_point_is_refused(personas: Any, rubric: Rubric) -> None:
    elsewhere = CriterionFactory(touch_point__stage__journey__organization=personas.org)

    errors = refused(
        personas, rubric, answers=[AnswerInput(rubric.scale.pk, 3), AnswerInput(elsewhere.pk, 3)]
    )

    assert errors == {"answers[1].criterion": ["Not an active criterion of this touch point."]}


def test_a_criterion_of_another_organization_is_refused_like_a_missing_one(
    personas: Any, rubric: Rubric
) -> None:
    foreign = CriterionFactory(touch_point__stage__journey__organization=personas.other_org)

    foreign_errors = refused(personas, rubric, answers=[AnswerInput(foreign.pk, 3)])
    missing_errors = refused(personas, rubric, answers=[AnswerInput(10**12, 3)])

    assert foreign_errors == missing_errors


def test_an_archived_criterion_is_refused(personas: Any, rubric: Rubric) -> None:
    archive_criterion(actor=personas.manager, criterion=rubric.yes_no)

    errors = refused(personas, rubric)

    assert errors == {"answers[1].criterion": ["Not an active criterion of this touch point."]}


@pytest.mark.parametrize("criterion_id", [None, "1", True, 0, -5])
def test_an_answer_without_a_criterion_id_is_refused(
    personas: Any, rubric: Rubric, criterion_id: Any
) -> None:
    errors = refused(personas, rubric, answers=[AnswerInput(criterion_id, 1)])

    assert set(errors) == {"answers[0].criterion"}


def test_answering_a_criterion_twice_is_refused(personas: Any, rubric: Rubric) -> None:
    errors = refused(
        personas,
        rubric,
        answers=[AnswerInput(rubric.scale.pk, 4), AnswerInput(rubric.scale.pk, 5)],
    )

    assert set(errors) == {"answers[1].criterion"}
    assert "more than once" in errors["answers[1].criterion"][0]


@pytest.fixture
def critical(rubric: Rubric) -> Criterion:
    return CriterionFactory(
        touch_point=rubric.touch_point,
        name="Bill was correct",
        kind=CriterionKind.YES_NO,
        critical=True,
    )


@pytest.mark.parametrize("how", ["missing", "not applicable"])
def test_a_critical_criterion_cannot_be_left_blank(
    personas: Any, rubric: Rubric, critical: Criterion, how: str
) -> None:
    answers = rubric.good() + ([AnswerInput(critical.pk, None)] if how != "missing" else [])

    errors = refused(personas, rubric, answers=answers)

    assert set(errors) == {"answers"}
    assert "'Bill was correct' is critical" in errors["answers"][0]


def test_a_critical_criterion_answered_is_accepted(
    personas: Any, rubric: Rubric, critical: Criterion
) -> None:
    evaluation = submit(personas, rubric, answers=[*rubric.good(), AnswerInput(critical.pk, 1)])

    assert evaluation.answers.count() == 4


def test_answers_that_are_not_a_list_are_refused(personas: Any, rubric: Rubric) -> None:
    before = stored()

    with pytest.raises(ValidationError) as exc:
        submit_evaluations(
            evaluator=personas.evaluator,
            organization=personas.org,
            items=[item(rubric, answers={"scale": 3})],
        )

    assert set(exc.value.message_dict) == {"items[0].answers"}
    assert stored() == before


# --- Time, source, comment and client key -------------------------------------------------


@pytest.mark.parametrize(
    "observed_at",
    [
        pytest.param(
            lambda: timezone.now() + OBSERVED_AT_CLOCK_SKEW + timedelta(minutes=1),
            id="after the skew",
        ),
        pytest.param(lambda: timezone.now() + timedelta(days=1), id="tomorrow"),
        pytest.param(lambda: datetime(2026, 1, 1, 12, 0), id="naive"),  # noqa: DTZ001
        pytest.param(lambda: timezone.now().isoformat(), id="text"),
        pytest.param(lambda: timezone.now().date(), id="a date"),
        pytest.param(lambda: None, id="missing"),
    ],
)
def test_an_observed_time_in_the_future_or_without_a_time_zone_is_refused(
    personas: Any, rubric: Rubric, observed_at: Any
) -> None:
    errors = refused(personas, rubric, observed_at=observed_at())

    assert set(errors) == {"observed_at"}


def test_an_observed_time_a_little_ahead_of_the_server_clock_is_accepted(
    personas: Any, rubric: Rubric
) -> None:
    """Phones' clocks drift: up to OBSERVED_AT_CLOCK_SKEW ahead is taken as now."""
    ahead = timezone.now() + OBSERVED_AT_CLOCK_SKEW - timedelta(seconds=30)

    evaluation = submit(personas, rubric, observed_at=ahead)

    assert evaluation.observed_at == ahead


@pytest.mark.parametrize("source", ["", "phone", None, "SUPERVISOR"])
def test_an_unknown_source_is_refused(personas: Any, rubric: Rubric, source: Any) -> None:
    errors = refused(personas, rubric, source=source)

    assert set(errors) == {"source"}


@pytest.mark.parametrize(
    "comment",
    ["x" * (COMMENT_MAX_LENGTH + 1), "fine\x00", 42],
    ids=["too long", "NUL", "not text"],
)
def test_a_bad_comment_is_refused(personas: Any, rubric: Rubric, comment: Any) -> None:
    errors = refused(personas, rubric, comment=comment)

    assert set(errors) == {"comment"}


def test_a_comment_of_the_maximum_length_is_stored(personas: Any, rubric: Rubric) -> None:
    evaluation = submit(personas, rubric, comment="x" * COMMENT_MAX_LENGTH)

    evaluation.refresh_from_db()
    assert len(evaluation.comment) == COMMENT_MAX_LENGTH


@pytest.mark.parametrize(
    "client_key", ["", "k" * 201, 12, "key\x00"], ids=["empty", "too long", "number", "NUL"]
)
def test_a_bad_client_key_is_refused(personas: Any, rubric: Rubric, client_key: Any) -> None:
    errors = refused(personas, rubric, client_key=client_key)

    assert set(errors) == {"client_key"}


def test_a_client_key_already_used_in_the_organization_is_refused(
    personas: Any, rubric: Rubric
) -> None:
    first = submit(personas, rubric, client_key="survey-123")

    errors = refused(personas, rubric, client_key="survey-123")

    assert set(errors) == {"client_key"}
    assert list(Evaluation.objects.values_list("pk", flat=True)) == [first.pk]


def test_the_same_client_key_in_another_organization_is_fine(personas: Any, rubric: Rubric) -> None:
    submit(personas, rubric, client_key="survey-123")
    foreign = CriterionFactory(touch_point__stage__journey__organization=personas.other_org)

    theirs = submit_evaluation(
        evaluator=personas.outsider,
        organization=personas.other_org,
        touch_point_id=foreign.touch_point_id,
        source=Source.AUDIT,
        observed_at=an_hour_ago(),
        answers=[AnswerInput(foreign.pk, 5)],
        client_key="survey-123",
    )

    assert theirs.client_key == "survey-123"
    assert Evaluation.objects.filter(client_key="survey-123").count() == 2


def test_a_client_key_twice_in_one_batch_is_refused_and_nothing_is_stored(
    personas: Any, rubric: Rubric
) -> None:
    with pytest.raises(BatchValidationError) as exc:
        submit_evaluations(
            evaluator=personas.evaluator,
            organization=personas.org,
            items=[item(rubric, client_key="k-1"), item(rubric, client_key="k-1")],
        )

    assert exc.value.item_errors == {
        1: {"client_key": ["An evaluation with this client key was already submitted."]}
    }
    assert stored() == (0, 0, 0)


@pytest.mark.django_db(transaction=True)
def test_a_client_key_taken_by_a_concurrent_submission_is_refused_not_crashed(
    personas: Any, rubric: Rubric, recompute_requests: Any
) -> None:
    """Another transaction holds an uncommitted evaluation with the key while this one
    checks: the check passes, the insert then meets the unique index. Whether this
    submission reaches its insert before or after the other commits, it must be
    refused with the same field error, not fail with an IntegrityError."""
    inserted, submitted = threading.Event(), threading.Event()
    failures: list[BaseException] = []

    def hold_the_key() -> None:
        try:
            with transaction.atomic():
                EvaluationFactory(
                    touch_point=rubric.touch_point,
                    evaluator=personas.manager,
                    client_key="retry-1",
                )
                inserted.set()
                submitted.wait(timeout=1)  # commits while the other insert waits on it
        except BaseException as exc:
            failures.append(exc)
        finally:
            connection.close()

    thread = threading.Thread(target=hold_the_key)
    thread.start()
    assert inserted.wait(timeout=10)
    try:
        with pytest.raises(ValidationError) as exc:
            submit(personas, rubric, client_key="retry-1")
    finally:
        submitted.set()
        thread.join(timeout=10)

    assert failures == []
    assert set(exc.value.message_dict) == {"client_key"}
    assert Evaluation.objects.filter(client_key="retry-1").count() == 1
    assert Answer.objects.count() == 0
    assert StaleMark.objects.count() == 0


# --- All problems at once ---------------------------------------------------------------


def test_every_problem_of_one_evaluation_is_reported_at_once(
    personas: Any, rubric: Rubric, critical: Criterion
) -> None:
    submit(personas, rubric, client_key="taken", answers=[AnswerInput(critical.pk, 1)])

    errors = refused(
        personas,
        rubric,
        source="telepathy",
        observed_at=timezone.now() + timedelta(days=2),
        site_id=10**12,
        comment="\x00",
        client_key="taken",
        answers=[
            AnswerInput(rubric.scale.pk, 9),
            AnswerInput(rubric.scale.pk, 3),
            AnswerInput(10**12, 1),
            AnswerInput(rubric.yes_no.pk, 0.5),
        ],
    )

    assert set(errors) == {
        "source",
        "observed_at",
        "site",
        "comment",
        "client_key",
        "answers[0].value",
        "answers[1].criterion",
        "answers[2].criterion",
        "answers[3].value",
        "answers",  # the critical criterion left blank
    }


@pytest.mark.parametrize("size", [0, MAX_BATCH + 1])
def test_a_batch_of_none_or_too_many_is_refused(personas: Any, rubric: Rubric, size: int) -> None:
    with pytest.raises(ValidationError) as exc:
        submit_evaluations(
            evaluator=personas.evaluator,
            organization=personas.org,
            items=[item(rubric) for _ in range(size)],
        )

    assert set(exc.value.message_dict) == {"items"}
    assert stored() == (0, 0, 0)


def test_a_batch_of_the_maximum_size_is_stored(personas: Any, rubric: Rubric) -> None:
    evaluations = submit_evaluations(
        evaluator=personas.evaluator,
        organization=personas.org,
        items=[item(rubric, client_key=f"row-{i}") for i in range(MAX_BATCH)],
    )

    assert len(evaluations) == MAX_BATCH
    assert stored() == (MAX_BATCH, 3 * MAX_BATCH, 1)


def test_a_batch_with_bad_items_0_and_2_reports_both_and_stores_nothing(
    personas: Any, rubric: Rubric
) -> None:
    items = [
        item(rubric, source="rumour"),
        item(rubric),
        item(rubric, answers=[AnswerInput(rubric.yes_no.pk, 2)], comment="x\x00"),
        item(rubric),
    ]

    with pytest.raises(BatchValidationError) as exc:
        submit_evaluations(evaluator=personas.evaluator, organization=personas.org, items=items)

    assert set(exc.value.item_errors) == {0, 2}
    assert set(exc.value.item_errors[0]) == {"source"}
    assert set(exc.value.item_errors[2]) == {"answers[0].value", "comment"}
    assert set(exc.value.message_dict) == {
        "items[0].source",
        "items[2].answers[0].value",
        "items[2].comment",
    }
    assert stored() == (0, 0, 0)


# --- What is stored -----------------------------------------------------------------------


def test_an_accepted_evaluation_is_stored_with_its_answers_under_the_current_rubric(
    personas: Any, rubric: Rubric
) -> None:
    site = SiteFactory(organization=personas.org)
    observed = an_hour_ago()
    before = timezone.now()

    evaluation = submit(
        personas,
        rubric,
        source=Source.MYSTERY_SHOPPER,
        observed_at=observed,
        site_id=site.pk,
        comment="  Friendly, but the queue was long.  ",
        client_key="shop-7",
    )

    evaluation = Evaluation.objects.get(pk=evaluation.pk)
    assert evaluation.organization_id == personas.org.pk
    assert evaluation.journey_id == rubric.touch_point.journey_id
    assert evaluation.touch_point_id == rubric.touch_point.pk
    assert evaluation.evaluator == personas.evaluator
    assert evaluation.source == Source.MYSTERY_SHOPPER
    assert evaluation.site_id == site.pk
    assert evaluation.observed_at == observed
    assert before <= evaluation.submitted_at <= timezone.now()
    assert evaluation.comment == "Friendly, but the queue was long."
    assert evaluation.client_key == "shop-7"
    assert evaluation.rubric_version == rubric.touch_point.rubric_version
    answers = {a.criterion_id: a for a in evaluation.answers.all()}
    assert {pk: a.value for pk, a in answers.items()} == {
        rubric.scale.pk: 4.0,
        rubric.yes_no.pk: 1.0,
        rubric.numeric.pk: 70.0,
    }
    for criterion in (rubric.scale, rubric.yes_no, rubric.numeric):
        assert answers[criterion.pk].criterion_version_id == criterion.current_version_id


def test_the_evaluation_keeps_the_touch_points_rubric_version_of_the_moment(
    personas: Any, rubric: Rubric
) -> None:
    TouchPoint.objects.filter(pk=rubric.touch_point.pk).update(rubric_version=7)

    evaluation = submit(personas, rubric)

    assert evaluation.rubric_version == 7


@pytest.mark.parametrize(
    ("rubric_fields", "value", "expected"),
    [
        ({"kind": "scale", "scale_size": 5}, 4, 75.0),
        ({"kind": "scale", "scale_size": 5}, 1, 0.0),
        ({"kind": "scale", "scale_size": 5}, 5, 100.0),
        ({"kind": "scale", "scale_size": 3}, 2, 50.0),
        ({"kind": "scale", "scale_size": 11}, 3, 20.0),
        ({"kind": "yes_no"}, 1, 100.0),
        ({"kind": "yes_no"}, 0, 0.0),
        ({"kind": "numeric", "target_value": 20, "worst_value": 120}, 70, 50.0),
        ({"kind": "numeric", "target_value": 20, "worst_value": 120}, 5, 100.0),
        ({"kind": "numeric", "target_value": 20, "worst_value": 120}, 20, 100.0),
        ({"kind": "numeric", "target_value": 20, "worst_value": 120}, 500, 0.0),
        ({"kind": "numeric", "target_value": 90, "worst_value": 50}, 80, 75.0),
        ({"kind": "numeric", "target_value": 90, "worst_value": 50}, 10, 0.0),
        ({"kind": "numeric", "target_value": 90, "worst_value": 50}, 95, 100.0),
        # Far past either end: clipped, not an overflow.
        ({"kind": "numeric", "target_value": 0, "worst_value": 0.5}, -1e308, 100.0),
        ({"kind": "numeric", "target_value": 0, "worst_value": 0.5}, 1.7e308, 0.0),
        ({"kind": "numeric", "target_value": 0.5, "worst_value": 0}, 1.7e308, 100.0),
    ],
)
def test_answer_and_evaluation_scores_follow_the_method(
    personas: Any, rubric_fields: dict[str, Any], value: float, expected: float
) -> None:
    criterion = CriterionFactory(
        touch_point__stage__journey__organization=personas.org, **rubric_fields
    )

    evaluation = submit_evaluation(
        evaluator=personas.evaluator,
        organization=personas.org,
        touch_point_id=criterion.touch_point_id,
        source=Source.SELF_CHECK,
        observed_at=an_hour_ago(),
        answers=[AnswerInput(criterion.pk, value)],
    )

    evaluation.refresh_from_db()
    assert evaluation.answers.get().score == pytest.approx(expected)
    assert evaluation.score == pytest.approx(expected)


@pytest.mark.parametrize(
    ("answers", "expected"),
    [
        # weights: scale 3, yes_no 1, numeric 1 (not critical)
        ({"scale": 4, "yes_no": 1, "numeric": 70}, (75 * 3 + 100 + 50) / 5),
        ({"scale": 5, "yes_no": 0}, (100 * 3 + 0) / 4),
        # not applicable is left out and the weights renormalised over the rest
        ({"scale": None, "yes_no": 1, "numeric": 120}, (100 + 0) / 2),
        ({"scale": 2, "yes_no": None, "numeric": None}, 25.0),
        # no applicable answer: no score at all
        ({"scale": None, "yes_no": None, "numeric": None}, None),
        ({}, None),
    ],
)
def test_the_evaluation_score_is_the_weighted_mean_of_applicable_answers(
    personas: Any, answers: dict[str, Any], expected: float | None
) -> None:
    touch_point = TouchPointFactory(stage__journey__organization=personas.org)
    criteria = {
        "scale": CriterionFactory(touch_point=touch_point, weight=3),
        "yes_no": CriterionFactory(touch_point=touch_point, kind=CriterionKind.YES_NO),
        "numeric": CriterionFactory(
            touch_point=touch_point, kind=CriterionKind.NUMERIC, target_value=20, worst_value=120
        ),
    }

    evaluation = submit_evaluation(
        evaluator=personas.evaluator,
        organization=personas.org,
        touch_point_id=touch_point.pk,
        source=Source.AUDIT,
        observed_at=an_hour_ago(),
        answers=[AnswerInput(criteria[name].pk, value) for name, value in answers.items()],
    )

    evaluation.refresh_from_db()
    if expected is None:
        assert evaluation.score is None
    else:
        assert evaluation.score == pytest.approx(expected)


@pytest.mark.parametrize(
    ("critical_value", "expected"),
    [(0, 0.0), (1, (100 + 100 + 100) / 3)],
    ids=["failed: knocks the evaluation out", "passed: counts like any other"],
)
def test_a_failed_critical_criterion_scores_the_evaluation_0(
    personas: Any, rubric: Rubric, critical: Criterion, critical_value: int, expected: float
) -> None:
    evaluation = submit(
        personas,
        rubric,
        answers=[
            AnswerInput(rubric.scale.pk, 5),
            AnswerInput(rubric.yes_no.pk, 1),
            AnswerInput(critical.pk, critical_value),
        ],
    )

    evaluation.refresh_from_db()
    assert evaluation.score == pytest.approx(expected)


def test_a_critical_numeric_criterion_at_its_worst_knocks_the_evaluation_out(
    personas: Any, rubric: Rubric
) -> None:
    critical = CriterionFactory(
        touch_point=rubric.touch_point,
        kind=CriterionKind.NUMERIC,
        target_value=1,
        worst_value=10,
        critical=True,
    )

    evaluation = submit(
        personas,
        rubric,
        answers=[AnswerInput(rubric.scale.pk, 5), AnswerInput(critical.pk, 12)],
    )

    evaluation.refresh_from_db()
    assert evaluation.score == 0.0


# --- Stale marks ---------------------------------------------------------------------------


def test_a_batch_marks_each_distinct_touch_point_stale_exactly_once(
    personas: Any,
    rubric: Rubric,
    django_capture_on_commit_callbacks: Any,
    recompute_requests: list[list[int]],
) -> None:
    other = CriterionFactory(touch_point__stage=rubric.touch_point.stage, kind=CriterionKind.YES_NO)

    with django_capture_on_commit_callbacks(execute=True):
        submit_evaluations(
            evaluator=personas.evaluator,
            organization=personas.org,
            items=[
                item(rubric),
                item(
                    rubric, touch_point_id=other.touch_point_id, answers=[AnswerInput(other.pk, 1)]
                ),
                item(rubric),
            ],
        )

    marked = sorted(StaleMark.objects.values_list("touch_point_id", flat=True))
    assert marked == sorted([rubric.touch_point.pk, other.touch_point_id])
    assert recompute_requests == [sorted([rubric.touch_point.pk, other.touch_point_id])]


def test_the_recompute_is_requested_only_after_commit(
    personas: Any,
    rubric: Rubric,
    django_capture_on_commit_callbacks: Any,
    recompute_requests: list[list[int]],
) -> None:
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        submit(personas, rubric)

    assert recompute_requests == []
    assert StaleMark.objects.filter(touch_point=rubric.touch_point).count() == 1
    assert len(callbacks) == 1


def test_stale_marks_are_written_in_the_same_transaction_as_the_evaluations(
    personas: Any, rubric: Rubric, monkeypatch: pytest.MonkeyPatch
) -> None:
    """If anything fails after the marks are written, the evaluations go with them."""
    import scoring.services

    real_mark_stale = scoring.services.mark_stale

    def mark_then_fail(ids: Any) -> None:
        real_mark_stale(ids)
        assert StaleMark.objects.count() == 1
        raise RuntimeError("the database went away")

    monkeypatch.setattr(scoring.services, "mark_stale", mark_then_fail)

    with pytest.raises(RuntimeError):
        submit(personas, rubric)

    assert stored() == (0, 0, 0)


def test_a_submission_no_app_receives_is_refused_and_stores_nothing(
    personas: Any, rubric: Rubric, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without scoring's receiver (touchpoints.hooks) the scores would never reach the
    rollups or a recompute: the submission is refused, not stored half-done."""
    import touchpoints.hooks

    monkeypatch.setattr(touchpoints.hooks, "_receivers", {})

    with pytest.raises(ImproperlyConfigured):
        submit(personas, rubric)

    assert stored() == (0, 0, 0)


def test_a_new_member_may_evaluate_once_added(personas: Any, rubric: Rubric) -> None:
    newcomer = UserFactory()
    refused(personas, rubric, evaluator=newcomer)
    MembershipFactory(user=newcomer, organization=personas.org, role=Role.EVALUATOR)

    assert submit(personas, rubric, evaluator=newcomer).evaluator == newcomer


def test_evaluations_of_a_draft_journey_are_accepted(personas: Any) -> None:
    journey = JourneyFactory(organization=personas.org, status="draft")
    criterion = CriterionFactory(touch_point__stage=StageFactory(journey=journey))

    evaluation = submit_evaluation(
        evaluator=personas.evaluator,
        organization=personas.org,
        touch_point_id=criterion.touch_point_id,
        source=Source.SELF_CHECK,
        observed_at=an_hour_ago(),
        answers=[AnswerInput(criterion.pk, 3)],
    )

    assert evaluation.journey_id == journey.pk


@pytest.mark.django_db
def test_an_archived_site_takes_no_new_evaluations(personas: Any) -> None:
    touch_point = TouchPointFactory(stage__journey__organization=personas.org)
    criterion = CriterionFactory(touch_point=touch_point)
    site = SiteFactory(organization=personas.org, archived_at=timezone.now())
    with pytest.raises(ValidationError) as refused:
        submit_evaluation(
            evaluator=personas.evaluator,
            organization=personas.org,
            touch_point_id=touch_point.pk,
            source="supervisor",
            observed_at=timezone.now(),
            answers=[AnswerInput(criterion.pk, 3)],
            site_id=site.pk,
        )
    assert refused.value.message_dict["site"] == [
        "This site is archived and takes no new evaluations."
    ]
    assert not Evaluation.objects.exists()
