"""Evaluations keep the rubric they were made under: a criterion's rubric change after
answers exist makes a new CriterionVersion, and never changes what stored answers mean
or score."""

from __future__ import annotations

import math
from datetime import timedelta
from typing import Any

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from scoring.sql import rescore_journey
from tests.factories import CriterionFactory, TouchPointFactory
from touchpoints.models import (
    Answer,
    Criterion,
    CriterionKind,
    CriterionVersion,
    Evaluation,
    Source,
    TouchPoint,
)
from touchpoints.services import (
    AnswerInput,
    archive_criterion,
    create_criterion,
    delete_criterion,
    restore_criterion,
    submit_evaluation,
    update_criterion,
)


def evaluate(personas: Any, touch_point: TouchPoint, answers: dict[Criterion, Any]) -> Evaluation:
    evaluation = submit_evaluation(
        evaluator=personas.evaluator,
        organization=personas.org,
        touch_point_id=touch_point.pk,
        source=Source.SUPERVISOR,
        observed_at=timezone.now() - timedelta(hours=1),
        answers=[AnswerInput(c.pk, v) for c, v in answers.items()],
    )
    evaluation.refresh_from_db()
    return evaluation


def rubric_version(touch_point: TouchPoint) -> int:
    return TouchPoint.objects.values_list("rubric_version", flat=True).get(pk=touch_point.pk)


@pytest.fixture
def touch_point(personas: Any) -> TouchPoint:
    return TouchPointFactory(stage__journey__organization=personas.org)


@pytest.fixture
def greeting(personas: Any, touch_point: TouchPoint) -> Criterion:
    """A scale 1..5 criterion, made through the service as a manager would."""
    return create_criterion(
        actor=personas.manager, touch_point=touch_point, name="Greeting", kind="scale"
    )


@pytest.fixture
def clean(personas: Any, touch_point: TouchPoint) -> Criterion:
    return create_criterion(
        actor=personas.manager, touch_point=touch_point, name="Counter clean", kind="yes_no"
    )


@pytest.fixture
def answered(personas: Any, touch_point: TouchPoint, greeting: Criterion, clean: Criterion) -> Any:
    """One evaluation: greeting 4 of 5 (75), counter clean (100); equal weights: 87.5."""
    evaluation = evaluate(personas, touch_point, {greeting: 4, clean: 1})
    assert evaluation.score == pytest.approx(87.5)
    return evaluation


def scores_of(evaluation: Evaluation) -> tuple[float | None, dict[int, tuple[int, float | None]]]:
    evaluation.refresh_from_db()
    return evaluation.score, {
        a.criterion_id: (a.criterion_version_id, a.score) for a in evaluation.answers.all()
    }


# --- A change after answers exist makes a new version --------------------------------------


@pytest.mark.parametrize(
    ("change", "new_answer", "new_answer_score"),
    [
        ({"weight": 3.0}, 4, 75.0),
        ({"scale_size": 3}, 3, 100.0),
        ({"scale_size": 7, "scale_labels": []}, 4, 50.0),
        ({"kind": "yes_no"}, 1, 100.0),
        ({"kind": "numeric", "target_value": 10, "worst_value": 60}, 35, 50.0),
        ({"critical": True}, 1, 0.0),
    ],
    ids=["weight", "scale smaller", "scale larger", "kind yes_no", "kind numeric", "critical"],
)
def test_a_rubric_change_after_answers_makes_a_new_version_and_old_answers_keep_theirs(
    personas: Any,
    touch_point: TouchPoint,
    greeting: Criterion,
    clean: Criterion,
    answered: Evaluation,
    change: dict[str, Any],
    new_answer: Any,
    new_answer_score: float,
) -> None:
    old_version = greeting.current_version_id
    old_scores = scores_of(answered)
    old_rubric_version = rubric_version(touch_point)

    updated = update_criterion(actor=personas.manager, criterion=greeting, data=change)

    assert updated.current_version_id != old_version
    assert list(greeting.versions.values_list("number", flat=True)) == [1, 2]
    new = CriterionVersion.objects.get(pk=updated.current_version_id)
    for field, value in change.items():
        assert getattr(new, field) == value
    # The old version is untouched and still carries the old answers and their scores.
    old = CriterionVersion.objects.get(pk=old_version)
    assert (old.kind, old.scale_size, old.weight, old.critical) == ("scale", 5, 1.0, False)
    assert scores_of(answered) == old_scores
    assert rubric_version(touch_point) == old_rubric_version + 1
    assert answered.rubric_version == old_rubric_version
    # Re-deriving every stored score (a full rescore) still reads each answer's own version.
    rescore_journey(touch_point.journey_id)
    assert scores_of(answered) == old_scores

    # A new submission is made under the new version.
    answer_clean = 0 if change.get("critical") else 1
    fresh = evaluate(personas, touch_point, {updated: new_answer, clean: answer_clean})
    fresh_answer = fresh.answers.get(criterion=greeting)
    assert fresh_answer.criterion_version_id == updated.current_version_id
    assert fresh_answer.score == pytest.approx(new_answer_score)
    assert fresh.rubric_version == old_rubric_version + 1


