"""Fixtures for the fault tests: a private redis-server as broker, the processes a test
starts (stopped before the database is flushed), and small journeys to score."""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Protocol

import pytest
from django.utils import timezone

from accounts.models import Organization, Role, User
from journeys.models import Journey
from tests.factories import (
    CriterionFactory,
    JourneyFactory,
    MembershipFactory,
    OrganizationFactory,
    StageFactory,
    TouchPointFactory,
)
from tests.processes import RedisServer, Worker, publishing_to
from touchpoints.models import Criterion, Evaluation, TouchPoint
from touchpoints.services import AnswerInput, EvaluationInput, submit_evaluations


class Stoppable(Protocol):
    def stop(self) -> None: ...


@pytest.fixture
def started(transactional_db: None, broker: RedisServer) -> Iterator[list[Stoppable]]:
    """Processes a test starts (workers, gunicorn): stopped before the
    database is flushed. This process publishes to the private broker meanwhile."""
    processes: list[Stoppable] = []
    with publishing_to(broker.url):
        yield processes
        # Side by side: a warm shutdown takes seconds each.
        threads = [threading.Thread(target=p.stop) for p in processes]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()


@dataclass
class World:
    org: Organization
    evaluator: User
    journeys: list[Journey]
    touch_points: list[TouchPoint]
    criteria: dict[int, list[Criterion]]  # touch point id → its criteria, in order

    def item(self, touch_point: TouchPoint, i: int) -> EvaluationInput:
        """The i-th evaluation of a touch point: values vary so scores differ."""
        scale, yes_no = self.criteria[touch_point.pk]
        return EvaluationInput(
            touch_point_id=touch_point.pk,
            source="supervisor",
            observed_at=timezone.now() - timedelta(minutes=i + 1),
            answers=[AnswerInput(scale.pk, 1 + i % 5), AnswerInput(yes_no.pk, (i // 5) % 2)],
        )

    def submit(self, touch_point: TouchPoint, count: int, *, seed: int = 0) -> list[Evaluation]:
        """`count` evaluations, one transaction (and one recompute request) each."""
        return [
            e
            for i in range(count)
            for e in submit_evaluations(
                evaluator=self.evaluator,
                organization=self.org,
                items=[self.item(touch_point, seed + i)],
            )
        ]


def build_world(*, journeys: int = 1, touch_points: int = 2) -> World:
    """An organization with an evaluator and `journeys` journeys of `touch_points` touch
    points, each with a weighted 1..5 scale and a yes/no criterion."""
    org = OrganizationFactory()
    evaluator = MembershipFactory(organization=org, role=Role.EVALUATOR).user
    made_journeys, made_tps, criteria = [], [], {}
    for j in range(journeys):
        journey = JourneyFactory(organization=org, target=75)
        stage = StageFactory(journey=journey)
        made_journeys.append(journey)
        for t in range(touch_points):
            tp = TouchPointFactory(stage=stage, importance=1 + (j + t) % 5)
            criteria[tp.pk] = [
                CriterionFactory(touch_point=tp, kind="scale", weight=2),
                CriterionFactory(touch_point=tp, kind="yes_no"),
            ]
            made_tps.append(tp)
    return World(org, evaluator, made_journeys, made_tps, criteria)


@pytest.fixture
def world(transactional_db: None) -> World:
    return build_world()


def executed(workers: list[Worker], task_ids: list[str]) -> bool:
    """True once every one of these tasks has finished on one of the workers."""
    logs = "".join(w.log() for w in workers)
    return all(f"[{task_id}] succeeded" in logs for task_id in task_ids)


def executions(workers: list[Worker], task: str) -> int:
    """How many times the workers ran `task` (e.g. "recompute_touch_point")."""
    logs = "".join(w.log() for w in workers)
    return len(re.findall(rf"scoring\.tasks\.{task}\[[0-9a-f-]+\] succeeded", logs))
