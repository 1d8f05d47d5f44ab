"""The organization's settings page: a manager changes the name, the default target, the
scoring method (min n, k, window) and the digest time; the page then says which touch
points change status, counted with the same scoring function the map's snapshots use; a
second manager's stale form is told and overwrites nothing; out-of-range values are
refused whole; every change is on the Activity page. (Who may open it at all: the role
and tenancy walks of tests/web/test_web_walls.py.)"""

from __future__ import annotations

from datetime import time, timedelta
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from accounts.models import AuditEvent, Organization
from alerts.models import AlertSettings
from alerts.organization import current_settings, version_of
from core.models import JourneyStaleMark
from journeys.services import create_journey
from tests.alerts.helpers import Spot, make_spot, submit
from tests.conftest import Personas
from tests.factories import CriterionFactory, TouchPointFactory

URL = "/settings/"


def signed_in(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


def form(org: Organization, **changes: Any) -> dict[str, str]:
    values = current_settings(org.pk)
    return {
        **{k: str(v) for k, v in values.items()},
        "version": version_of(values),
        **{k: str(v) for k, v in changes.items()},
    }


def build_three_touch_points(org: Organization, evaluator: Any) -> tuple[Spot, Any, Any]:
    """Target 80, k 5, min n 5. A: four evaluations scoring 0; B: four scoring 100; C: six
    scoring 100. The journey's prior is 1000/14 ≈ 71.4, so with min n 5 A and B are blind
    spots and C meets its target (smoothed ≈ 87.0); with min n 3, A is a weak link
    (≈ 39.7) and B meets its target (≈ 84.1)."""
    spot = make_spot(org, name="Welcome at the counter")
    b = TouchPointFactory(stage=spot.touch_point.stage, name="Paying the bill")
    c = TouchPointFactory(stage=spot.touch_point.stage, name="Saying goodbye")
    at = timezone.now() - timedelta(days=2)
    submit(spot, evaluator, [1] * 4, at=at)
    for tp, count in ((b, 4), (c, 6)):
        other = Spot(spot.journey, tp, CriterionFactory(touch_point=tp, name="Thanked"))
        submit(other, evaluator, [5] * count, at=at)
    return spot, b, c


@pytest.fixture
def three_touch_points(personas: Personas) -> tuple[Spot, Any, Any]:
    return build_three_touch_points(personas.org, personas.evaluator)


def test_the_page_explains_each_setting_with_its_current_value(personas: Personas) -> None:
    page = signed_in(personas.manager).get(URL)

    assert page.status_code == 200
    text = page.content.decode()
    for label, value in (
        ("os-name", personas.org.name),
        ("os-target", "80.0"),
        ("os-min-n", "5"),
        ("os-k", "5.0"),
        ("os-window", "90"),
        ("os-digest", "07:00"),
    ):
        assert f'id="{label}"' in text and f'value="{value}"' in text, label
        assert f'id="{label}-help"' in text  # one sentence each, tied to its field
    assert "blind spot, never a weak link" in text


def test_saving_the_method_says_which_touch_points_change_status(
    personas: Personas, three_touch_points: Any
) -> None:
    spot, _, _ = three_touch_points
    client = signed_in(personas.manager)

    response = client.post(URL, form(personas.org, min_n=3))

    assert response.status_code == 302
    page = client.get(response["Location"]).content.decode()
    assert "2 touch points change status: 1 becomes a weak link, 1 now meets its target." in page
    assert "Welcome at the counter" in page and "Paying the bill" in page
    assert "Saying goodbye" not in page  # it meets its target either way
    personas.org.refresh_from_db()
    assert personas.org.min_n == 3
    # Rescored through the map-changed hook: every journey is marked stale.
    assert JourneyStaleMark.objects.filter(journey_id=spot.journey.pk).exists()
    # The outcome is shown once, not on every later visit.
    assert "What the last save changed" not in client.get(URL).content.decode()


def test_changing_only_the_name_changes_no_status_and_rescores_nothing(
    personas: Personas, three_touch_points: Any
) -> None:
    client = signed_in(personas.manager)

    response = client.post(URL, form(personas.org, name="Northwind Fibre"), follow=True)

    assert "No touch point changes status." in response.content.decode()
    personas.org.refresh_from_db()
    assert personas.org.name == "Northwind Fibre"
    assert not JourneyStaleMark.objects.exists()


def test_a_second_managers_stale_form_is_told_and_overwrites_nothing(
    personas: Personas,
) -> None:
    first, second = signed_in(personas.manager), signed_in(personas.manager)
    stale = form(personas.org, smoothing_k="2")
    assert first.post(URL, form(personas.org, min_n="8")).status_code == 302

    response = second.post(URL, stale)

    assert response.status_code == 409
    text = response.content.decode()
    assert "Another manager saved these settings" in text
    assert "Now saved: 8" in text
    personas.org.refresh_from_db()
    assert (personas.org.min_n, personas.org.smoothing_k) == (8, 5.0)
    # The form now carries the current version: saving again is a deliberate overwrite.
    again = {**stale, "version": version_of(current_settings(personas.org.pk))}
    assert second.post(URL, again).status_code == 302
    personas.org.refresh_from_db()
    assert personas.org.smoothing_k == 2.0


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("smoothing_k", "101", "Must be a number from 0 to 100."),
        ("smoothing_k", "-1", "Must be a number from 0 to 100."),
        ("smoothing_k", "nan", "Must be a number from 0 to 100."),
        ("min_n", "0", "Must be a whole number from 1 to 1000."),
        ("min_n", "1001", "Must be a whole number from 1 to 1000."),
        ("min_n", "2.5", "Must be a whole number from 1 to 1000."),
        ("window_days", "3661", "Must be a whole number from 1 to 3660."),
        ("default_target", "100.5", "Must be a number from 0 to 100."),
        ("name", "", "This field is required."),
        ("name", "x" * 10_000, "at most 200"),
        ("digest_time", "25:99", "Must be a time of day, HH:MM (UTC)."),
    ],
)
def test_a_value_out_of_bounds_is_refused_and_nothing_is_stored(
    personas: Personas, field: str, value: str, message: str
) -> None:
    before = current_settings(personas.org.pk)
    # Every other field changed too: one refusal keeps them all as they were.
    changes = {"min_n": "7", "smoothing_k": "3", "digest_time": "18:30", "name": "Renamed"}
    changes[field] = value

    response = signed_in(personas.manager).post(URL, form(personas.org, **changes))

    assert response.status_code == 400
    text = response.content.decode()
    assert message in text.replace("&#x27;", "'")
    assert 'aria-invalid="true"' in text
    assert current_settings(personas.org.pk) == before
    assert not AuditEvent.objects.exists()