def test_a_new_weight_counts_for_new_evaluations_only(
    personas: Any, touch_point: TouchPoint, greeting: Criterion, clean: Criterion, answered: Any
) -> None:
    update_criterion(actor=personas.manager, criterion=greeting, data={"weight": 3.0})

    fresh = evaluate(personas, touch_point, {greeting: 4, clean: 1})

    assert fresh.score == pytest.approx((75 * 3 + 100) / 4)
    answered.refresh_from_db()
    assert answered.score == pytest.approx(87.5)


def test_a_value_valid_only_under_the_old_scale_is_refused_after_the_change(
    personas: Any, touch_point: TouchPoint, greeting: Criterion, clean: Criterion, answered: Any
) -> None:
    update_criterion(actor=personas.manager, criterion=greeting, data={"scale_size": 3})

    with pytest.raises(ValidationError) as exc:
        evaluate(personas, touch_point, {greeting: 4, clean: 1})

    assert set(exc.value.message_dict) == {"answers[0].value"}
    assert Evaluation.objects.count() == 1


def test_making_a_criterion_critical_does_not_knock_out_earlier_evaluations(
    personas: Any, touch_point: TouchPoint, greeting: Criterion, clean: Criterion
) -> None:
    earlier = evaluate(personas, touch_point, {greeting: 5, clean: 0})
    assert earlier.score == pytest.approx(50.0)

    update_criterion(actor=personas.manager, criterion=clean, data={"critical": True})
    rescore_journey(touch_point.journey_id)

    earlier.refresh_from_db()
    assert earlier.score == pytest.approx(50.0)
    later = evaluate(personas, touch_point, {greeting: 5, clean: 0})
    assert later.score == 0.0


def test_versions_keep_counting_up(
    personas: Any, touch_point: TouchPoint, greeting: Criterion, clean: Criterion
) -> None:
    for weight in (2.0, 3.0, 4.0):
        evaluate(personas, touch_point, {greeting: 3, clean: 1})
        update_criterion(actor=personas.manager, criterion=greeting, data={"weight": weight})

    assert list(greeting.versions.values_list("number", "weight")) == [
        (1, 1.0),
        (2, 2.0),
        (3, 3.0),
        (4, 4.0),
    ]
    assert sorted(
        Answer.objects.filter(criterion=greeting).values_list(
            "criterion_version__number", flat=True
        )
    ) == [1, 2, 3]


# --- Without answers the rubric is edited in place -----------------------------------------


@pytest.mark.parametrize(
    "change",
    [
        {"weight": 2.5},
        {"scale_size": 4},
        {"kind": "yes_no"},
        {"kind": "numeric", "target_value": 0, "worst_value": 300, "unit": "s"},
        {"critical": True},
    ],
)
def test_an_unanswered_rubric_is_edited_in_place(
    personas: Any, touch_point: TouchPoint, greeting: Criterion, change: dict[str, Any]
) -> None:
    version = greeting.current_version_id
    before = rubric_version(touch_point)

    updated = update_criterion(actor=personas.manager, criterion=greeting, data=change)

    assert updated.current_version_id == version
    assert greeting.versions.count() == 1
    edited = CriterionVersion.objects.get(pk=version)
    for field, value in change.items():
        assert getattr(edited, field) == value
    # The touch point's rubric did change, answered or not.
    assert rubric_version(touch_point) == before + 1


