"""The audit log (issue 7): every structure change is recorded with who, what, which object,
what changed and when, filed under its journey; managers read it on a journey's history page
and on the organization's activity page. Evaluators and viewers get the friendly 403, another
organization's journey a 404, and the pages read a bounded number of queries, page by page."""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.test import Client
from rest_framework.test import APIClient

from accounts.models import AuditEvent, Role, User
from accounts.services import record_audit
from accounts.tokens import create_token
from journeys.models import Journey
from journeys.services import move_stage, update_journey, update_stage
from tests.accounts import test_tenancy_and_roles as tenancy
from tests.accounts.test_tenancy_and_roles import CALLS, Call, World
from tests.conftest import Personas
from tests.factories import JourneyFactory, SiteFactory, StageFactory, TouchPointFactory
from tests.web.test_pages import HOSTILE, INLINE_HANDLER, INLINE_SCRIPT, INLINE_STYLE
from touchpoints.models import Site
from touchpoints.services import (
    archive_site,
    move_criterion,
    move_touch_point,
    restore_site,
    update_site,
)

world = tenancy.world  # the fixture: a journey with something of every kind to change
ROW = re.compile(r"<tr>\s*<td><time.*?</tr>", re.S)
CSRF_MASK = re.compile(rb"\b[A-Za-z0-9]{64}\b")  # a fresh mask of the CSRF token each render


def signed_in(client: Client, user: User) -> Client:
    client.force_login(user)
    return client


def history_rows(response: Any) -> list[str]:
    """The table's rows as text, tags dropped and spaces squeezed."""
    html = response.content.decode()
    return [" ".join(re.sub(r"<[^>]+>", " ", row).split()) for row in ROW.findall(html)]


# --- What is recorded -----------------------------------------------------------------------


@pytest.mark.parametrize("call", CALLS, ids=lambda c: c.name)
def test_every_structure_change_is_filed_under_its_journey(
    personas: Personas, world: World, call: Call
) -> None:
    audited = set(AuditEvent.objects.values_list("pk", flat=True))

    call.run(personas.manager, world)

    event = AuditEvent.objects.exclude(pk__in=audited).get()
    if call.object_type == "site":
        assert event.journey_id is None  # sites belong to the organization, not a journey
    elif call.name == "create_journey":
        assert event.journey_id == event.object_id
    else:
        assert event.journey_id == world.journey.pk
    assert event.object_repr  # the name, as it was when it changed


def test_site_rename_archive_and_restore_are_audited_with_what_changed(
    personas: Personas,
) -> None:
    site = SiteFactory(organization=personas.org, name="Harbour", code="HB")

    update_site(actor=personas.manager, site=site, data={"name": "Harbour branch"})
    archive_site(actor=personas.manager, site=site)
    restore_site(actor=personas.manager, site=site)

    events = list(AuditEvent.objects.for_organization(personas.org).order_by("id"))
    assert [(e.action, e.object_type, e.actor_id, e.journey_id) for e in events] == [
        ("update", "site", personas.manager.pk, None),
        ("archive", "site", personas.manager.pk, None),
        ("restore", "site", personas.manager.pk, None),
    ]
    assert events[0].changes == {"name": ["Harbour", "Harbour branch"]}


def test_moves_record_where_from_and_where_to(personas: Personas, world: World) -> None:
    move_stage(actor=personas.manager, stage=world.stage, position=1)
    move_touch_point(
        actor=personas.manager, touch_point=world.touch_point, position=0, stage=world.spare_stage
    )
    move_criterion(actor=personas.manager, criterion=world.criterion, position=1)

    stage_move, touch_point_move, criterion_move = AuditEvent.objects.order_by("id")
    assert stage_move.changes == {"position": [0, 1]}
    assert touch_point_move.changes == {
        "position": [0, 0],
        "stage": [world.stage.name, world.spare_stage.name],
        "stage_id": [world.stage.pk, world.spare_stage.pk],
    }
    assert criterion_move.changes == {"position": [0, 1]}


# --- The pages: who may read them -----------------------------------------------------------


@pytest.fixture
def journey(personas: Personas) -> Journey:
    return JourneyFactory(organization=personas.org, name="New broadband customer")


def urls(journey: Journey) -> list[str]:
    return [f"/journeys/{journey.pk}/history/", "/activity/", f"/activity/?journey={journey.pk}"]


@pytest.mark.parametrize("role", ["evaluator", "viewer"])
def test_evaluators_and_viewers_get_the_friendly_403(
    personas: Personas, journey: Journey, client: Client, role: str
) -> None:
    update_journey(actor=personas.manager, journey=journey, data={"name": "Secret plans"})
    signed_in(client, getattr(personas, role))

    for url in urls(journey):
        response = client.get(url)
        assert response.status_code == 403, url
        assert "You can’t do that here" in response.content.decode()
        assert "Secret plans" not in response.content.decode()


def test_anonymous_visitors_are_sent_to_sign_in(journey: Journey, client: Client) -> None:
    for url in urls(journey):
        response = client.get(url)
        assert response.status_code == 302
        assert response["Location"].startswith("/sign-in/?next=")


