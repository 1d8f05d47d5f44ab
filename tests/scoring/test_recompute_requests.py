"""When recomputes are queued (scoring.services.request_recompute, issue 18 item 1): an
idle touch point at once, a busy one at the end of its debounce window, one pending at a
time. Read from the messages in a private broker; no worker runs here."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import pytest
import redis
from django.utils import timezone

from scoring import services
from tests.factories import TouchPointFactory
from tests.processes import RedisServer, publishing_to

DEBOUNCE = 1.0


@pytest.fixture
def queue(broker: RedisServer, db: None, settings: Any) -> Iterator[redis.Redis]:
    settings.SCORING_DEBOUNCE_SECONDS = DEBOUNCE
    with publishing_to(broker.url):
        client = redis.Redis.from_url(broker.url)
        yield client


def queued(client: redis.Redis) -> list[tuple[list[int], datetime | None]]:
    """(args, eta) of every recompute message waiting in the scoring queue, oldest first."""
    messages = []
    for raw in reversed(client.lrange("scoring", 0, -1)):
        message = json.loads(raw)
        args = json.loads(base64.b64decode(message["body"]))[0]
        eta = message["headers"].get("eta")
        messages.append((args, datetime.fromisoformat(eta) if eta else None))
    return messages


def test_an_idle_touch_point_is_recomputed_at_once(queue: redis.Redis) -> None:
    tp = TouchPointFactory()

    services.request_recompute([tp.pk])

    assert queued(queue) == [([tp.pk], None)]


def test_a_change_within_the_window_waits_for_its_end_and_opens_the_next(
    queue: redis.Redis,
) -> None:
    tp = TouchPointFactory()
    services.request_recompute([tp.pk])
    services.clear_pending(tp.pk)  # the first recompute has started

    before = timezone.now()
    services.request_recompute([tp.pk])

    (_, first), (args, eta) = queued(queue)
    assert first is None and args == [tp.pk]
    assert eta is not None
    assert 0 < (eta - before).total_seconds() <= DEBOUNCE
    # That delayed run opens the next window: the window now outlasts it by a debounce.
    assert queue.pttl(services.WINDOW_KEY.format(tp.pk)) > DEBOUNCE * 1000


def test_while_one_is_pending_further_changes_queue_nothing(queue: redis.Redis) -> None:
    tp, other = TouchPointFactory(), TouchPointFactory()

    for _ in range(5):
        services.request_recompute([tp.pk, other.pk])

    assert queued(queue) == [([tp.pk], None), ([other.pk], None)]


def test_touch_points_of_another_organization_keep_their_own_windows(
    queue: redis.Redis,
) -> None:
    ours, outsiders = TouchPointFactory(), TouchPointFactory()  # two organizations
    services.request_recompute([ours.pk])
    services.clear_pending(ours.pk)
    services.request_recompute([ours.pk])

    services.request_recompute([outsiders.pk])

    assert ours.journey.organization_id != outsiders.journey.organization_id
    assert queued(queue)[-1] == ([outsiders.pk], None)  # not held back by our window


def test_a_recompute_that_could_not_be_queued_is_asked_for_again_by_the_next_change(
    queue: redis.Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A failed publish must not leave the touch points marked pending: their next change
    would queue nothing, and only the sweep would catch up."""
    tp, other = TouchPointFactory(), TouchPointFactory()

    def refused(*args: object, **kwargs: object) -> None:
        raise ConnectionError("broker refused")

    with monkeypatch.context() as m:
        m.setattr("core.broker.send_task", refused)
        services.request_recompute([tp.pk, other.pk])  # logged, never raised
    assert queued(queue) == []

    services.request_recompute([tp.pk, other.pk])

    assert [args for args, _ in queued(queue)] == [[tp.pk], [other.pk]]
