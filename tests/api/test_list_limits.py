"""Resource limits on lists (RELIABILITY S13): `page_size=1000000` is clamped on every list
the API serves, found from the URLconf so a new list is covered the day it is added. (The
clamp's value, 500, on real rows: tests/api/test_auth.py; a 100,000-item batch: 413 in
tests/api/test_hostile_input.py; weak links' `limit`: tests/scoring/test_selectors.py.)"""

from __future__ import annotations

import pytest
from django.urls import reverse
from django.utils import timezone
from rest_framework.test import APIClient

from alerts.delivery import register_endpoint, send_test
from alerts.models import EventKind
from alerts.services import open_action, record_event
from core.api.pagination import Pagination
from feedback.services import create_link
from team.services import invite
from tests.api.test_cross_tenant_walk import api_routes
from tests.conftest import Personas
from tests.factories import (
    CriterionFactory,
    JourneyFactory,
    SiteFactory,
    StageFactory,
    TouchPointFactory,
)
from touchpoints.services import AnswerInput, EvaluationInput, submit_evaluations

LIST_ROUTES = sorted(r.name for r in api_routes() if r.actions.get("GET") == "list")
ROWS = 3  # of every kind: one more than the clamp below


def test_the_walk_finds_the_lists() -> None:
    assert {"journey-list", "evaluation-list"} <= set(LIST_ROUTES)


@pytest.fixture
def three_of_everything(personas: Personas) -> None:
    journeys = [JourneyFactory(organization=personas.org) for _ in range(ROWS)]
    stages = [StageFactory(journey=journeys[0]) for _ in range(ROWS)]
    touch_points = [TouchPointFactory(stage=stages[0]) for _ in range(ROWS)]
    criteria = [CriterionFactory(touch_point=touch_points[0]) for _ in range(ROWS)]
    for _ in range(ROWS):
        SiteFactory(organization=personas.org)
        create_link(actor=personas.manager, touch_point=touch_points[0])
    submit_evaluations(
        evaluator=personas.evaluator,
        organization=personas.org,
        items=[
            EvaluationInput(
                touch_point_id=touch_points[0].pk,
                source="supervisor",
                observed_at=timezone.now(),
                answers=[AnswerInput(criteria[0].pk, 3)],
            )
            for _ in range(ROWS)
        ],
    )
    # The team and alerts lists: three members (the personas), and three of each of the
    # rest. Each event reaches every member's feed; each test message is a delivery.
    for i in range(ROWS):
        invite(
            actor=personas.manager,
            organization=personas.org,
            email=f"new{i}@example.test",
            role="viewer",
            link_base="http://testserver/team/join/",
        )
        open_action(
            actor=personas.manager,
            touch_point=touch_points[i],
            description=f"Fix number {i}",
            owner_id=personas.manager.pk,
        )
        record_event(
            organization=personas.org,
            kind=EventKind.CRITICAL_FAILURE,
            key=f"list-limits-{i}",
            summary=f"Event {i}",
            data={},
            occurred_at=timezone.now(),
            journey=journeys[0],
            touch_point=touch_points[i],
        )
        endpoint, _ = register_endpoint(
            actor=personas.manager,
            organization=personas.org,
            data={"url": f"http://127.0.0.1:9/hook{i}", "event_types": ["weak_link.entered"]},
        )
        send_test(actor=personas.manager, endpoint=endpoint)


# Lists the clamp does not apply to: a member's notification settings are one row per
# journey, answered whole (not paginated). Named, so a new list cannot hide here.
NOT_PAGINATED = {"notification-setting-list"}
# Lists only managers may read (the team, the webhooks): a manager asks those.
MANAGERS_READ = {
    "invitation-list",
    "member-list",
    "webhook-delivery-list",
    "webhook-endpoint-list",
}


def test_the_lists_set_apart_are_lists() -> None:
    assert set(LIST_ROUTES) >= NOT_PAGINATED | MANAGERS_READ


@pytest.mark.parametrize("route", sorted(set(LIST_ROUTES) - NOT_PAGINATED))
def test_every_list_clamps_a_huge_page_size_to_the_maximum(
    three_of_everything: None,
    request: pytest.FixtureRequest,
    monkeypatch: pytest.MonkeyPatch,
    route: str,
) -> None:
    # A maximum below the rows at hand shows the clamp without making 501 rows of each kind.
    monkeypatch.setattr(Pagination, "max_page_size", ROWS - 1)
    reader = "manager_api" if route in MANAGERS_READ else "viewer_api"
    client: APIClient = request.getfixturevalue(reader)

    response = client.get(reverse(route), {"page_size": "1000000"})

    assert response.status_code == 200
    body = response.json()
    assert body["count"] >= ROWS
    assert len(body["results"]) == ROWS - 1
    assert body["next"] is not None


@pytest.mark.parametrize("page_size", ["0", "-1", "abc", "null", "", "1.5", "１"])
@pytest.mark.parametrize("route", sorted(set(LIST_ROUTES) - NOT_PAGINATED))
def test_every_list_refuses_a_page_size_that_is_not_a_whole_number_from_1(
    manager_api: APIClient, route: str, page_size: str
) -> None:
    # Not silently served the default page size: the client's mistake is named. (A manager
    # asks: some lists are for managers only.)
    response = manager_api.get(reverse(route), {"page_size": page_size})

    assert response.status_code == 400, response.content
    assert response.json() == {"page_size": ["Must be a whole number from 1."]}


def test_a_page_size_of_thousands_of_digits_is_clamped_not_a_500(viewer_api: APIClient) -> None:
    response = viewer_api.get(reverse("journey-list"), {"page_size": "9" * 5000})

    assert response.status_code == 200
