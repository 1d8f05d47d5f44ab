"""The per-touch-point recompute writes exactly what a recompute from scratch writes.

A stale touch point re-reads only its own rollups; every other touch point's figures come
from its stored snapshot, and the journey's headline figures (the prior, each touch
point's smoothed score, status and priority, the journey score, so weak links and status
counts) are recomputed from those. Hypothesis draws journeys (stages of touch points, a
scale and a numeric criterion, evaluations of every source at two sites and at ages inside
the window, in the one before it and before both), archives a touch point that has
evaluations (off the map, its evaluations still count towards the journey), recomputes
from scratch, adds evaluations to a few touch points, runs the per-touch-point path on
them, and then compares every stored figure with what a recompute from scratch writes
over the same rows: equal, not close (==, floats included).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.db import transaction
from django.utils import timezone
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from accounts.models import Role
from scoring import selectors, services
from scoring.models import JourneyScore, StaleMark, TouchPointScore, WeeklyScore
from tests.factories import (
    CriterionFactory,
    JourneyFactory,
    MembershipFactory,
    OrganizationFactory,
    SiteFactory,
    StageFactory,
    TouchPointFactory,
)
from touchpoints import services as tp_services
from touchpoints.models import CriterionKind, Source, TouchPoint
from touchpoints.services import AnswerInput, EvaluationInput, submit_evaluations

# Written by each recompute, so never equal between two of them.
NOT_FIGURES = {"generation", "computed_at"}

evaluation = st.tuples(
    st.integers(1, 5),  # the scale answer
    # The numeric answer (None: not applicable): hundredths, so scores are any float.
    st.none() | st.integers(0, 10_000).map(lambda hundredths: hundredths / 100),
    st.sampled_from(Source.values),
    st.integers(0, 2),  # no site, site A, site B
    st.integers(0, 200 * 24),  # hours before now: this window, the one before, or neither
)
touch_point = st.fixed_dictionaries(
    {
        "importance": st.integers(1, 5),
        "target": st.none() | st.integers(0, 100),
        "evaluations": st.lists(evaluation, max_size=6),
    }
)
scenario = st.fixed_dictionaries(
    {
        "stages": st.lists(st.lists(touch_point, min_size=1, max_size=3), min_size=1, max_size=3),
        "journey_target": st.integers(0, 100),
        "min_n": st.integers(1, 4),
        "smoothing_k": st.sampled_from([0.0, 1.0, 5.0, 12.5]),
        "window_days": st.sampled_from([1, 7, 30, 90]),
        "archive": st.none() | st.integers(0, 8),  # a touch point taken off the map
        # (which touch point, its new evaluations): the changes the per-touch-point path sees
        "changes": st.lists(
            st.tuples(st.integers(0, 8), st.lists(evaluation, min_size=1, max_size=4)),
            min_size=1,
            max_size=3,
        ),
    }
)


def _evaluate(world: dict[str, Any], tp: TouchPoint, rows: list[Any]) -> None:
    if not rows:
        return
    now = timezone.now()
    scale, numeric = world["criteria"][tp.pk]
    submit_evaluations(
        evaluator=world["evaluator"],
        organization=world["org"],
        items=[
            EvaluationInput(
                touch_point_id=tp.pk,
                source=source,
                observed_at=now - timedelta(hours=hours),
                site_id=world["sites"][site],
                answers=[AnswerInput(scale.pk, value), AnswerInput(numeric.pk, measure)],
            )
            for value, measure, source, site, hours in rows
        ],
    )


def _stored(journey_id: int) -> dict[str, Any]:
    """Every figure the recompute stored for the journey, as plain data."""
    return {
        "touch_points": {
            row["touch_point_id"]: {k: v for k, v in row.items() if k not in NOT_FIGURES}
            for row in TouchPointScore.objects.filter(journey_id=journey_id).values()
        },
        "weeks": sorted(
            WeeklyScore.objects.filter(touch_point__journey_id=journey_id).values_list(
                "touch_point_id", "week_start", "n", "mean"
            )
        ),
        "journey": JourneyScore.objects.filter(journey_id=journey_id)
        .values("window_start", "window_end", "score", "n", "prior")
        .get(),
    }


@pytest.mark.django_db
@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(spec=scenario)
def test_the_per_touch_point_recompute_equals_a_recompute_from_scratch(
    spec: dict[str, Any],
) -> None:
    with transaction.atomic():
        org = OrganizationFactory(
            min_n=spec["min_n"], smoothing_k=spec["smoothing_k"], window_days=spec["window_days"]
        )
        manager = MembershipFactory(organization=org, role=Role.MANAGER).user
        world: dict[str, Any] = {
            "org": org,
            "evaluator": MembershipFactory(organization=org, role=Role.EVALUATOR).user,
            "sites": [None, SiteFactory(organization=org).pk, SiteFactory(organization=org).pk],
            "criteria": {},
        }
        journey = JourneyFactory(organization=org, target=spec["journey_target"])
        tps: list[TouchPoint] = []
        for stage_spec in spec["stages"]:
            stage = StageFactory(journey=journey)
            for tp_spec in stage_spec:
                tp = TouchPointFactory(
                    stage=stage, importance=tp_spec["importance"], target=tp_spec["target"]
                )
                world["criteria"][tp.pk] = (
                    CriterionFactory(touch_point=tp, kind=CriterionKind.SCALE, scale_size=5),
                    CriterionFactory(
                        touch_point=tp,
                        kind=CriterionKind.NUMERIC,
                        target_value=10.0,
                        worst_value=90.0,
                        weight=2.0,
                    ),
                )
                _evaluate(world, tp, tp_spec["evaluations"])
                tps.append(tp)
        if spec["archive"] is not None and len(tps) > 1:
            archived = tps.pop(spec["archive"] % len(tps))
            tp_services.archive_touch_point(actor=manager, touch_point=archived)
        window = services.default_window(org.window_days, timezone.now())
        assert services.recompute_journey(journey.pk)

        changed: set[int] = set()
        for index, rows in spec["changes"]:
            tp = tps[index % len(tps)]
            _evaluate(world, tp, rows)
            changed.add(tp.pk)
        # What the worker does with the marks: re-read only what changed.
        result = services.recompute_touch_points(sorted(changed))
        # A day turning between the two recomputes moves the window: from scratch then.
        assume(services.default_window(org.window_days, timezone.now()) == window)
        assert result.journeys == [journey.pk] and result.full_journeys == []
        off_map = set(
            TouchPoint.objects.filter(journey=journey)
            .exclude(pk__in=[tp.pk for tp in tps])
            .values_list("pk", flat=True)
        )
        assert set(result.touch_points) == changed | off_map
        assert not StaleMark.objects.filter(touch_point__journey=journey).exists()
        per_touch_point = _stored(journey.pk)

        assert services.recompute_journey(journey.pk, full=True)
        assert _stored(journey.pk) == per_touch_point
        transaction.set_rollback(True)  # each example's rows go before the next starts


def _submit(
    org: Any,
    evaluator: Any,
    criterion: Any,
    value: int,
    *,
    sources: list[str],
    hours_ago: int,
    site: Any = None,
) -> None:
    """One evaluation per source of `criterion`'s touch point, answering it with `value`."""
    submit_evaluations(
        evaluator=evaluator,
        organization=org,
        items=[
            EvaluationInput(
                touch_point_id=criterion.touch_point_id,
                source=source,
                site_id=site.pk if site is not None else None,
                observed_at=timezone.now() - timedelta(hours=hours_ago),
                answers=[AnswerInput(criterion.pk, value)],
            )
            for source in sources
        ],
    )