def test_answers_to_another_criterion_do_not_force_a_new_version(
    personas: Any, touch_point: TouchPoint, greeting: Criterion, clean: Criterion
) -> None:
    evaluate(personas, touch_point, {clean: 1})

    update_criterion(actor=personas.manager, criterion=greeting, data={"weight": 2.0})

    assert greeting.versions.count() == 1


@pytest.mark.parametrize(
    "change",
    [{"name": "Greeted warmly"}, {"description": "Said hello within 10 s."}, {"weight": 1.0}],
    ids=["rename", "describe", "same weight"],
)
def test_a_change_that_is_not_a_rubric_change_makes_no_version(
    personas: Any,
    touch_point: TouchPoint,
    greeting: Criterion,
    clean: Criterion,
    answered: Any,
    change: dict[str, Any],
) -> None:
    before = rubric_version(touch_point)

    updated = update_criterion(actor=personas.manager, criterion=greeting, data=change)

    assert greeting.versions.count() == 1
    assert updated.current_version_id == greeting.current_version_id
    assert rubric_version(touch_point) == before
    stored = Criterion.objects.get(pk=greeting.pk)
    for field in ("name", "description"):
        if field in change:
            assert getattr(stored, field) == change[field]


# --- Refused rubric changes ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"weight": 0}, "weight"),
        ({"weight": -1.5}, "weight"),
        ({"weight": math.nan}, "weight"),
        ({"weight": math.inf}, "weight"),
        ({"weight": "2"}, "weight"),
        ({"weight": True}, "weight"),
        ({"scale_size": 1}, "scale_size"),
        ({"scale_size": 12}, "scale_size"),
        ({"scale_size": 0}, "scale_size"),
        ({"scale_size": 4.0}, "scale_size"),
        ({"scale_labels": ["bad", "good"]}, "scale_labels"),
        ({"kind": "numeric", "target_value": 30, "worst_value": 30}, "worst_value"),
        ({"kind": "numeric", "worst_value": 30}, "target_value"),
        ({"kind": "numeric", "target_value": math.nan, "worst_value": 30}, "target_value"),
        ({"kind": "stars"}, "kind"),
        ({"kind": None}, "kind"),
        ({"critical": "yes"}, "critical"),
        ({"name": ""}, "name"),
        ({"colour": "red"}, "__all__"),
    ],
)
def test_an_invalid_rubric_change_is_refused_and_changes_nothing(
    personas: Any,
    touch_point: TouchPoint,
    greeting: Criterion,
    clean: Criterion,
    answered: Any,
    change: dict[str, Any],
    field: str,
) -> None:
    before = rubric_version(touch_point)
    version = CriterionVersion.objects.get(pk=greeting.current_version_id)

    with pytest.raises(ValidationError) as exc:
        update_criterion(actor=personas.manager, criterion=greeting, data=change)

    assert field in exc.value.message_dict
    assert greeting.versions.count() == 1
    unchanged = CriterionVersion.objects.get(pk=version.pk)
    assert [getattr(unchanged, f) for f in ("kind", "scale_size", "weight", "critical")] == [
        "scale",
        5,
        1.0,
        False,
    ]
    assert Criterion.objects.get(pk=greeting.pk).name == "Greeting"
    assert rubric_version(touch_point) == before


def test_a_numeric_change_to_an_unanswered_criterion_with_equal_target_and_worst_is_refused(
    personas: Any, touch_point: TouchPoint
) -> None:
    criterion = CriterionFactory(
        touch_point=touch_point, kind=CriterionKind.NUMERIC, target_value=20, worst_value=120
    )

    with pytest.raises(ValidationError) as exc:
        update_criterion(actor=personas.manager, criterion=criterion, data={"target_value": 120})

    assert "worst_value" in exc.value.message_dict
    assert CriterionVersion.objects.get(pk=criterion.current_version_id).target_value == 20