def test_another_organizations_journey_history_is_not_found(
    personas: Personas, journey: Journey, client: Client
) -> None:
    update_journey(actor=personas.manager, journey=journey, data={"name": "Secret plans"})
    signed_in(client, personas.outsider)

    response = client.get(f"/journeys/{journey.pk}/history/")
    assert response.status_code == 404
    missing = client.get("/journeys/999999999/history/")
    assert CSRF_MASK.sub(b"", response.content) == CSRF_MASK.sub(b"", missing.content)

    # The outsider manages their own organization: its activity page holds none of ours,
    # even when asked for our journey by id.
    response = client.get(f"/activity/?journey={journey.pk}")
    assert response.status_code == 200
    assert "Secret plans" not in response.content.decode()
    assert history_rows(response) == []


def test_only_managers_are_linked_to_the_history(
    personas: Personas, journey: Journey, client: Client
) -> None:
    history = f'href="/journeys/{journey.pk}/history/"'
    for role, linked in (("manager", True), ("evaluator", False), ("viewer", False)):
        signed_in(client, getattr(personas, role))
        assert (history in client.get(f"/journeys/{journey.pk}/").content.decode()) is linked
        assert ('href="/activity/"' in client.get("/").content.decode()) is linked


# --- The pages: what they show ---------------------------------------------------------------


def test_changes_made_in_the_editor_and_through_the_api_show_who_what_and_when(
    personas: Personas, journey: Journey, client: Client
) -> None:
    stage = StageFactory(journey=journey, name="Sign up")
    StageFactory(journey=journey, name="Install")
    signed_in(client, personas.manager)
    # The browser editor renames the stage...
    assert client.post(f"/edit/stages/{stage.pk}/", {"name": "Order"}).status_code == 302
    # ...and an API client, with its own token, moves it and retargets the journey.
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {create_token(user=personas.manager, name='s')[1]}")
    etag = api.get(f"/api/v1/stages/{stage.pk}/")["ETag"]
    moved = api.post(
        f"/api/v1/stages/{stage.pk}/move/", {"position": 1}, format="json", HTTP_IF_MATCH=etag
    )
    assert moved.status_code == 200, moved.content
    etag = api.get(f"/api/v1/journeys/{journey.pk}/")["ETag"]
    patched = api.patch(
        f"/api/v1/journeys/{journey.pk}/", {"target": 85}, format="json", HTTP_IF_MATCH=etag
    )
    assert patched.status_code == 200, patched.content

    response = client.get(f"/journeys/{journey.pk}/history/")

    assert response.status_code == 200
    manager = str(personas.manager)
    assert history_rows(response)[:3] == [
        f"{when(0)} {manager} Changed Journey New broadband customer Target: 80.0 → 85.0",
        f"{when(1)} {manager} Moved Stage Order Position: place 1 → place 2",
        f"{when(2)} {manager} Changed Stage Order Name: Sign up → Order",
    ]


def when(index: int) -> str:
    """The 'when' cell of the index-th newest event (they were all written just now)."""
    event = AuditEvent.objects.order_by("-at", "-id")[index]
    return event.at.strftime("%-d %b %Y, %H:%M")


def test_a_journeys_history_holds_only_that_journeys_changes(
    personas: Personas, journey: Journey, client: Client
) -> None:
    other = JourneyFactory(organization=personas.org, name="Moving house")
    update_journey(actor=personas.manager, journey=journey, data={"persona": "Families"})
    update_journey(actor=personas.manager, journey=other, data={"persona": "Movers"})
    site = SiteFactory(organization=personas.org, name="Harbour")
    archive_site(actor=personas.manager, site=site)

    rows = history_rows(signed_in(client, personas.manager).get(f"/journeys/{journey.pk}/history/"))

    assert len(rows) == 1
    assert "Families" in rows[0]


def test_activity_lists_the_organizations_changes_and_narrows_to_one_journey(
    personas: Personas, journey: Journey, client: Client
) -> None:
    other = JourneyFactory(organization=personas.org, name="Moving house")
    update_journey(actor=personas.manager, journey=journey, data={"persona": "Families"})
    update_journey(actor=personas.manager, journey=other, data={"persona": "Movers"})
    archive_site(actor=personas.manager, site=SiteFactory(organization=personas.org, name="Quay"))
    rival = JourneyFactory(organization=personas.other_org, name="Rival plans")
    update_journey(actor=personas.outsider, journey=rival, data={"persona": "Rivals"})
    signed_in(client, personas.manager)

    everything = history_rows(client.get("/activity/"))
    narrowed = history_rows(client.get(f"/activity/?journey={other.pk}"))

    assert len(everything) == 3
    assert [("Quay" in r, "Movers" in r, "Families" in r) for r in everything] == [
        (True, False, False),
        (False, True, False),
        (False, False, True),
    ]
    assert not any("Rival" in r for r in everything)
    assert len(narrowed) == 1 and "Movers" in narrowed[0]
    assert "Moving house" in narrowed[0]  # the journey column