@pytest.mark.django_db
def test_a_touch_point_with_nothing_stale_is_skipped_and_the_path_falls_back_when_it_must() -> None:
    org = OrganizationFactory()
    evaluator = MembershipFactory(organization=org, role=Role.EVALUATOR).user
    journey = JourneyFactory(organization=org)
    tp = TouchPointFactory(stage=StageFactory(journey=journey))
    criterion = CriterionFactory(touch_point=tp)

    def evaluate() -> None:
        _submit(org, evaluator, criterion, 4, sources=[Source.SUPERVISOR], hours_ago=1)

    evaluate()
    # No snapshot yet: the journey is recomputed from scratch.
    first = services.recompute_touch_points([tp.pk])
    assert first.journeys == first.full_journeys == [journey.pk]
    assert TouchPointScore.objects.get(touch_point=tp).n == 1
    # Nothing stale any more: a duplicate message does nothing.
    again = services.recompute_touch_points([tp.pk, 999_999_999])
    assert not again and again.skipped == [journey.pk]
    evaluate()
    incremental = services.recompute_touch_points([tp.pk])
    assert incremental.full_journeys == [] and incremental.touch_points == [tp.pk]
    assert TouchPointScore.objects.get(touch_point=tp).n == 2
    # A snapshot from another day's window cannot stand in for a read: from scratch.
    TouchPointScore.objects.filter(touch_point=tp).update(
        window_start=timezone.now() - timedelta(days=200)
    )
    evaluate()
    moved = services.recompute_touch_points([tp.pk])
    assert moved.full_journeys == [journey.pk]
    score = TouchPointScore.objects.get(touch_point=tp)
    assert (
        score.n == 3
        and score.window_start == JourneyScore.objects.get(journey=journey).window_start
    )


