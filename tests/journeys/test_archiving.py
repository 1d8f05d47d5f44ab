"""Deleting something evaluations hang off archives it instead, so no evaluation or
answer is ever lost; what nobody evaluated is really deleted."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from journeys.models import Journey, JourneyStatus, Stage
from journeys.services import delete_journey, delete_stage, restore_stage
from tests.factories import CriterionFactory, JourneyFactory, StageFactory, TouchPointFactory
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
    delete_criterion,
    delete_touch_point,
    restore_criterion,
    restore_touch_point,
    submit_evaluation,
)


@dataclass
class Map:
    """A journey of personas.org: two stages, each with two touch points of two criteria."""

    journey: Journey
    stages: list[Stage]
    touch_points: list[TouchPoint]  # stage 0: [0, 1]; stage 1: [2, 3]
    criteria: list[Criterion]  # touch point i: [2i, 2i + 1]


@pytest.fixture
def journey_map(personas: Any) -> Map:
    journey = JourneyFactory(organization=personas.org)
    stages = [StageFactory(journey=journey) for _ in range(2)]
    touch_points = [TouchPointFactory(stage=stage) for stage in stages for _ in range(2)]
    criteria = [
        CriterionFactory(touch_point=tp, kind=CriterionKind.YES_NO)
        for tp in touch_points
        for _ in range(2)
    ]
    return Map(journey, stages, touch_points, criteria)


def evaluate(personas: Any, touch_point: TouchPoint) -> Evaluation:
    return submit_evaluation(
        evaluator=personas.evaluator,
        organization=personas.org,
        touch_point_id=touch_point.pk,
        source=Source.AUDIT,
        observed_at=timezone.now() - timedelta(hours=1),
        answers=[AnswerInput(c.pk, 1) for c in touch_point.criteria.all()],
    )


def facts() -> tuple[list[int], list[tuple[int, int, int, float | None]]]:
    """Every stored evaluation, and every answer with its criterion, version and value."""
    return (
        list(Evaluation.objects.order_by("pk").values_list("pk", flat=True)),
        list(
            Answer.objects.order_by("pk").values_list(
                "evaluation_id", "criterion_id", "criterion_version_id", "value"
            )
        ),
    )


def active_positions(rows: Any) -> list[int]:
    return list(
        rows.filter(archived_at__isnull=True)
        .order_by("position")
        .values_list("position", flat=True)
    )


# --- With evaluations: archived, nothing lost --------------------------------------------------


def test_deleting_an_answered_criterion_archives_it(personas: Any, journey_map: Map) -> None:
    evaluate(personas, journey_map.touch_points[0])
    before = facts()
    criterion = journey_map.criteria[0]

    assert delete_criterion(actor=personas.manager, criterion=criterion) is False

    criterion.refresh_from_db()
    assert criterion.archived_at is not None
    assert criterion.position is None
    assert criterion.current_version_id is not None
    assert facts() == before
    assert active_positions(Criterion.objects.filter(touch_point=criterion.touch_point)) == [0]


def test_deleting_an_evaluated_touch_point_archives_it(personas: Any, journey_map: Map) -> None:
    evaluate(personas, journey_map.touch_points[0])
    before = facts()
    touch_point = journey_map.touch_points[0]

    assert delete_touch_point(actor=personas.manager, touch_point=touch_point) is False

    touch_point.refresh_from_db()
    assert touch_point.archived_at is not None
    assert touch_point.position is None
    assert facts() == before
    assert Criterion.objects.filter(touch_point=touch_point).count() == 2
    assert active_positions(TouchPoint.objects.filter(stage=touch_point.stage)) == [0]


def test_deleting_a_stage_with_evaluations_archives_it(personas: Any, journey_map: Map) -> None:
    evaluate(personas, journey_map.touch_points[1])
    before = facts()
    stage = journey_map.stages[0]

    assert delete_stage(actor=personas.manager, stage=stage) is False

    stage.refresh_from_db()
    assert stage.archived_at is not None
    assert stage.position is None
    assert facts() == before
    assert TouchPoint.objects.filter(stage=stage).count() == 2
    assert active_positions(Stage.objects.filter(journey=journey_map.journey)) == [0]


def test_a_stage_whose_only_evaluated_touch_point_was_archived_is_still_archived(
    personas: Any, journey_map: Map
) -> None:
    evaluate(personas, journey_map.touch_points[0])
    delete_touch_point(actor=personas.manager, touch_point=journey_map.touch_points[0])
    before = facts()

    assert delete_stage(actor=personas.manager, stage=journey_map.stages[0]) is False

    assert facts() == before
    assert Stage.objects.filter(pk=journey_map.stages[0].pk).exists()


def test_deleting_a_journey_with_evaluations_archives_it(personas: Any, journey_map: Map) -> None:
    evaluate(personas, journey_map.touch_points[3])
    before = facts()

    assert delete_journey(actor=personas.manager, journey=journey_map.journey) is False

    journey_map.journey.refresh_from_db()
    assert journey_map.journey.status == JourneyStatus.ARCHIVED
    assert facts() == before
    assert Stage.objects.filter(journey=journey_map.journey).count() == 2
    assert TouchPoint.objects.filter(journey=journey_map.journey).count() == 4
    assert Criterion.objects.filter(touch_point__journey=journey_map.journey).count() == 8


def test_deleting_an_archived_journey_again_keeps_it(personas: Any, journey_map: Map) -> None:
    evaluate(personas, journey_map.touch_points[0])
    delete_journey(actor=personas.manager, journey=journey_map.journey)

    assert delete_journey(actor=personas.manager, journey=journey_map.journey) is False

    assert Journey.objects.filter(pk=journey_map.journey.pk).exists()


# --- Without evaluations: really deleted --------------------------------------------------------


def test_deleting_an_unanswered_criterion_deletes_it_and_its_versions(
    personas: Any, journey_map: Map
) -> None:
    evaluate(personas, journey_map.touch_points[1])  # evaluations elsewhere do not matter
    before = facts()
    criterion = journey_map.criteria[0]

    assert delete_criterion(actor=personas.manager, criterion=criterion) is True

    assert not Criterion.objects.filter(pk=criterion.pk).exists()
    assert not CriterionVersion.objects.filter(criterion_id=criterion.pk).exists()
    assert active_positions(Criterion.objects.filter(touch_point=criterion.touch_point)) == [0]
    assert facts() == before


def test_deleting_an_unevaluated_touch_point_deletes_it_with_its_criteria(
    personas: Any, journey_map: Map
) -> None:
    evaluate(personas, journey_map.touch_points[2])
    before = facts()
    touch_point = journey_map.touch_points[0]

    assert delete_touch_point(actor=personas.manager, touch_point=touch_point) is True

    assert not TouchPoint.objects.filter(pk=touch_point.pk).exists()
    assert not Criterion.objects.filter(touch_point_id=touch_point.pk).exists()
    assert not CriterionVersion.objects.filter(criterion__touch_point_id=touch_point.pk).exists()
    assert list(
        TouchPoint.objects.filter(stage=touch_point.stage).values_list("position", flat=True)
    ) == [0]
    assert facts() == before


def test_deleting_an_unevaluated_stage_deletes_it_with_everything_in_it(
    personas: Any, journey_map: Map
) -> None:
    evaluate(personas, journey_map.touch_points[2])
    before = facts()
    stage = journey_map.stages[0]

    assert delete_stage(actor=personas.manager, stage=stage) is True

    assert not Stage.objects.filter(pk=stage.pk).exists()
    assert not TouchPoint.objects.filter(stage_id=stage.pk).exists()
    assert Criterion.objects.count() == 4
    assert list(
        Stage.objects.filter(journey=journey_map.journey).values_list("position", flat=True)
    ) == [0]
    assert facts() == before


def test_deleting_an_unevaluated_journey_deletes_it_with_everything_in_it(
    personas: Any, journey_map: Map
) -> None:
    other = JourneyFactory(organization=personas.org)
    kept = CriterionFactory(touch_point__stage=StageFactory(journey=other))

    assert delete_journey(actor=personas.manager, journey=journey_map.journey) is True

    assert not Journey.objects.filter(pk=journey_map.journey.pk).exists()
    assert not Stage.objects.filter(journey_id=journey_map.journey.pk).exists()
    assert not TouchPoint.objects.filter(journey_id=journey_map.journey.pk).exists()
    assert list(Criterion.objects.values_list("pk", flat=True)) == [kept.pk]
    assert list(CriterionVersion.objects.values_list("criterion_id", flat=True)) == [kept.pk]


# --- Restoring -------------------------------------------------------------------------------


def test_a_restored_stage_comes_back_into_the_order(personas: Any, journey_map: Map) -> None:
    evaluate(personas, journey_map.touch_points[0])
    stage = journey_map.stages[0]
    delete_stage(actor=personas.manager, stage=stage)

    restore_stage(actor=personas.manager, stage=stage, position=0)

    stage.refresh_from_db()
    assert stage.archived_at is None
    assert list(
        Stage.objects.filter(journey=journey_map.journey)
        .order_by("position")
        .values_list("pk", "position")
    ) == [(stage.pk, 0), (journey_map.stages[1].pk, 1)]


def test_a_restored_touch_point_comes_back_and_takes_evaluations_again(
    personas: Any, journey_map: Map
) -> None:
    touch_point = journey_map.touch_points[0]
    evaluate(personas, touch_point)
    delete_touch_point(actor=personas.manager, touch_point=touch_point)

    restore_touch_point(actor=personas.manager, touch_point=touch_point)

    touch_point.refresh_from_db()
    assert (touch_point.archived_at, touch_point.position) == (None, 1)
    assert evaluate(personas, touch_point).pk is not None
    assert Evaluation.objects.filter(touch_point=touch_point).count() == 2


def test_a_restored_criterion_comes_back_with_its_rubric(personas: Any, journey_map: Map) -> None:
    criterion = journey_map.criteria[0]
    version = criterion.current_version_id
    evaluate(personas, criterion.touch_point)
    delete_criterion(actor=personas.manager, criterion=criterion)

    restore_criterion(actor=personas.manager, criterion=criterion, position=0)

    criterion.refresh_from_db()
    assert (criterion.archived_at, criterion.position) == (None, 0)
    assert criterion.current_version_id == version
    assert active_positions(Criterion.objects.filter(touch_point=criterion.touch_point)) == [0, 1]
