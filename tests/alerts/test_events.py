"""Events: the recompute records each transition once (weak link in and out, blind spot
scored, journey target crossed), a submission records a critical failure; each becomes
an event with the figures of its moment, in every member's feed with the way they hear
it by email; the feed in the browser with its unread count."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from alerts import services
from alerts.models import EmailMode, Event, EventKind, Notification, NotificationSetting
from scoring import transitions
from scoring.models import ScoreTransition
from tests.alerts.helpers import make_spot, rescore, submit
from tests.conftest import Personas
from touchpoints.models import CriticalFailure

pytestmark = pytest.mark.django_db


def _kinds() -> list[str]:
    return list(Event.objects.order_by("id").values_list("kind", flat=True))


@pytest.mark.parametrize(
    ("before", "after", "kinds"),
    [
        ("insufficient_data", "weak_link", ["blind_spot.scored", "weak_link.entered"]),
        ("insufficient_data", "meets", ["blind_spot.scored"]),
        ("at_risk", "weak_link", ["weak_link.entered"]),
        ("weak_link", "at_risk", ["weak_link.left"]),
        ("weak_link", "insufficient_data", ["weak_link.left"]),
        ("weak_link", "weak_link", []),
        ("meets", "at_risk", []),
        ("insufficient_data", "insufficient_data", []),
    ],
)
def test_touch_point_transitions(before: str, after: str, kinds: list[str]) -> None:
    assert transitions.touch_point_kinds(before, after) == kinds


@pytest.mark.parametrize(
    ("before", "after", "target", "direction"),
    [
        (70.0, 80.0, 80.0, "up"),
        (80.0, 79.9, 80.0, "down"),
        (81.0, 90.0, 80.0, None),
        (None, 90.0, 80.0, None),
        (70.0, None, 80.0, None),
    ],
)
def test_journey_crossing(before, after, target, direction) -> None:  # type: ignore[no-untyped-def]
    assert transitions.crossing(before, after, target) == direction


def test_recompute_records_each_transition_once_with_its_figures(personas: Personas) -> None:
    spot = make_spot(personas.org)
    week_ago = timezone.now() - timedelta(days=7)
    submit(spot, personas.evaluator, [3, 3], at=week_ago)
    rescore(spot)  # first snapshot: nothing to compare with
    assert not ScoreTransition.objects.exists()

    submit(spot, personas.evaluator, [3, 3, 3, 3], at=week_ago)
    rescore(spot)
    rescore(spot)  # nothing changed: nothing recorded twice
    assert services.drain_outboxes() == 2
    assert _kinds() == [EventKind.BLIND_SPOT_SCORED, EventKind.WEAK_LINK_ENTERED]
    weak = Event.objects.get(kind=EventKind.WEAK_LINK_ENTERED)
    assert weak.touch_point_id == spot.touch_point.pk
    assert weak.data["n"] == 6
    assert weak.data["smoothed"] == pytest.approx(50.0)
    assert weak.data["target"] == 80.0
    assert weak.data["status_before"] == "insufficient_data"
    assert "became a weak link" in weak.summary
    assert not ScoreTransition.objects.exists()  # the outbox is drained
    assert services.drain_outboxes() == 0

    # Better evaluations: out of the weak links, and the journey reaches its target.
    submit(spot, personas.evaluator, [5] * 40, at=week_ago)
    rescore(spot)
    services.drain_outboxes()
    assert _kinds()[2:] == [EventKind.WEAK_LINK_LEFT, EventKind.JOURNEY_TARGET_CROSSED]
    crossed = Event.objects.get(kind=EventKind.JOURNEY_TARGET_CROSSED)
    assert crossed.data["direction"] == "up"
    assert crossed.data["score_before"] < 80.0 <= crossed.data["score"]


def test_managers_hear_weak_links_by_email_by_default_and_members_choose(
    personas: Personas,
) -> None:
    spot = make_spot(personas.org)
    NotificationSetting.objects.create(
        membership=personas.membership(personas.evaluator),
        journey=spot.journey,
        mode=EmailMode.DIGEST,
    )
    week_ago = timezone.now() - timedelta(days=7)
    submit(spot, personas.evaluator, [3, 3], at=week_ago)
    rescore(spot)
    submit(spot, personas.evaluator, [3] * 4, at=week_ago)
    rescore(spot)
    services.drain_outboxes()
    modes = dict(
        Notification.objects.filter(event__kind=EventKind.WEAK_LINK_ENTERED).values_list(
            "user__email", "email"
        )
    )
    assert modes == {
        personas.manager.email: EmailMode.IMMEDIATE,
        personas.evaluator.email: EmailMode.DIGEST,
        personas.viewer.email: EmailMode.NONE,
    }
    scored = dict(
        Notification.objects.filter(event__kind=EventKind.BLIND_SPOT_SCORED).values_list(
            "user__email", "email"
        )
    )
    assert scored[personas.manager.email] == EmailMode.NONE  # not a default kind
    assert not Notification.objects.filter(user=personas.outsider).exists()


def test_a_failed_critical_criterion_is_an_event(personas: Personas) -> None:
    spot = make_spot(personas.org, critical=True)
    now = timezone.now() - timedelta(hours=1)
    submit(spot, personas.evaluator, [5], at=now, critical_value=1)
    assert not CriticalFailure.objects.exists()
    submit(spot, personas.evaluator, [5], at=now, critical_value=0)
    assert CriticalFailure.objects.count() == 1
    assert services.drain_outboxes() == 1
    event = Event.objects.get()
    assert event.kind == EventKind.CRITICAL_FAILURE
    assert event.data["criterion_name"] == "Door unlocked"
    assert event.data["score"] == 0.0
    assert "failed the critical criterion" in event.summary
    manager_entry = Notification.objects.get(event=event, user=personas.manager)
    assert manager_entry.email == EmailMode.IMMEDIATE
    assert not CriticalFailure.objects.exists()


def test_feed_shows_unread_count_and_marks_read(personas: Personas, client: Client) -> None:
    spot = make_spot(personas.org, critical=True)
    at = timezone.now() - timedelta(hours=1)
    submit(spot, personas.evaluator, [5], at=at, critical_value=0)
    submit(spot, personas.evaluator, [4], at=at, critical_value=0)
    services.drain_outboxes()
    client.force_login(personas.viewer)
    page = client.get("/notifications/").content.decode()
    assert 'class="nav-count">2<span class="visually-hidden"> unread</span>' in page
    assert page.count("failed the critical criterion") == 2
    first = Notification.objects.filter(user=personas.viewer).first()
    assert first is not None
    client.post("/notifications/read/", {"notification": first.pk})
    assert 'class="nav-count">1<' in client.get("/").content.decode()
    client.post("/notifications/read/")
    assert "nav-count" not in client.get("/").content.decode()
    # Someone else's entries are untouched, and the outsider's feed is empty.
    assert Notification.objects.filter(user=personas.manager, read_at__isnull=True).count() == 2
    client.force_login(personas.outsider)
    assert "failed the critical criterion" not in client.get("/notifications/").content.decode()


def test_settings_page_saves_own_choices_only(personas: Personas, client: Client) -> None:
    spot = make_spot(personas.org)
    client.force_login(personas.viewer)
    assert client.get("/notifications/settings/").status_code == 200
    response = client.post("/notifications/settings/", {f"journey-{spot.journey.pk}": "immediate"})
    assert response.status_code == 302
    setting = NotificationSetting.objects.get()
    assert setting.membership.user == personas.viewer
    assert setting.mode == "immediate"
    bad = client.post("/notifications/settings/", {f"journey-{spot.journey.pk}": "hourly"})
    assert bad.status_code == 400
    client.force_login(personas.outsider)  # another organization's journey id: ignored
    client.post("/notifications/settings/", {f"journey-{spot.journey.pk}": "digest"})
    assert NotificationSetting.objects.count() == 1