def test_the_digest_time_and_the_method_are_audited_under_activity(personas: Personas) -> None:
    client = signed_in(personas.manager)

    client.post(URL, form(personas.org, digest_time="18:30", smoothing_k="2.5"))

    assert AlertSettings.objects.get(organization=personas.org).digest_time == time(18, 30)
    events = {e.object_type: e.changes for e in AuditEvent.objects.filter(action="update")}
    assert events["organization"] == {"smoothing_k": [5.0, 2.5]}
    assert events["alertsettings"] == {"digest_time": ["07:00:00", "18:30:00"]}
    activity = client.get(reverse("activity")).content.decode()
    assert activity.count("Organization settings") >= 2
    assert "18:30" in activity and "2.5" in activity


def test_new_journeys_start_with_the_default_target(personas: Personas) -> None:
    client = signed_in(personas.manager)
    client.post(URL, form(personas.org, default_target="92.5"))
    personas.org.refresh_from_db()

    journey = create_journey(actor=personas.manager, organization=personas.org, name="Moving")

    assert journey.target == 92.5
    # The overview's "New journey" form offers it.
    assert 'name="target" value="92.5"' in client.get("/").content.decode()


def test_managers_see_the_settings_in_the_navigation_others_do_not(personas: Personas) -> None:
    assert f'href="{URL}"' in signed_in(personas.manager).get("/").content.decode()
    for person in (personas.evaluator, personas.viewer):
        client = signed_in(person)
        assert f'href="{URL}"' not in client.get("/").content.decode()
        assert client.get(URL).status_code == 403
