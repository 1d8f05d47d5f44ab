"""The loop with real processes: a Celery worker (embedded beat) and a private
redis-server turn a submission into an event and a signed webhook to a receiver the test
runs, retried after two 500s; a receiver that hangs does not hold up the recompute."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import timedelta

import pytest
from django.utils import timezone
from standardwebhooks import Webhook

from accounts.models import Role
from alerts import delivery
from alerts.models import DeliveryState, Event, EventKind, WebhookAttempt, WebhookDelivery
from scoring.models import StaleMark, TouchPointScore
from tests.alerts.helpers import make_spot, submit
from tests.alerts.receiver import Receiver
from tests.factories import MembershipFactory
from tests.processes import RedisServer, Worker, publishing_to, wait_for

pytestmark = [pytest.mark.worker, pytest.mark.slow]

FAST = {
    "ALERTS_PROCESS_SECONDS": "1",
    "WEBHOOK_RETRY_SCHEDULE": "0.5,0.5,0.5",
    "WEBHOOK_TIMEOUT_SECONDS": "20",
}


@pytest.fixture
def workers(transactional_db: None, broker: RedisServer) -> Iterator[list[Worker]]:
    started: list[Worker] = []
    with publishing_to(broker.url):
        yield started
    for worker in started:
        worker.stop()


@pytest.fixture
def people(transactional_db: None):  # type: ignore[no-untyped-def]
    manager = MembershipFactory(role=Role.MANAGER)
    evaluator = MembershipFactory(organization=manager.organization, role=Role.EVALUATOR)
    return manager.organization, manager.user, evaluator.user


def test_a_critical_failure_reaches_a_receiver_signed_after_two_500s(
    workers: list[Worker], broker: RedisServer, people
) -> None:  # type: ignore[no-untyped-def]
    org, manager, evaluator = people
    receiver = Receiver(answers=[500, 500, 200]).start()
    try:
        endpoint, secret = delivery.register_endpoint(
            actor=manager,
            organization=org,
            data={"url": receiver.url, "event_types": ["evaluation.critical_failure"]},
        )
        worker = Worker(broker.url, **FAST)
        workers.append(worker)
        worker.start()
        spot = make_spot(org, critical=True)
        submit(spot, evaluator, [5], at=timezone.now() - timedelta(hours=1), critical_value=0)

        wait_for(
            lambda: WebhookDelivery.objects.filter(state=DeliveryState.SUCCEEDED).exists(),
            timeout=90,
        )
        assert len(receiver.received) == 3
        assert len({r.headers["webhook-id"] for r in receiver.received}) == 1
        for r in receiver.received:
            payload = Webhook(secret).verify(r.body, r.headers)
            assert payload["type"] == "evaluation.critical_failure"
        assert list(
            WebhookAttempt.objects.filter(delivery__endpoint=endpoint)
            .order_by("id")
            .values_list("status_code", flat=True)
        ) == [500, 500, 200]
        assert Event.objects.filter(kind=EventKind.CRITICAL_FAILURE).count() == 1
    finally:
        receiver.stop()


def test_a_hanging_receiver_does_not_hold_up_the_recompute(
    workers: list[Worker], broker: RedisServer, people
) -> None:  # type: ignore[no-untyped-def]
    """While a delivery waits on a receiver that never answers, the scores of new
    evaluations are recomputed: the recompute never waits on HTTP. The sender's timeout is
    long (240 s) so that a recompute queued behind the delivery could only finish after an
    attempt is logged: scores fresh while no attempt has ended prove it did not wait,
    however slow the machine."""
    org, manager, evaluator = people
    hanging = Receiver(hang=threading.Event()).start()
    try:
        delivery.register_endpoint(
            actor=manager,
            organization=org,
            data={"url": hanging.url, "event_types": ["evaluation.critical_failure"]},
        )
        worker = Worker(broker.url, concurrency=2, **{**FAST, "WEBHOOK_TIMEOUT_SECONDS": "240"})
        workers.append(worker)
        worker.start()
        spot = make_spot(org, critical=True)
        at = timezone.now() - timedelta(hours=1)
        submit(spot, evaluator, [5], at=at, critical_value=0)
        wait_for(lambda: hanging.in_flight > 0, timeout=120)  # the delivery is stuck

        submit(spot, evaluator, [3, 4, 5], at=at)
        wait_for(
            lambda: (
                not StaleMark.objects.exists()
                and TouchPointScore.objects.filter(touch_point=spot.touch_point, n=4).exists()
            ),
            timeout=180,
        )
        assert hanging.in_flight > 0  # still hanging: the scores did not wait for it
        assert not WebhookAttempt.objects.exists()  # no attempt has ended, nor been retried
    finally:
        hanging.stop()
