"""Rubric numbers are bounded (issue 12, item 4): a criterion with `target_value: 1e308,
worst_value: -1e308` or `weight: 1e307` was accepted, and every later evaluation of it
failed in PostgreSQL (float8 overflow; a tiny answer underflows to 0, also an error there)
with a 500. Now the service refuses what would leave float8, at its field, for the API
and the editor alike; and at every extreme it accepts, an evaluation is stored and scored.
"""

from __future__ import annotations

import math
from typing import Any

import pytest
from django.core.exceptions import ValidationError
from django.test import Client
from django.utils import timezone
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from rest_framework.test import APIClient

from journeys.models import Stage
from scoring.models import TouchPointScore
from scoring.services import recompute_journey
from tests.api.conftest import ClientFor
from tests.conftest import Personas
from tests.factories import JourneyFactory, StageFactory, TouchPointFactory
from touchpoints.models import Answer, Criterion, Evaluation, TouchPoint
from touchpoints.services import (
    MAX_MEASURE,
    MAX_WEIGHT,
    MIN_MAGNITUDE,
    MIN_WEIGHT,
    AnswerInput,
    EvaluationInput,
    create_criterion,
    submit_evaluations,
)


@pytest.fixture
def stage(personas: Personas) -> Stage:
    return StageFactory(journey=JourneyFactory(organization=personas.org))


@pytest.mark.parametrize(
    ("rubric", "field"),
    [
        ({"kind": "numeric", "target_value": 1e308, "worst_value": -1e308}, "target_value"),
        ({"kind": "numeric", "target_value": 10, "worst_value": -1e10}, "worst_value"),
        ({"kind": "numeric", "target_value": 1e-300, "worst_value": 0}, "target_value"),
        ({"kind": "scale", "weight": 1e307}, "weight"),
        ({"kind": "scale", "weight": MAX_WEIGHT * 1.01}, "weight"),
        ({"kind": "scale", "weight": MIN_WEIGHT / 2}, "weight"),
        ({"kind": "scale", "weight": 0}, "weight"),
    ],
)
def test_a_rubric_number_that_would_leave_float8_is_refused_at_its_field(
    personas: Personas, stage: Stage, rubric: dict[str, Any], field: str
) -> None:
    touch_point = TouchPointFactory(stage=stage)
    with pytest.raises(ValidationError) as refused:
        create_criterion(actor=personas.manager, touch_point=touch_point, name="Wait", **rubric)

    assert field in refused.value.message_dict
    assert not Criterion.objects.exists()


def test_the_api_refuses_the_attackers_rubric(
    personas: Personas, stage: Stage, client_for: ClientFor
) -> None:
    touch_point = TouchPointFactory(stage=stage)
    api = client_for(personas.manager)
    body = {"touch_point": touch_point.pk, "name": "Wait", "kind": "numeric"}

    overflow = api.post(
        "/api/v1/criteria/", {**body, "target_value": 1e308, "worst_value": -1e308}, format="json"
    )
    heavy = api.post("/api/v1/criteria/", {**body, "kind": "scale", "weight": 1e307}, format="json")

    assert overflow.status_code == 400 and "target_value" in overflow.json()
    assert heavy.status_code == 400 and "weight" in heavy.json()
    assert not Criterion.objects.exists()


def test_the_editor_refuses_the_attackers_rubric(personas: Personas, stage: Stage) -> None:
    touch_point = TouchPointFactory(stage=stage)
    browser = Client()
    browser.force_login(personas.manager)

    response = browser.post(
        f"/edit/touch-points/{touch_point.pk}/criteria/",
        {"name": "Wait", "kind": "numeric", "target_value": "1e308", "worst_value": "-1e308"},
        headers={"HX-Request": "true"},
    )

    assert response.status_code == 400
    assert not Criterion.objects.exists()


def test_a_numeric_answer_that_would_underflow_is_refused(personas: Personas, stage: Stage) -> None:
    touch_point = TouchPointFactory(stage=stage)
    criterion = create_criterion(
        actor=personas.manager,
        touch_point=touch_point,
        name="Wait",
        kind="numeric",
        target_value=10,
        worst_value=0,
    )
    for value in (5e-324, 1e-300, -1e-10):
        with pytest.raises(ValidationError):
            submit(personas, touch_point, [(criterion, value)])
    assert not Evaluation.objects.exists()


# --- At every extreme the service accepts, an evaluation still scores ----------------------

EXTREME_MEASURES = [MAX_MEASURE, -MAX_MEASURE, MIN_MAGNITUDE, -MIN_MAGNITUDE, 0.0]
MAX_ANSWER = 1.7e308  # answers are clipped to the rubric before any division
EXTREME_ANSWERS = [
    0.0,
    MIN_MAGNITUDE,
    -MIN_MAGNITUDE,
    -MAX_ANSWER,
    math.nextafter(MIN_MAGNITUDE, 1),
    MAX_MEASURE,
    -MAX_MEASURE,
]


def submit(personas: Personas, touch_point: TouchPoint, answers: list[tuple[Any, float]]) -> Any:
    return submit_evaluations(
        evaluator=personas.manager,
        organization=personas.org,
        items=[
            EvaluationInput(
                touch_point_id=touch_point.pk,
                source="audit",
                observed_at=timezone.now(),
                answers=[AnswerInput(c.pk, v) for c, v in answers],
            )
        ],
    )[0]


