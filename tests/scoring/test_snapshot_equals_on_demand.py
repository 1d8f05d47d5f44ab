"""The snapshot read and the on-demand read of the same window say the same thing, field
by field: a journey's scores (rows, status counts, weak links, blind spots), each touch
point's page, and the organization's weak links.

Hypothesis draws a map (stages of touch points with importances and targets), evaluations
(values, sources, ages inside and outside the window and the one before it), the
organization's settings and a few edits after the first recompute (archives, moves,
importance and target changes, more evaluations), all through the services. The snapshot
is what the worker writes (recompute_journey, which consumes the stale marks the edits
left); the on-demand read is computed for the request over the snapshot's window.
"""

from __future__ import annotations

import dataclasses
from datetime import timedelta
from typing import Any

import pytest
from django.db import transaction
from django.utils import timezone
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from accounts.models import Role
from journeys import services as journey_services
from journeys.models import Stage
from scoring import selectors
from scoring.services import recompute_journey
from tests.factories import (
    CriterionFactory,
    JourneyFactory,
    MembershipFactory,
    OrganizationFactory,
    StageFactory,
    TouchPointFactory,
)
from touchpoints import services as tp_services
from touchpoints.models import Source, TouchPoint
from touchpoints.services import AnswerInput, EvaluationInput, submit_evaluations

# Where the figures come from, and whether they wait for a recompute, differ by design.
NOT_FIGURES = {"basis", "computed_at", "pending"}

evaluations = st.lists(
    st.tuples(
        st.integers(1, 5),  # the answer on a 1-5 scale
        st.sampled_from(Source.values),
        st.integers(1, 200 * 24),  # hours before now: in the window, before it, or neither
    ),
    max_size=7,
)
touch_point = st.fixed_dictionaries(
    {
        "importance": st.integers(1, 5),
        "target": st.none() | st.integers(0, 100),
        "evaluations": evaluations,
    }
)
EDITS = (
    "archive_stage",
    "archive_touch_point",
    "move_stage",
    "move_touch_point",
    "importance",
    "target",
    "journey_target",
    "evaluate",
)
edit = st.tuples(st.sampled_from(EDITS), st.integers(0, 10), st.integers(0, 100), evaluations)
scenario = st.fixed_dictionaries(
    {
        "stages": st.lists(st.lists(touch_point, max_size=3), min_size=1, max_size=3),
        "journey_target": st.integers(0, 100),
        "min_n": st.integers(1, 4),
        "smoothing_k": st.sampled_from([0.0, 1.0, 5.0, 12.5]),
        "window_days": st.sampled_from([7, 30, 90]),
        "edits": st.lists(edit, max_size=3),
    }
)


def _evaluate(org: Any, evaluator: Any, tp: TouchPoint, rows: list[tuple[int, str, int]]) -> None:
    if not rows:
        return
    criterion = tp.criteria.get()
    now = timezone.now()
    submit_evaluations(
        evaluator=evaluator,
        organization=org,
        items=[
            EvaluationInput(
                touch_point_id=tp.pk,
                source=source,
                observed_at=now - timedelta(hours=hours),
                answers=[AnswerInput(criterion.pk, value)],
            )
            for value, source, hours in rows
        ],
    )


def _apply(kind: str, index: int, number: int, rows: Any, *, manager: Any, world: Any) -> None:
    """One edit through the services; nothing if the map has nothing it applies to."""
    org, evaluator, journey = world
    stages = list(Stage.objects.filter(journey=journey, archived_at__isnull=True))
    tps = list(TouchPoint.objects.filter(journey=journey).on_map().order_by("stage__position"))
    if kind == "archive_stage" and stages:
        journey_services.archive_stage(actor=manager, stage=stages[index % len(stages)])
    elif kind == "move_stage" and stages:
        stage = stages[index % len(stages)]
        journey_services.move_stage(actor=manager, stage=stage, position=number % len(stages))
    elif tps and kind == "archive_touch_point":
        tp_services.archive_touch_point(actor=manager, touch_point=tps[index % len(tps)])
    elif tps and kind == "move_touch_point":
        tp = tps[index % len(tps)]
        siblings = TouchPoint.objects.filter(stage=tp.stage).on_map().count()
        tp_services.move_touch_point(actor=manager, touch_point=tp, position=number % siblings)
    elif tps and kind == "importance":
        tp = tps[index % len(tps)]
        tp_services.update_touch_point(
            actor=manager, touch_point=tp, data={"importance": 1 + number % 5}
        )
    elif tps and kind == "target":
        tp = tps[index % len(tps)]
        tp_services.update_touch_point(actor=manager, touch_point=tp, data={"target": number})
    elif kind == "journey_target":
        journey_services.update_journey(actor=manager, journey=journey, data={"target": number})
    elif tps and kind == "evaluate":
        _evaluate(org, evaluator, tps[index % len(tps)], rows)


def _figures(value: Any) -> Any:
    """A read as plain data without the fields that differ by design."""
    data = dataclasses.asdict(value) if dataclasses.is_dataclass(value) else value
    if isinstance(data, dict):
        return {k: _figures(v) for k, v in data.items() if k not in NOT_FIGURES}
    if isinstance(data, list):
        return [_figures(v) for v in data]
    return data


@pytest.mark.django_db
@pytest.mark.slow  # a property over generated journeys: make test, not test-fast
@settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(spec=scenario)
def test_the_snapshot_and_the_on_demand_read_of_its_window_agree_field_by_field(
    spec: dict[str, Any],
) -> None:
    with transaction.atomic():
        org = OrganizationFactory(
            min_n=spec["min_n"], smoothing_k=spec["smoothing_k"], window_days=spec["window_days"]
        )
        manager = MembershipFactory(organization=org, role=Role.MANAGER).user
        evaluator = MembershipFactory(organization=org, role=Role.EVALUATOR).user
        journey = JourneyFactory(organization=org, target=spec["journey_target"])
        for stage_spec in spec["stages"]:
            stage = StageFactory(journey=journey)
            for tp_spec in stage_spec:
                tp = TouchPointFactory(
                    stage=stage, importance=tp_spec["importance"], target=tp_spec["target"]
                )
                CriterionFactory(touch_point=tp, kind="scale", scale_size=5)
                _evaluate(org, evaluator, tp, tp_spec["evaluations"])
        recompute_journey(journey.pk)
        for kind, index, number, rows in spec["edits"]:
            _apply(kind, index, number, rows, manager=manager, world=(org, evaluator, journey))
        # What the worker does with the marks the edits left.
        recompute_journey(journey.pk, full=False)

        snapshot = selectors.journey_scores(journey)
        assert snapshot.basis == selectors.SNAPSHOT and not snapshot.pending
        assert snapshot.window is not None
        live = selectors.journey_scores(journey, window=snapshot.window)
        assert live.basis == selectors.ON_DEMAND
        assert _figures(snapshot) == _figures(live)

        for tp in TouchPoint.objects.filter(journey=journey).on_map().select_related("stage"):
            page = selectors.touch_point_scores(tp)
            live_page = selectors.touch_point_scores(tp, window=snapshot.window)
            assert page is not None and live_page is not None
            assert _figures(page) == _figures(live_page)

        org_snapshot = selectors.organization_weak_links(org, limit=100)
        org_live = selectors.organization_weak_links(org, limit=100, window=snapshot.window)
        assert _figures(org_snapshot.weak_links) == _figures(org_live.weak_links)
        assert _figures(org_snapshot.weak_links) == _figures(snapshot.weak_links)
        transaction.set_rollback(True)  # each example's rows go before the next starts
