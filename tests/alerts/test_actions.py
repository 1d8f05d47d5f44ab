"""Action plans: opened with a baseline, marked done, judged by re-measured evidence
(PRODUCT.md method step 9), audit-logged, each state change an event, shown on the map
card and on the touch point page."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.test import Client
from django.utils import timezone

from accounts.models import AuditEvent
from alerts import selectors, services
from alerts.models import Action, Event, EventKind, Notification
from tests.alerts.helpers import make_spot, rescore, submit
from tests.conftest import Personas

pytestmark = pytest.mark.django_db


def _baseline_spot(personas: Personas):
    """Six evaluations scoring 50, a week ago: the snapshot's mean is 50."""
    spot = make_spot(personas.org)
    submit(spot, personas.manager, [3] * 6, at=timezone.now() - timedelta(days=7))
    rescore(spot)
    return spot


def _open(personas: Personas, spot, **extra) -> Action:
    return services.open_action(
        actor=personas.manager,
        touch_point=spot.touch_point,
        description=extra.pop("description", "Greet returning customers by name"),
        owner_id=extra.pop("owner_id", personas.evaluator.pk),
        due=extra.pop("due", None),
    )


def _done_days_ago(personas: Personas, action: Action, days: int) -> Action:
    """Mark done through the service, then move the moment back so evidence can be
    'observed after it' without observing in the future."""
    services.mark_action_done(actor=personas.evaluator, action=action)
    Action.objects.filter(pk=action.pk).update(done_at=timezone.now() - timedelta(days=days))
    return Action.objects.get(pk=action.pk)


def test_opening_records_the_baseline_of_the_snapshot(personas: Personas) -> None:
    spot = _baseline_spot(personas)
    action = _open(personas, spot, due=date(2030, 1, 1))
    assert action.state == "opened"
    assert action.baseline_n == 6
    assert action.baseline_mean == pytest.approx(50.0)
    assert action.baseline_smoothed == pytest.approx(50.0)
    assert action.baseline_ci_low == pytest.approx(50.0)  # six identical scores: sd 0
    assert action.baseline_window_start is not None and action.baseline_window_end is not None
    assert AuditEvent.objects.filter(action="open_action", object_id=action.pk).exists()
    event = Event.objects.get(kind=EventKind.ACTION_OPENED, action=action)
    assert event.data["baseline"]["mean"] == pytest.approx(50.0)
    # Every member of the organization has it in their feed; the outsider does not.
    assert set(Notification.objects.filter(event=event).values_list("user_id", flat=True)) == {
        personas.manager.pk,
        personas.evaluator.pk,
        personas.viewer.pk,
    }


def test_baseline_to_verified_as_better_evaluations_arrive(personas: Personas) -> None:
    spot = _baseline_spot(personas)
    action = _done_days_ago(personas, _open(personas, spot), days=3)
    assert action.state == "done"
    assert services.judge_action(action.pk) == "done"  # nothing observed since

    submit(spot, personas.evaluator, [5, 5, 5], at=timezone.now() - timedelta(days=1))
    assert services.judge_action(action.pk) == "verifying"
    line = selectors.current_actions(spot.journey.pk)[spot.touch_point.pk]
    assert line.evidence_text == "3 of 5 evaluations"

    submit(spot, personas.evaluator, [5, 5], at=timezone.now() - timedelta(hours=12))
    assert services.judge_action(action.pk) == "verified"
    action.refresh_from_db()
    assert action.evidence_n == 5
    assert action.evidence_mean == pytest.approx(100.0)
    kinds = list(Event.objects.filter(action=action).order_by("id").values_list("kind", flat=True))
    assert kinds == [
        EventKind.ACTION_OPENED,
        EventKind.ACTION_DONE,
        EventKind.ACTION_VERIFYING,
        EventKind.ACTION_VERIFIED,
    ]
    assert AuditEvent.objects.filter(action="action_verdict", object_id=action.pk).count() == 2
    # Final: more (worse) evidence changes nothing.
    submit(spot, personas.evaluator, [1] * 5, at=timezone.now() - timedelta(hours=1))
    assert services.judge_action(action.pk) == "verified"


def test_unchanged_scores_end_not_shown_to_work(personas: Personas) -> None:
    spot = _baseline_spot(personas)
    action = _done_days_ago(personas, _open(personas, spot), days=3)
    submit(spot, personas.evaluator, [3] * 8, at=timezone.now() - timedelta(days=1))
    assert services.judge_action(action.pk) == "verifying"
    later = timezone.now() + timedelta(days=30)
    assert services.judge_action(action.pk, now=later) == "not_shown_to_work"
    assert Event.objects.filter(action=action, kind=EventKind.ACTION_NOT_SHOWN).count() == 1