@pytest.mark.parametrize(
    ("rubric", "field"),
    [
        ({"kind": "scale", "scale_size": 1}, "scale_size"),
        ({"kind": "scale", "scale_size": 12}, "scale_size"),
        ({"kind": "scale", "scale_size": 0}, "scale_size"),
        ({"kind": "yes_no", "weight": 0}, "weight"),
        ({"kind": "yes_no", "weight": -2}, "weight"),
        ({"kind": "yes_no", "weight": math.nan}, "weight"),
        ({"kind": "numeric", "target_value": 5}, "worst_value"),
        ({"kind": "numeric", "target_value": 5, "worst_value": 5}, "worst_value"),
        ({"kind": "dial"}, "kind"),
    ],
)
def test_an_invalid_new_criterion_is_refused_and_nothing_is_created(
    personas: Any, touch_point: TouchPoint, rubric: dict[str, Any], field: str
) -> None:
    before = rubric_version(touch_point)

    with pytest.raises(ValidationError) as exc:
        create_criterion(actor=personas.manager, touch_point=touch_point, name="New", **rubric)

    assert field in exc.value.message_dict
    assert not Criterion.objects.filter(touch_point=touch_point).exists()
    assert CriterionVersion.objects.count() == 0
    assert rubric_version(touch_point) == before


# --- The touch point's rubric version --------------------------------------------------------


def test_the_touch_points_rubric_version_counts_every_change_of_its_rubric(
    personas: Any, touch_point: TouchPoint
) -> None:
    start = rubric_version(touch_point)

    criterion = create_criterion(
        actor=personas.manager, touch_point=touch_point, name="Greeting", kind="scale"
    )
    assert rubric_version(touch_point) == start + 1
    evaluate(personas, touch_point, {criterion: 3})
    update_criterion(actor=personas.manager, criterion=criterion, data={"weight": 2.0})
    assert rubric_version(touch_point) == start + 2
    update_criterion(actor=personas.manager, criterion=criterion, data={"name": "Welcome"})
    assert rubric_version(touch_point) == start + 2
    archive_criterion(actor=personas.manager, criterion=criterion)
    assert rubric_version(touch_point) == start + 3
    restore_criterion(actor=personas.manager, criterion=criterion)
    assert rubric_version(touch_point) == start + 4
    spare = create_criterion(
        actor=personas.manager, touch_point=touch_point, name="Spare", kind="yes_no"
    )
    assert rubric_version(touch_point) == start + 5
    assert delete_criterion(actor=personas.manager, criterion=spare) is True
    assert rubric_version(touch_point) == start + 6


def test_a_criterion_made_through_the_service_has_version_1_as_its_rubric(
    personas: Any, touch_point: TouchPoint
) -> None:
    criterion = create_criterion(
        actor=personas.manager,
        touch_point=touch_point,
        name="Seconds waiting",
        kind="numeric",
        target_value=20,
        worst_value=120,
        unit="s",
        weight=2,
        critical=True,
    )

    version = CriterionVersion.objects.get(pk=criterion.current_version_id)
    assert (version.number, version.kind, version.target_value, version.worst_value) == (
        1,
        "numeric",
        20.0,
        120.0,
    )
    assert (version.unit, version.weight, version.critical, version.scale_size) == (
        "s",
        2.0,
        True,
        None,
    )


def test_a_new_numeric_target_after_answers_leaves_earlier_answers_scored_as_they_were(
    personas: Any, touch_point: TouchPoint
) -> None:
    waiting = create_criterion(
        actor=personas.manager,
        touch_point=touch_point,
        name="Seconds waiting",
        kind="numeric",
        target_value=20,
        worst_value=120,
    )
    earlier = evaluate(personas, touch_point, {waiting: 70})
    assert earlier.score == pytest.approx(50.0)

    updated = update_criterion(actor=personas.manager, criterion=waiting, data={"target_value": 70})
    rescore_journey(touch_point.journey_id)

    assert updated.current_version.target_value == 70.0
    earlier.refresh_from_db()
    assert earlier.score == pytest.approx(50.0)
    assert earlier.answers.get().criterion_version.target_value == 20.0
    later = evaluate(personas, touch_point, {waiting: 70})
    assert later.score == pytest.approx(100.0)
