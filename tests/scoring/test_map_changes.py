"""Every write that can change a score goes through the one "map changed" hook: right after
it the scores API says `pending: true`, and once a real worker has recomputed, every figure
equals a from-scratch recompute of the same journey. One row of the table per write.

Real parts: a Celery worker process (with beat) on a private redis-server, the test
PostgreSQL database, the API through its test client. The writes are the services the
browser, the API and CSV import call, and the admin's own form posts.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from rest_framework.test import APIClient

from accounts.models import Organization, Role, User
from accounts.tokens import create_token
from core.models import JourneyStaleMark
from journeys import services as journey_services
from journeys.models import Journey, JourneyStatus, Stage
from scoring.models import JourneyScore, StaleMark, TouchPointScore, WeeklyScore
from scoring.services import recompute_journey
from tests.factories import (
    CriterionFactory,
    JourneyFactory,
    MembershipFactory,
    StageFactory,
    TouchPointFactory,
    UserFactory,
)
from tests.processes import RedisServer, Worker, publishing_to, wait_for
from touchpoints import services as tp_services
from touchpoints.models import Criterion, TouchPoint
from touchpoints.services import AnswerInput, EvaluationInput, submit_evaluations

pytestmark = [pytest.mark.worker, pytest.mark.slow]

# The debounce this process asks the worker to wait before a recompute: long enough that
# "right after the write" is read before the worker can have run (the check takes
# milliseconds), short enough for a table of writes.
COUNTDOWN_SECONDS = 3.0


@pytest.fixture(scope="module")
def map_worker(django_db_setup: None) -> Iterator[Worker]:
    """One worker (and its private broker) for the whole table: starting one per write
    would cost more than the writes."""
    server = RedisServer()
    server.start()
    worker = Worker(server.url)
    try:
        with publishing_to(server.url):
            worker.start()
            yield worker
    finally:
        worker.stop()
        server.stop()


@dataclass
class Map:
    """Stages A, B (evaluated touch points A1, A2, B1, B2) and C (C1, never evaluated: the
    journey's last touch point), plus an archived stage D and an archived touch point A3
    to restore, and an unanswered criterion on B2."""

    org: Organization
    manager: User
    journey: Journey
    stages: dict[str, Stage]
    tps: dict[str, TouchPoint]
    spare_criterion: Criterion
    api: APIClient

    def scores(self) -> dict[str, Any]:
        response = self.api.get(f"/api/v1/journeys/{self.journey.pk}/scores/")
        assert response.status_code == 200, response.content
        return dict(response.json())

    def touch_point_scores(self) -> dict[int, Any]:
        out = {}
        for tp in TouchPoint.objects.filter(journey=self.journey).on_map():
            response = self.api.get(f"/api/v1/touchpoints/{tp.pk}/scores/")
            assert response.status_code == 200, response.content
            out[tp.pk] = response.json()
        return out


def _evaluate(org: Organization, evaluator: User, tp: TouchPoint, values: list[int]) -> None:
    criteria = list(tp.criteria.filter(archived_at__isnull=True).order_by("position"))
    now = timezone.now()
    submit_evaluations(
        evaluator=evaluator,
        organization=org,
        items=[
            EvaluationInput(
                touch_point_id=tp.pk,
                source="supervisor" if i % 2 else "customer_survey",
                observed_at=now - timedelta(hours=i + 1),
                answers=[AnswerInput(c.pk, value) for c in criteria],
            )
            for i, value in enumerate(values)
        ],
    )


@pytest.fixture
def world(map_worker: Worker, transactional_db: None, settings: Any) -> Iterator[Map]:
    settings.SCORING_DEBOUNCE_SECONDS = COUNTDOWN_SECONDS
    journey = JourneyFactory(target=75)
    org = journey.organization
    manager = MembershipFactory(organization=org, role=Role.MANAGER).user
    evaluator = MembershipFactory(organization=org, role=Role.EVALUATOR).user
    stages = {name: StageFactory(journey=journey, name=name) for name in "ABCD"}
    tps: dict[str, TouchPoint] = {}
    for name, importance in (("A1", 5), ("A2", 2), ("A3", 3), ("B1", 4), ("B2", 3), ("C1", 1)):
        tps[name] = TouchPointFactory(stage=stages[name[0]], name=name, importance=importance)
        CriterionFactory(touch_point=tps[name], weight=2)
        CriterionFactory(touch_point=tps[name])
    # Weak, middling and good touch points, every one past min_n (5).
    for name, values in (
        ("A1", [2, 2, 3, 1, 2, 3]),
        ("A2", [5, 4, 5, 5, 4, 5]),
        ("A3", [1, 2, 1, 2, 1, 1]),
        ("B1", [3, 2, 3, 3, 2, 3]),
        ("B2", [2, 3, 2, 2, 3, 1, 2]),
    ):
        _evaluate(org, evaluator, tps[name], values)
    tp_services.archive_touch_point(actor=manager, touch_point=tps["A3"])
    journey_services.archive_stage(actor=manager, stage=stages["D"])
    spare = CriterionFactory(touch_point=tps["B2"], name="Spare")
    # The starting point: a snapshot with nothing pending (the setup's own marks included).
    recompute_journey(journey.pk)
    StaleMark.objects.all().delete()
    JourneyStaleMark.objects.all().delete()
    _, raw = create_token(user=manager, name="map changes")
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    world = Map(org, manager, journey, stages, tps, spare, api)
    assert world.scores()["pending"] is False
    yield world
    # The test's last write may still be recomputing (or its events fanning out): let the
    # shared worker finish before pytest-django truncates the tables under it.
    map_worker.wait_idle()


def _admin_client() -> Client:
    admin = UserFactory(is_staff=True, is_superuser=True)
    client = Client()
    client.force_login(admin)
    return client


def _admin_change(model: type[Any], pk: int, **changes: Any) -> None:
    """Post a model's admin change form back as the browser would, with `changes`."""
    client = _admin_client()
    url = reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_change", args=[pk])
    page = client.get(url)
    data: dict[str, Any] = {}
    forms = [page.context["adminform"].form]
    for inline in page.context["inline_admin_formsets"]:
        forms += [inline.formset.management_form, *inline.formset.forms]
    for form in forms:
        for name in form.fields:
            value = form[name].value()
            if value is not None:
                data[form.add_prefix(name)] = value
    data.update(changes)
    response = client.post(url, data)
    assert response.status_code == 302, response.context["adminform"].form.errors


def _criterion(w: Map, tp: str = "B1") -> Criterion:
    return Criterion.objects.filter(touch_point=w.tps[tp], archived_at__isnull=True).first()  # type: ignore[return-value]


WRITES: dict[str, Callable[[Map], object]] = {
    "stage create": lambda w: journey_services.create_stage(
        actor=w.manager, journey=w.journey, name="New", position=0
    ),
    "stage rename": lambda w: journey_services.update_stage(
        actor=w.manager, stage=w.stages["B"], data={"name": "Renamed"}
    ),
    "stage move": lambda w: journey_services.move_stage(
        actor=w.manager, stage=w.stages["C"], position=0
    ),
    "stage archive (the last)": lambda w: journey_services.archive_stage(
        actor=w.manager, stage=w.stages["C"]
    ),
    "stage archive (evaluated)": lambda w: journey_services.archive_stage(
        actor=w.manager, stage=w.stages["B"]
    ),
    "stage restore": lambda w: journey_services.restore_stage(actor=w.manager, stage=w.stages["D"]),
    "stage delete": lambda w: journey_services.delete_stage(actor=w.manager, stage=w.stages["C"]),
    "stage rename in the admin": lambda w: _admin_change(Stage, w.stages["A"].pk, name="Admin"),
    "touch point create": lambda w: tp_services.create_touch_point(
        actor=w.manager, stage=w.stages["C"], name="Newest"
    ),
    "touch point move": lambda w: tp_services.move_touch_point(
        actor=w.manager, touch_point=w.tps["A1"], position=1
    ),
    "touch point move to another stage": lambda w: tp_services.move_touch_point(
        actor=w.manager, touch_point=w.tps["A1"], position=1, stage=w.stages["C"]
    ),
    "touch point archive": lambda w: tp_services.archive_touch_point(
        actor=w.manager, touch_point=w.tps["C1"]
    ),
    "touch point restore": lambda w: tp_services.restore_touch_point(
        actor=w.manager, touch_point=w.tps["A3"]
    ),
    "touch point delete": lambda w: tp_services.delete_touch_point(
        actor=w.manager, touch_point=w.tps["C1"]
    ),
    "touch point delete (evaluated: archives)": lambda w: tp_services.delete_touch_point(
        actor=w.manager, touch_point=w.tps["B2"]
    ),
    "touch point importance": lambda w: tp_services.update_touch_point(
        actor=w.manager, touch_point=w.tps["B1"], data={"importance": 1}
    ),
    "touch point target": lambda w: tp_services.update_touch_point(
        actor=w.manager, touch_point=w.tps["A2"], data={"target": 99}
    ),
    "criterion create": lambda w: tp_services.create_criterion(
        actor=w.manager, touch_point=w.tps["B1"], name="New", kind="yes_no"
    ),
    "criterion rubric change": lambda w: tp_services.update_criterion(
        actor=w.manager, criterion=_criterion(w), data={"weight": 5}
    ),
    "criterion archive": lambda w: tp_services.archive_criterion(
        actor=w.manager, criterion=_criterion(w)
    ),
    "criterion restore": lambda w: tp_services.restore_criterion(
        actor=w.manager,
        criterion=tp_services.archive_criterion(actor=w.manager, criterion=w.spare_criterion),
    ),
    "criterion delete": lambda w: tp_services.delete_criterion(
        actor=w.manager, criterion=w.spare_criterion
    ),
    "journey target": lambda w: journey_services.update_journey(
        actor=w.manager, journey=w.journey, data={"target": 50}
    ),
    "journey status": lambda w: journey_services.update_journey(
        actor=w.manager, journey=w.journey, data={"status": JourneyStatus.DRAFT}
    ),
    "journey delete (evaluated: archives)": lambda w: journey_services.delete_journey(
        actor=w.manager, journey=w.journey
    ),
    "journey status in the admin": lambda w: _admin_change(
        Journey, w.journey.pk, status=JourneyStatus.DRAFT
    ),
    "scoring settings": lambda w: journey_services.update_scoring_settings(
        actor=w.manager, organization=w.org, data={"min_n": 7, "smoothing_k": 2.5}
    ),
    "scoring settings in the admin": lambda w: _admin_change(
        Organization, w.org.pk, min_n="7", window_days="30"
    ),
}


def _figures(body: Any) -> Any:
    """An answer without what differs between two recomputes of the same data: when they
    ran (`computed_at`) and the window that ends at that moment."""
    if isinstance(body, dict):
        return {k: _figures(v) for k, v in body.items() if k not in {"computed_at", "window"}}
    if isinstance(body, list | tuple):
        return [_figures(v) for v in body]
    return body


def _differences(a: Any, b: Any, path: str = "") -> list[str]:
    """Where two answers differ, as paths (touch_points[2].priority: 166.1 != 249.2)."""
    if isinstance(a, dict) and isinstance(b, dict):
        return [
            d for k in sorted(set(a) | set(b), key=str)
            for d in _differences(a.get(k), b.get(k), f"{path}.{k}")
        ]  # fmt: skip
    if isinstance(a, list | tuple) and isinstance(b, list | tuple) and len(a) == len(b):
        return [
            d
            for i, (x, y) in enumerate(zip(a, b, strict=True))
            for d in _differences(x, y, f"{path}[{i}]")
        ]
    return [] if a == b else [f"{path}: {a!r} != {b!r}"]


@pytest.mark.parametrize("write", list(WRITES), ids=list(WRITES))
def test_a_map_change_reads_pending_then_equals_a_from_scratch_recompute(
    world: Map, write: str
) -> None:
    before = world.scores()
    WRITES[write](world)

    assert world.scores()["pending"] is True, f"{write}: the scores do not say they are behind"

    wait_for(lambda: world.scores()["pending"] is False, timeout=90)
    by_worker = (world.scores(), world.touch_point_scores())

    TouchPointScore.objects.filter(journey=world.journey).delete()
    WeeklyScore.objects.filter(touch_point__journey=world.journey).delete()
    JourneyScore.objects.filter(journey=world.journey).delete()
    recompute_journey(world.journey.pk)
    from_scratch = (world.scores(), world.touch_point_scores())

    differences = _differences(_figures(by_worker), _figures(from_scratch))
    assert not differences, f"{write}: the worker's figures differ: {differences}"
    assert before["pending"] is False


def test_the_sweep_recomputes_a_map_change_whose_message_was_lost(
    world: Map, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The mark is the record: with the message dropped, the worker's periodic sweep
    finds the journey mark and recomputes (RELIABILITY R2 for map changes)."""
    monkeypatch.setattr("core.map_changes.request_journey_recompute", lambda ids: None)
    journey_services.archive_stage(actor=world.manager, stage=world.stages["C"])
    assert world.scores()["pending"] is True
    wait_for(lambda: world.scores()["pending"] is False, timeout=90)
    rows = world.scores()["touch_points"]
    assert [r["is_last"] for r in rows] == [False] * (len(rows) - 1) + [True]
    assert rows[-1]["id"] == world.tps["B2"].pk
