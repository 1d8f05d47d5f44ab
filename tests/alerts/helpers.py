"""Shared set-up for the alerts tests: a touch point with one scale criterion, and
evaluations submitted through the real service with a chosen score."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from accounts.models import Organization, User
from journeys.models import Journey
from scoring.services import recompute_journey
from tests.factories import CriterionFactory, JourneyFactory, StageFactory, TouchPointFactory
from touchpoints.models import Criterion, Source, TouchPoint
from touchpoints.services import AnswerInput, EvaluationInput, submit_evaluations

# A 1..5 scale: value v scores (v - 1) * 25.
SCORE_OF = {1: 0.0, 2: 25.0, 3: 50.0, 4: 75.0, 5: 100.0}


@dataclass
class Spot:
    journey: Journey
    touch_point: TouchPoint
    criterion: Criterion
    critical: Criterion | None = None


def make_spot(
    org: Organization, *, name: str = "Welcome at the counter", critical: bool = False
) -> Spot:
    journey = JourneyFactory(organization=org, name="Vet visit", target=80.0)
    stage = StageFactory(journey=journey, organization=org, name="Arrive")
    tp = TouchPointFactory(stage=stage, name=name)
    criterion = CriterionFactory(touch_point=tp, name="Greeted by name")
    crit = (
        CriterionFactory(touch_point=tp, name="Door unlocked", kind="yes_no", critical=True)
        if critical
        else None
    )
    return Spot(journey=journey, touch_point=tp, criterion=criterion, critical=crit)


def submit(
    spot: Spot,
    by: User,
    values: list[int],
    *,
    at: datetime,
    critical_value: int | None = None,
) -> None:
    items = []
    for v in values:
        answers = [AnswerInput(criterion_id=spot.criterion.pk, value=v)]
        if spot.critical is not None:
            answers.append(
                AnswerInput(
                    criterion_id=spot.critical.pk,
                    value=1 if critical_value is None else critical_value,
                )
            )
        items.append(
            EvaluationInput(
                touch_point_id=spot.touch_point.pk,
                source=Source.SUPERVISOR,
                observed_at=at,
                answers=tuple(answers),
            )
        )
    submit_evaluations(evaluator=by, organization=spot.touch_point.organization, items=items)


def rescore(spot: Spot) -> None:
    recompute_journey(spot.journey.pk, full=True)
