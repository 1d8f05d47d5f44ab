"""The recompute path with real parts: a Celery worker process (with embedded beat),
a private redis-server, and the test PostgreSQL database. Nothing here is eager."""

from __future__ import annotations

import math
import tempfile
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
import redis
from django.conf import settings
from django.utils import timezone

from accounts.models import Role
from scoring import formulas
from scoring.models import JourneyScore, StaleMark, TouchPointScore
from scoring.services import recompute_journey
from tests.factories import (
    CriterionFactory,
    JourneyFactory,
    MembershipFactory,
    StageFactory,
    TouchPointFactory,
)
from tests.processes import RedisServer, Worker, publishing_to, wait_for
from touchpoints.models import Evaluation, TouchPoint
from touchpoints.services import AnswerInput, EvaluationInput, submit_evaluations

pytestmark = [pytest.mark.worker, pytest.mark.slow]


@pytest.fixture
def workers(transactional_db: None, broker: RedisServer) -> Iterator[list[Worker]]:
    """Workers a test starts; all stopped before the database is flushed."""
    started: list[Worker] = []
    with publishing_to(broker.url):
        yield started
    for worker in started:
        worker.stop()


@pytest.fixture
def journey_setup(transactional_db: None):  # type: ignore[no-untyped-def]
    journey = JourneyFactory(target=75)
    org = journey.organization
    evaluator = MembershipFactory(organization=org, role=Role.EVALUATOR).user
    stage = StageFactory(journey=journey)
    first = TouchPointFactory(stage=stage, importance=4)
    last = TouchPointFactory(stage=stage, importance=2)
    for tp in (first, last):
        CriterionFactory(touch_point=tp, kind="scale", weight=2)
        CriterionFactory(touch_point=tp, kind="yes_no")
    return org, evaluator, [first, last]


def submit(org, evaluator, touch_point: TouchPoint, count: int, *, seed: int = 0) -> None:  # type: ignore[no-untyped-def]
    criteria = list(touch_point.criteria.order_by("position"))
    now = timezone.now()
    for i in range(count):
        value = 1 + (seed + i) % 5
        submit_evaluations(
            evaluator=evaluator,
            organization=org,
            items=[
                EvaluationInput(
                    touch_point_id=touch_point.pk,
                    source="supervisor",
                    observed_at=now - timedelta(hours=i + 1),
                    answers=[
                        AnswerInput(criteria[0].pk, value),
                        AnswerInput(criteria[1].pk, (seed + i) % 2),
                    ],
                )
            ],
        )


def expected_smoothed(
    touch_point: TouchPoint, snapshot: TouchPointScore
) -> tuple[int, float | None]:
    """The pure-function result for the snapshot's own window."""
    window = Evaluation.objects.filter(
        observed_at__gte=snapshot.window_start,
        observed_at__lt=snapshot.window_end,
        score__isnull=False,
    )
    journey_scores = list(
        window.filter(journey_id=touch_point.journey_id).values_list("score", flat=True)
    )
    scores = list(window.filter(touch_point=touch_point).values_list("score", flat=True))
    stats = formulas.touch_point_stats(scores, prior=formulas.mean_or_none(journey_scores), k=5)
    return stats.n, stats.smoothed


def scores_are_correct(touch_points: list[TouchPoint]) -> bool:
    if StaleMark.objects.exists():
        return False
    for tp in touch_points:
        snapshot = TouchPointScore.objects.filter(touch_point=tp).first()
        if snapshot is None:
            return False
        n, smoothed = expected_smoothed(tp, snapshot)
        if snapshot.n != n or smoothed is None or abs(snapshot.smoothed - smoothed) > 1e-6:
            return False
    return True


def test_submitted_evaluations_reach_the_snapshot_through_the_worker(
    workers: list[Worker], broker: RedisServer, journey_setup
) -> None:  # type: ignore[no-untyped-def]
    org, evaluator, touch_points = journey_setup
    worker = Worker(broker.url)
    workers.append(worker)
    worker.start()

    submit(org, evaluator, touch_points[0], 8)
    submit(org, evaluator, touch_points[1], 6, seed=3)

    wait_for(lambda: scores_are_correct(touch_points), timeout=60)
    assert TouchPointScore.objects.get(touch_point=touch_points[0]).n == 8
    assert TouchPointScore.objects.get(touch_point=touch_points[1]).n == 6