def test_a_deleted_journeys_changes_stay_in_the_activity(
    personas: Personas, client: Client
) -> None:
    from journeys.services import delete_journey

    doomed = JourneyFactory(organization=personas.org, name="Abandoned idea")
    update_journey(actor=personas.manager, journey=doomed, data={"persona": "Nobody"})
    doomed_id = doomed.pk
    assert delete_journey(actor=personas.manager, journey=doomed) is True

    signed_in(client, personas.manager)
    rows = history_rows(client.get("/activity/"))

    assert [r.split(" Abandoned idea ")[0].split()[-2:] for r in rows] == [
        ["Deleted", "Journey"],
        ["Changed", "Journey"],
    ]
    assert all("a deleted journey" in r for r in rows)
    assert client.get(f"/journeys/{doomed_id}/history/").status_code == 404


def test_changes_by_a_deleted_user_still_show(
    personas: Personas, journey: Journey, client: Client
) -> None:
    record_audit(actor=None, organization=personas.org, action="archive", obj=journey)

    rows = history_rows(signed_in(client, personas.manager).get(f"/journeys/{journey.pk}/history/"))

    assert "a deleted user Archived Journey" in rows[0]


def test_hostile_names_and_values_are_escaped_and_the_page_needs_no_inline_code(
    personas: Personas, journey: Journey, client: Client
) -> None:
    stage = StageFactory(journey=journey, name="Sign up")
    update_stage(actor=personas.manager, stage=stage, data={"name": HOSTILE})
    signed_in(client, personas.manager)

    for url in urls(journey):
        response = client.get(url)
        html = response.content.decode()
        assert HOSTILE not in html
        assert "&lt;script&gt;" in html
        assert not INLINE_SCRIPT.search(html.replace("&lt;script&gt;", ""))
        assert not INLINE_HANDLER.search(html) and not INLINE_STYLE.search(html)
        assert "'unsafe-inline'" not in response["Content-Security-Policy"]
        assert "<table" in html and '<th scope="col">Who</th>' in html


# --- Pages and queries ------------------------------------------------------------------------


def make_events(personas: Personas, journey: Journey, n: int) -> None:
    touch_point = TouchPointFactory(stage=StageFactory(journey=journey))
    AuditEvent.objects.bulk_create(
        AuditEvent(
            organization=personas.org,
            actor=personas.manager if i % 2 else personas.evaluator,
            journey=journey,
            action="update",
            object_type="touchpoint",
            object_id=touch_point.pk,
            object_repr=f"Touch point {i}",
            changes={"importance": [i % 5 + 1, (i + 1) % 5 + 1]},
        )
        for i in range(n)
    )


def test_history_is_paginated_50_to_a_page_and_the_filter_is_kept(
    personas: Personas, journey: Journey, client: Client
) -> None:
    make_events(personas, journey, 120)
    signed_in(client, personas.manager)

    first = client.get(f"/activity/?journey={journey.pk}")
    last = client.get(f"/activity/?journey={journey.pk}&page=3")

    assert len(history_rows(first)) == 50
    assert len(history_rows(last)) == 20
    assert f'href="?journey={journey.pk}&amp;page=2"' in first.content.decode()
    assert "Page 3 of 3" in last.content.decode()
    assert len(history_rows(client.get(f"/journeys/{journey.pk}/history/?page=2"))) == 50


@pytest.mark.parametrize("page", ["history", "activity"])
def test_pages_read_the_same_number_of_queries_for_5_and_50_events(
    personas: Personas, client: Client, django_assert_max_num_queries: Any, page: str
) -> None:
    small = JourneyFactory(organization=personas.org, name="Small")
    large = JourneyFactory(organization=personas.org, name="Large")
    make_events(personas, small, 5)
    make_events(personas, large, 50)
    signed_in(client, personas.manager)
    client.get("/")  # warm the session

    def url(journey: Journey) -> str:
        if page == "history":
            return f"/journeys/{journey.pk}/history/"
        return f"/activity/?journey={journey.pk}"

    with django_assert_max_num_queries(10) as few:
        assert client.get(url(small)).status_code == 200
    with django_assert_max_num_queries(len(few.captured_queries)):
        assert client.get(url(large)).status_code == 200


def test_a_manager_of_two_organizations_sees_each_ones_activity_in_turn(
    personas: Personas, client: Client
) -> None:
    from tests.factories import MembershipFactory

    MembershipFactory(user=personas.manager, organization=personas.other_org, role=Role.MANAGER)
    archive_site(actor=personas.manager, site=SiteFactory(organization=personas.org, name="Ours"))
    theirs = Site.objects.create(organization=personas.other_org, name="Theirs")
    archive_site(actor=personas.outsider, site=theirs)
    signed_in(client, personas.manager)

    client.post("/organization/", {"organization": personas.org.pk})
    ours = history_rows(client.get("/activity/"))
    client.post("/organization/", {"organization": personas.other_org.pk})
    other = history_rows(client.get("/activity/"))

    assert len(ours) == 1 and "Ours" in ours[0]
    assert len(other) == 1 and "Theirs" in other[0]