# What one stale touch point's recompute sends, whatever the size of its journey: its
# journey (one query), the lock, the marks taken, the journey, its touch points, the stored
# snapshot, the touch point's figures (1), its breakdowns (3), weeks (1), criteria and site
# names (2), then the writes: its row, the others' headlines, its weeks, the journey's row;
# and the savepoint the test's transaction turns the recompute's transaction into (2).
ONE_TOUCH_POINT_STATEMENTS = 19


@pytest.mark.django_db
def test_one_stale_touch_point_costs_a_fixed_number_of_statements_and_rewrites_what_changed(
    django_assert_num_queries: Any,
) -> None:
    org = OrganizationFactory(smoothing_k=5.0)
    evaluator = MembershipFactory(organization=org, role=Role.EVALUATOR).user
    journey = JourneyFactory(organization=org)
    site = SiteFactory(organization=org)
    # Enough touch points that a query per touch point would show in the count.
    tps = [
        TouchPointFactory(stage=stage)
        for stage in (StageFactory(journey=journey), StageFactory(journey=journey))
        for _ in range(4)
    ]
    criteria = {tp.pk: CriterionFactory(touch_point=tp) for tp in tps}

    def evaluate(tp: TouchPoint, value: int) -> None:
        sources = [Source.SUPERVISOR, Source.CUSTOMER_SURVEY]
        _submit(org, evaluator, criteria[tp.pk], value, sources=sources, hours_ago=2, site=site)

    for i, tp in enumerate(tps):
        evaluate(tp, 1 + i % 5)
    assert services.recompute_journey(journey.pk)

    def generations() -> dict[int, int]:
        return dict(
            TouchPointScore.objects.filter(journey=journey).values_list(
                "touch_point_id", "generation"
            )
        )

    first = generations()
    evaluate(tps[0], 5)
    with django_assert_num_queries(ONE_TOUCH_POINT_STATEMENTS):
        result = services.recompute_touch_points([tps[0].pk])
    assert result.touch_points == [tps[0].pk] and result.full_journeys == []
    # Its new evaluations moved the prior, hence every touch point's smoothed score.
    second = generations()
    assert second == {pk: generation + 1 for pk, generation in first.items()}

    # A mark that brings nothing new (a duplicate message's): the prior stays, and so do
    # the other touch points' rows; only the marked one's is rewritten (its breakdown).
    StaleMark.objects.create(touch_point=tps[1])
    with django_assert_num_queries(ONE_TOUCH_POINT_STATEMENTS - 1):
        assert services.recompute_touch_points([tps[1].pk]).touch_points == [tps[1].pk]
    assert generations() == {**second, tps[1].pk: second[tps[1].pk] + 1}
    # A message whose mark another recompute took: one look, no lock, nothing written.
    with django_assert_num_queries(1):
        late = services.recompute_touch_points([tps[1].pk])
    assert not late and late.skipped == [journey.pk]
    # A row left as it was is still current: its page dates it by the journey's recompute.
    untouched = TouchPoint.objects.select_related("journey__organization", "stage").get(
        pk=tps[2].pk
    )
    scores = selectors.touch_point_scores(untouched)
    assert scores is not None
    assert scores.computed_at == JourneyScore.objects.get(journey=journey).computed_at
    assert scores.computed_at > TouchPointScore.objects.get(touch_point=untouched).computed_at