def test_a_burst_on_one_touch_point_is_coalesced_into_a_few_recomputes(
    workers: list[Worker], broker: RedisServer, journey_setup
) -> None:  # type: ignore[no-untyped-def]
    org, evaluator, touch_points = journey_setup
    worker = Worker(broker.url)
    workers.append(worker)
    worker.start()

    started = time.monotonic()
    submit(org, evaluator, touch_points[0], 60)
    burst_seconds = time.monotonic() - started

    wait_for(lambda: scores_are_correct(touch_points[:1]), timeout=60)
    # Every recompute that did work bumped the generation; the other 50-odd messages
    # found nothing stale and did nothing. At most one recompute per debounce window
    # the burst spanned, plus one (RELIABILITY R6).
    generation = TouchPointScore.objects.get(touch_point=touch_points[0]).generation
    windows = math.ceil(burst_seconds / settings.SCORING_DEBOUNCE_SECONDS)
    assert generation <= windows + 1 < 60, (
        f"60 submissions over {burst_seconds:.1f} s cost {generation} recomputes"
    )


def test_evaluations_submitted_while_the_broker_is_down_are_scored_after_it_returns(
    workers: list[Worker], broker: RedisServer, journey_setup
) -> None:  # type: ignore[no-untyped-def]
    org, evaluator, touch_points = journey_setup
    worker = Worker(broker.url)
    workers.append(worker)
    worker.start()
    submit(org, evaluator, touch_points[0], 3)
    wait_for(lambda: scores_are_correct(touch_points[:1]), timeout=60)

    broker.stop()
    submit(org, evaluator, touch_points[0], 10, seed=1)
    submit(org, evaluator, touch_points[1], 7, seed=2)
    # Every submission was stored although no message could be sent.
    assert Evaluation.objects.count() == 20
    assert StaleMark.objects.exists()

    broker.start()  # same port: the worker and its beat reconnect by themselves
    wait_for(lambda: scores_are_correct(touch_points), timeout=60)
    assert TouchPointScore.objects.get(touch_point=touch_points[0]).n == 13


def snapshot_state(journey_id: int) -> list[tuple[object, ...]]:
    """Everything a reader of the journey's scores sees, row by row."""
    rows: list[tuple[object, ...]] = [
        (s.touch_point_id, s.generation, s.n, s.smoothed, s.computed_at)
        for s in TouchPointScore.objects.filter(journey_id=journey_id).order_by("touch_point_id")
    ]
    rows += JourneyScore.objects.filter(journey_id=journey_id).values_list(
        "score", "n", "computed_at"
    )
    return rows


def test_a_worker_killed_mid_recompute_leaves_no_partial_snapshot_and_the_sweep_recovers(
    workers: list[Worker], broker: RedisServer, journey_setup
) -> None:  # type: ignore[no-untyped-def]
    """RELIABILITY R3: readers see the old snapshot or the new one, never a mix; after a
    SIGKILL of the pool child and the main process, the sweep (not the hour-long
    visibility timeout) recovers, with exactly one snapshot row per touch point."""
    org, evaluator, touch_points = journey_setup
    journey_id = touch_points[0].journey_id
    submit(org, evaluator, touch_points[0], 4)
    submit(org, evaluator, touch_points[1], 3, seed=2)
    recompute_journey(journey_id)  # the old snapshot, written here before any worker runs
    old = snapshot_state(journey_id)
    marker = Path(tempfile.mkdtemp()) / "paused"
    doomed = Worker(
        broker.url, SCORING_TEST_PAUSE_SECONDS="120", SCORING_TEST_PAUSE_MARKER=str(marker)
    )
    workers.append(doomed)
    doomed.start()

    submit(org, evaluator, touch_points[0], 6, seed=5)
    # The recompute has written its new snapshot rows and is holding its transaction open.
    wait_for(marker.exists, timeout=60)
    assert snapshot_state(journey_id) == old, "an uncommitted snapshot was visible"

    doomed.kill()  # SIGKILL the pool child, then the main process
    assert snapshot_state(journey_id) == old
    # The main process may live long enough to hand the message back (reject on worker
    # lost); if not, it is unacknowledged and returns only after the visibility timeout
    # (an hour). Drop it either way: the stale marks survived the rollback, and the
    # sweep alone must recover.
    redis.Redis.from_url(broker.url).flushall()
    assert StaleMark.objects.filter(touch_point=touch_points[0]).exists()

    survivor = Worker(broker.url)
    workers.append(survivor)
    survivor.start()
    wait_for(lambda: scores_are_correct(touch_points), timeout=60)
    assert TouchPointScore.objects.get(touch_point=touch_points[0]).n == 10
    for tp in touch_points:
        assert TouchPointScore.objects.filter(touch_point=tp).count() == 1
    assert "recompute_journey[" in survivor.log(), "the sweep's recompute did it"
    assert "recompute_touch_point[" not in survivor.log(), "the lost message came back"
