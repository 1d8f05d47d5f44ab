"""Tasks retry only what a retry can fix (issue 12, item 5): every exception used to be
retried five times with backoff, a bad argument included."""

from __future__ import annotations

from typing import Any

import pytest
from django.db import OperationalError

from core.retry import TRANSIENT_ERRORS
from scoring import tasks
from tests.conftest import Personas
from tests.factories import JourneyFactory

RETRYING_TASKS = [tasks.recompute_journey, tasks.recompute_touch_point]


@pytest.mark.parametrize("task", RETRYING_TASKS, ids=lambda t: t.name)
def test_tasks_retry_transient_errors_only(task: Any) -> None:
    assert tuple(task.autoretry_for) == TRANSIENT_ERRORS
    assert Exception not in task.autoretry_for
    assert not any(issubclass(e, (TypeError, ValueError)) for e in task.autoretry_for)


def test_a_bad_argument_fails_at_once(personas: Personas, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[object] = []

    def bad(journey_id: object, full: bool = True) -> bool:
        calls.append(journey_id)
        raise TypeError("journey_id must be an int")

    monkeypatch.setattr(tasks.services, "recompute_journey", bad)

    result = tasks.recompute_journey.apply(args=["not-an-id"])

    assert result.state == "FAILURE"
    assert calls == ["not-an-id"]  # once: no retry


def test_a_lost_database_is_retried(personas: Personas, monkeypatch: pytest.MonkeyPatch) -> None:
    """Run in this process (apply), where a retry runs again at once: every attempt the
    policy allows is made."""
    journey = JourneyFactory(organization=personas.org)
    calls: list[int] = []

    def lost(journey_id: int, full: bool = True) -> bool:
        calls.append(journey_id)
        raise OperationalError("server closed the connection unexpectedly")

    monkeypatch.setattr(tasks.services, "recompute_journey", lost)

    tasks.recompute_journey.apply(args=[journey.pk])

    assert len(calls) == 1 + tasks.recompute_journey.max_retries
