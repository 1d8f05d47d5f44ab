"""Actions judged by a real Celery worker (embedded beat) on a private redis-server, as
evaluations arrive through the one write path (issue 16, method step 9):

- baseline → done → verifying (the first better evaluation) → verified (min n of them,
  the lower end of their interval above the baseline mean);
- baseline → done → verifying with evaluations no better than before → not shown to work
  once the review period has passed.

Time is moved by setting the done date and the evaluations' observed dates, never by
sleeping through a review period.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from accounts.models import AuditEvent, Role
from alerts import services
from alerts.models import Action, ActionState, Event, EventKind
from scoring.services import recompute_journey
from tests.alerts.helpers import SCORE_OF, make_spot, submit
from tests.factories import MembershipFactory
from tests.processes import RedisServer, Worker, publishing_to, wait_for
from touchpoints.models import Evaluation

pytestmark = [pytest.mark.worker, pytest.mark.slow]

FAST = {"ALERTS_PROCESS_SECONDS": "1", "SCORING_DEBOUNCE_SECONDS": "0.2"}
VERDICT_TIMEOUT = 90  # seconds; a worker on a loaded machine, not a goal


@pytest.fixture
def worker(transactional_db: None, broker: RedisServer) -> Iterator[Worker]:
    with publishing_to(broker.url):
        started = Worker(broker.url, **FAST)
        yield started
        started.stop()


@pytest.fixture
def people(transactional_db: None) -> tuple[Any, Any, Any]:
    manager = MembershipFactory(role=Role.MANAGER)
    evaluator = MembershipFactory(organization=manager.organization, role=Role.EVALUATOR)
    return manager.organization, manager.user, evaluator.user


def state_of(action: Action) -> str:
    return str(Action.objects.values_list("state", flat=True).get(pk=action.pk))


def opened_and_done(people: tuple[Any, Any, Any], *, baseline: int, done_days_ago: int) -> Any:
    """A touch point measured six times at `baseline` (a 1..5 value) well before its
    action; the action opened on that snapshot and marked done, its done date then set
    `done_days_ago`. Returns the spot and the action as stored."""
    org, manager, evaluator = people
    spot = make_spot(org)
    now = timezone.now()
    submit(spot, evaluator, [baseline] * 6, at=now - timedelta(days=done_days_ago + 40))
    recompute_journey(spot.journey.pk)  # the snapshot the baseline is taken from
    action = services.open_action(
        actor=manager,
        touch_point=spot.touch_point,
        description="Greet by name",
        owner_id=manager.pk,
    )
    assert action.baseline_mean == SCORE_OF[baseline] and action.baseline_n == 6
    services.mark_action_done(actor=manager, action=action)
    Action.objects.filter(pk=action.pk).update(done_at=now - timedelta(days=done_days_ago))
    return spot, Action.objects.get(pk=action.pk)


def test_an_action_is_verified_as_better_evaluations_arrive(
    worker: Worker, people: tuple[Any, Any, Any]
) -> None:
    _, _, evaluator = people
    spot, action = opened_and_done(people, baseline=2, done_days_ago=5)  # baseline mean 25
    worker.start()
    wait_for(lambda: Action.objects.get(pk=action.pk).judged_at is not None, timeout=60)
    assert state_of(action) == ActionState.DONE  # judged, and no evidence yet

    # One better evaluation: evidence, not yet enough of it.
    submit(spot, evaluator, [5], at=timezone.now() - timedelta(days=3))
    wait_for(lambda: state_of(action) == ActionState.VERIFYING, timeout=VERDICT_TIMEOUT)
    assert Action.objects.get(pk=action.pk).evidence_n == 1

    # Four more (five = min n), all far above the baseline: verified.
    submit(spot, evaluator, [4, 5, 5, 4], at=timezone.now() - timedelta(days=2))
    wait_for(lambda: state_of(action) == ActionState.VERIFIED, timeout=VERDICT_TIMEOUT)

    judged = Action.objects.get(pk=action.pk)
    assert judged.evidence_n == 5
    assert judged.evidence_low is not None and judged.evidence_low > 25.0
    kinds = set(Event.objects.filter(action=action).values_list("kind", flat=True))
    assert {
        EventKind.ACTION_OPENED,
        EventKind.ACTION_DONE,
        EventKind.ACTION_VERIFYING,
        EventKind.ACTION_VERIFIED,
    } <= kinds
    verdicts = AuditEvent.objects.filter(action="action_verdict", object_id=action.pk)
    assert [e.changes["state"] for e in verdicts.order_by("at", "id")] == [
        [ActionState.DONE, ActionState.VERIFYING],
        [ActionState.VERIFYING, ActionState.VERIFIED],
    ]


def test_an_action_is_not_shown_to_work_when_nothing_improved_by_the_end_of_review(
    worker: Worker, people: tuple[Any, Any, Any]
) -> None:
    _, _, evaluator = people
    spot, action = opened_and_done(people, baseline=3, done_days_ago=10)  # baseline mean 50
    worker.start()

    # Five evaluations no better than the baseline: evidence, but no improvement.
    submit(spot, evaluator, [3, 3, 2, 3, 4], at=timezone.now() - timedelta(days=5))
    wait_for(lambda: state_of(action) == ActionState.VERIFYING, timeout=VERDICT_TIMEOUT)
    assert Action.objects.get(pk=action.pk).evidence_n == 5

    # The review period (30 days after done) passes: move the done date and the evidence
    # 30 days back, as if the month had gone by with nothing new.
    month = timedelta(days=action.review_days)
    evidence = list(
        Evaluation.objects.filter(touch_point=spot.touch_point, observed_at__gt=action.done_at)
    )
    assert len(evidence) == 5
    for row in evidence:
        Evaluation.objects.filter(pk=row.pk).update(observed_at=row.observed_at - month)
    Action.objects.filter(pk=action.pk).update(done_at=action.done_at - month)

    wait_for(lambda: state_of(action) == ActionState.NOT_SHOWN_TO_WORK, timeout=VERDICT_TIMEOUT)
    judged = Action.objects.get(pk=action.pk)
    assert judged.evidence_n == 5  # the same evidence, judged after its review ended
    assert judged.evidence_low is not None and judged.evidence_low <= 50.0
    assert Event.objects.filter(action=action, kind=EventKind.ACTION_NOT_SHOWN).count() == 1