def _accepted_measure() -> st.SearchStrategy[float]:
    near_zero = st.floats(min_value=MIN_MAGNITUDE, max_value=1e-6).flatmap(
        lambda x: st.sampled_from([x, -x])
    )
    wide = st.floats(min_value=-MAX_MEASURE, max_value=MAX_MEASURE).filter(
        lambda x: x == 0 or abs(x) >= MIN_MAGNITUDE
    )
    return st.one_of(st.sampled_from(EXTREME_MEASURES), near_zero, wide)


def _accepted_answer() -> st.SearchStrategy[float]:
    wide = st.floats(allow_nan=False, allow_infinity=False).filter(
        lambda x: x == 0 or abs(x) >= MIN_MAGNITUDE
    )
    return st.one_of(st.sampled_from(EXTREME_ANSWERS), wide)


@pytest.mark.slow  # a walk or fuzz of every route/field: make test, not test-fast
@hypothesis_settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    target=_accepted_measure(),
    worst=_accepted_measure(),
    weights=st.tuples(
        st.sampled_from([MIN_WEIGHT, MAX_WEIGHT, 1.0]),
        st.floats(min_value=MIN_WEIGHT, max_value=MAX_WEIGHT),
    ),
    answers=st.lists(_accepted_answer(), min_size=1, max_size=3),
)
def test_every_accepted_extreme_rubric_and_answer_still_scores(
    personas: Personas,
    stage: Stage,
    target: float,
    worst: float,
    weights: tuple[float, float],
    answers: list[float],
) -> None:
    if target == worst:
        return  # refused: the worst value must differ from the target
    touch_point = TouchPointFactory(stage=stage)
    numeric = create_criterion(
        actor=personas.manager,
        touch_point=touch_point,
        name="Measured",
        kind="numeric",
        target_value=target,
        worst_value=worst,
        weight=weights[0],
    )
    scale = create_criterion(
        actor=personas.manager,
        touch_point=touch_point,
        name="Greeting",
        kind="scale",
        weight=weights[1],
    )
    for value in answers:
        submit(personas, touch_point, [(numeric, value), (scale, 1)])

    recompute_journey(stage.journey_id)

    scores = list(Answer.objects.filter(criterion=numeric).values_list("score", flat=True))
    assert all(0 <= s <= 100 for s in scores), scores
    snapshot = TouchPointScore.objects.filter(touch_point=touch_point).first()
    assert snapshot is not None and snapshot.n == len(answers)


def test_the_api_accepts_and_scores_the_extreme_rubric(
    personas: Personas, stage: Stage, client_for: ClientFor
) -> None:
    touch_point = TouchPointFactory(stage=stage)
    api: APIClient = client_for(personas.manager)
    created = api.post(
        "/api/v1/criteria/",
        {
            "touch_point": touch_point.pk,
            "name": "Wait",
            "kind": "numeric",
            "target_value": -MAX_MEASURE,
            "worst_value": MAX_MEASURE,
            "weight": MAX_WEIGHT,
        },
        format="json",
    )
    assert created.status_code == 201, created.content

    evaluated = api.post(
        "/api/v1/evaluations/",
        {
            "touch_point": touch_point.pk,
            "source": "audit",
            "observed_at": timezone.now().isoformat(),
            "answers": [{"criterion": created.json()["id"], "value": MIN_MAGNITUDE}],
        },
        format="json",
    )
    assert evaluated.status_code == 201, evaluated.content
    recompute_journey(stage.journey_id)
    scores = api.get(f"/api/v1/touchpoints/{touch_point.pk}/scores/")
    assert scores.status_code == 200
    assert scores.json()["touch_point"]["n"] == 1


def test_the_editor_accepts_and_scores_the_extreme_rubric(personas: Personas, stage: Stage) -> None:
    touch_point = TouchPointFactory(stage=stage)
    browser = Client()
    browser.force_login(personas.manager)
    response = browser.post(
        f"/edit/touch-points/{touch_point.pk}/criteria/",
        {
            "name": "Wait",
            "kind": "numeric",
            "target_value": "1e9",
            "worst_value": "1e-9",
            "weight": "0.001",
        },
        headers={"HX-Request": "true"},
    )
    assert response.status_code < 300, response.content
    criterion = Criterion.objects.get()

    submit(personas, touch_point, [(criterion, MAX_ANSWER), (criterion, -MAX_ANSWER)][:1])
    recompute_journey(stage.journey_id)

    assert TouchPointScore.objects.get(touch_point=touch_point).n == 1


def test_an_outsider_cannot_add_criteria_to_another_organizations_touch_point(
    personas: Personas, stage: Stage, client_for: ClientFor
) -> None:
    touch_point = TouchPointFactory(stage=stage)
    response = client_for(personas.outsider).post(
        "/api/v1/criteria/",
        {"touch_point": touch_point.pk, "name": "Wait", "kind": "scale"},
        format="json",
    )
    assert response.status_code in (400, 404)
    assert not Criterion.objects.exists()