def test_evidence_observed_before_done_does_not_count(personas: Personas) -> None:
    spot = _baseline_spot(personas)
    action = _done_days_ago(personas, _open(personas, spot), days=1)
    submit(spot, personas.evaluator, [5] * 6, at=timezone.now() - timedelta(days=2))
    assert services.judge_action(action.pk) == "done"


def test_judge_awaiting_judges_after_a_rescore_and_at_review_end(personas: Personas) -> None:
    spot = _baseline_spot(personas)
    action = _done_days_ago(personas, _open(personas, spot), days=2)
    assert services.judge_awaiting() == 1  # never judged
    assert services.judge_awaiting() == 0  # nothing new
    submit(spot, personas.evaluator, [5] * 5, at=timezone.now() - timedelta(days=1))
    rescore(spot)
    assert services.judge_awaiting() == 1
    action.refresh_from_db()
    assert action.state == "verified"


def test_only_managers_open_and_the_owner_must_be_a_member(personas: Personas) -> None:
    spot = _baseline_spot(personas)
    with pytest.raises(PermissionDenied):
        services.open_action(
            actor=personas.evaluator,
            touch_point=spot.touch_point,
            description="x",
            owner_id=personas.evaluator.pk,
        )
    with pytest.raises(PermissionDenied):
        services.open_action(
            actor=personas.outsider,
            touch_point=spot.touch_point,
            description="x",
            owner_id=personas.outsider.pk,
        )
    with pytest.raises(ValidationError) as refused:
        _open(personas, spot, owner_id=personas.outsider.pk, description="   ", due="tomorrow")
    assert set(refused.value.message_dict) == {"owner", "description", "due"}
    assert not Action.objects.exists()


def test_only_the_owner_or_a_manager_marks_done_and_only_once(personas: Personas) -> None:
    spot = _baseline_spot(personas)
    action = _open(personas, spot, owner_id=personas.manager.pk)
    with pytest.raises(PermissionDenied):
        services.mark_action_done(actor=personas.viewer, action=action)
    with pytest.raises(PermissionDenied):
        services.mark_action_done(actor=personas.outsider, action=action)
    services.mark_action_done(actor=personas.manager, action=action)
    with pytest.raises(ValidationError):
        services.mark_action_done(actor=personas.manager, action=action)


def test_overdue_is_derived_from_the_due_date(personas: Personas) -> None:
    spot = _baseline_spot(personas)
    _open(personas, spot, due=timezone.now().date() - timedelta(days=1))
    line = selectors.current_actions(spot.journey.pk)[spot.touch_point.pk]
    assert line.overdue


def test_card_and_page_show_the_action_and_the_before_after_chart(
    personas: Personas, client: Client
) -> None:
    spot = _baseline_spot(personas)
    action = _done_days_ago(personas, _open(personas, spot), days=3)
    submit(spot, personas.evaluator, [5, 5, 5], at=timezone.now() - timedelta(days=1))
    services.judge_action(action.pk)
    client.force_login(personas.viewer)
    page = client.get(f"/journeys/{spot.journey.pk}/").content.decode()
    assert (
        'Action: <span class="action-state action-state--verifying">verifying</span>, 3 of 5 evaluations'
        in page
    )
    detail = client.get(f"/touch-points/{spot.touch_point.pk}/").content.decode()
    assert "Before and after the action was done" in detail
    assert "Greet returning customers by name" in detail
    assert "Open an action" not in detail  # viewers do not open actions


def test_browser_open_and_done_with_walls(personas: Personas, client: Client) -> None:
    spot = _baseline_spot(personas)
    client.force_login(personas.manager)
    response = client.post(
        f"/touch-points/{spot.touch_point.pk}/actions/",
        {"description": "New greeting script", "owner": personas.evaluator.pk, "due": "2030-01-31"},
    )
    assert response.status_code == 302
    action = Action.objects.get()
    assert action.due == date(2030, 1, 31)

    client.force_login(personas.outsider)
    assert (
        client.post(
            f"/touch-points/{spot.touch_point.pk}/actions/", {"description": "x"}
        ).status_code
        == 404
    )
    assert client.post(f"/actions/{action.pk}/done/").status_code == 404

    client.force_login(personas.viewer)
    assert client.post(f"/actions/{action.pk}/done/").status_code == 403
    action.refresh_from_db()
    assert action.state == "opened"

    client.force_login(personas.evaluator)  # the owner
    assert client.post(f"/actions/{action.pk}/done/").status_code == 302
    action.refresh_from_db()
    assert action.state == "done"
