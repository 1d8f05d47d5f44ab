"""Journey settings in the browser: a manager changes name, persona, description, target
and status; a second manager's stale form is told and overwrites nothing; the drafts rule
holds on the overview (a draft is in no figure there, card or weakest links, until it is
active)."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from accounts.models import AuditEvent
from journeys.models import Journey, JourneyStatus
from scoring.services import recompute_journey
from tests.api.test_cross_tenant_walk import build_tenant as build
from tests.conftest import Personas
from tests.factories import JourneyFactory
from web.journey_settings import version_of


def signed_in(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


def form(journey: Journey, **changes: Any) -> dict[str, Any]:
    values = {
        "name": journey.name,
        "persona": journey.persona,
        "description": journey.description,
        "target": str(journey.target),
        "status": journey.status,
        "version": version_of(journey),
    }
    return {**values, **changes}


@pytest.fixture
def journey(personas: Personas) -> Journey:
    return JourneyFactory(organization=personas.org, name="Moving house", status="draft")


def test_a_manager_changes_the_settings_and_history_shows_it(
    personas: Personas, journey: Journey
) -> None:
    client = signed_in(personas.manager)
    assert b"Journey settings" in client.get(reverse("journey-map", args=[journey.pk])).content
    response = client.post(
        reverse("journey-settings", args=[journey.pk]),
        form(journey, name="Moving home", persona="Family of four", target="85", status="active"),
    )
    assert response.status_code == 302
    journey.refresh_from_db()
    assert (journey.name, journey.persona, journey.target, journey.status) == (
        "Moving home", "Family of four", 85.0, "active",
    )  # fmt: skip
    event = AuditEvent.objects.get(journey_id=journey.pk, action="update")
    assert event.changes["status"] == ["draft", "active"]


def test_a_second_managers_stale_form_is_told_and_overwrites_nothing(
    personas: Personas, journey: Journey
) -> None:
    first, second = signed_in(personas.manager), signed_in(personas.manager)
    stale = form(journey, name="Second's name")
    assert (
        first.post(
            reverse("journey-settings", args=[journey.pk]), form(journey, name="First's name")
        ).status_code
        == 302
    )

    response = second.post(reverse("journey-settings", args=[journey.pk]), stale)

    assert response.status_code == 409
    assert b"Another manager saved this journey" in response.content
    assert b"Now saved: First&#x27;s name" in response.content
    assert b"Second&#x27;s name" in response.content, "what was typed is kept"
    journey.refresh_from_db()
    assert journey.name == "First's name"


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"name": "N" * 10_000}, b"at most 200 characters"),
        ({"name": ""}, b"This field is required."),
        ({"target": "101"}, b"0"),
        ({"target": "many"}, b"number"),
        ({"status": "published"}, b"Status must be one of"),
    ],
)
def test_bad_settings_are_refused_with_the_reason_and_nothing_changes(
    personas: Personas, journey: Journey, changes: dict[str, str], message: bytes
) -> None:
    response = signed_in(personas.manager).post(
        reverse("journey-settings", args=[journey.pk]), form(journey, **changes)
    )
    assert response.status_code == 400
    assert message in response.content
    before = journey.updated_at
    journey.refresh_from_db()
    assert journey.updated_at == before


@pytest.mark.parametrize("who", ["evaluator", "viewer"])
def test_evaluators_and_viewers_are_refused(personas: Personas, journey: Journey, who: str) -> None:
    client = signed_in(getattr(personas, who))
    assert client.get(reverse("journey-settings", args=[journey.pk])).status_code == 403
    assert (
        client.post(
            reverse("journey-settings", args=[journey.pk]), form(journey, name="Mine")
        ).status_code
        == 403
    )
    assert b"Journey settings" not in client.get(reverse("journey-map", args=[journey.pk])).content


def test_another_organizations_journey_is_404(personas: Personas, journey: Journey) -> None:
    outsider = signed_in(personas.outsider)
    assert outsider.get(reverse("journey-settings", args=[journey.pk])).status_code == 404
    assert (
        outsider.post(
            reverse("journey-settings", args=[journey.pk]), form(journey, name="Taken")
        ).status_code
        == 404
    )
    journey.refresh_from_db()
    assert journey.name == "Moving house"


def test_a_draft_is_in_no_overview_figure_until_activated(personas: Personas) -> None:
    tenant = build(personas.org, manager=personas.manager)
    weak_journey = tenant.first("journey")
    Journey.objects.filter(pk=weak_journey.pk).update(status=JourneyStatus.DRAFT)
    recompute_journey(weak_journey.pk)
    client = signed_in(personas.manager)
    weak_name = tenant.first("weak_link").name.encode()

    page = client.get(reverse("overview")).content
    assert b"Draft: not counted on this page until it is active." in page
    assert b"a draft journey is left out of every figure" in page
    assert weak_name not in page.split(b"Journeys</h2>")[0], "not in the weakest links"
    assert b"weak link" not in page.split(b"Journeys</h2>")[1], "nor on its card"

    weak_journey.refresh_from_db()
    client.post(
        reverse("journey-settings", args=[weak_journey.pk]), form(weak_journey, status="active")
    )
    page = client.get(reverse("overview")).content
    assert weak_name in page.split(b"Journeys</h2>")[0]
