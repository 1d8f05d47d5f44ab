"""Reads of the alerts app for pages and the API: feeds, unread counts, actions."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from django.db.models import QuerySet
from django.utils import timezone

from accounts.models import Membership
from alerts.models import Action, ActionState, Notification
from scoring import verification


def feed(user_id: int, organization_id: int) -> QuerySet[Notification]:
    """A member's feed in this organization, newest first."""
    return (
        Notification.objects.filter(user_id=user_id, organization_id=organization_id)
        .select_related("event__journey", "event__touch_point")
        .order_by("-event__occurred_at", "-id")
    )


def unread_count(user_id: int, organization_id: int) -> int:
    return Notification.objects.filter(
        user_id=user_id, organization_id=organization_id, read_at__isnull=True
    ).count()


@dataclass(frozen=True)
class ActionLine:
    """What the map card and the touch point page say about an action."""

    action: Action
    overdue: bool
    min_n: int

    @property
    def state_label(self) -> str:
        return ActionState(self.action.state).label.lower()

    @property
    def evidence_text(self) -> str:
        """e.g. "3 of 5 evaluations" while evidence is being gathered."""
        a = self.action
        if a.state in (ActionState.DONE, ActionState.VERIFYING):
            return f"{a.evidence_n} of {self.min_n} evaluations"
        if a.state == ActionState.OPENED:
            return f"due {a.due:%d %b %Y}" if a.due else "no due date"
        return f"from {a.evidence_n} evaluations"


def _line(action: Action, today: date) -> ActionLine:
    return ActionLine(
        action=action,
        overdue=verification.is_overdue(state=action.state, due=action.due, today=today),
        min_n=action.organization.min_n,
    )


def touch_point_actions(touch_point_id: int) -> list[ActionLine]:
    """Every action on a touch point, newest first."""
    today = timezone.now().date()
    return [
        _line(a, today)
        for a in Action.objects.filter(touch_point_id=touch_point_id)
        .select_related("owner", "organization", "opened_by")
        .order_by("-opened_at", "-id")
    ]


def current_actions(journey_id: int) -> dict[int, ActionLine]:
    """Per touch point of a journey, the action a card shows: the newest one still open
    or being verified, else the newest verdict. One query."""
    today = timezone.now().date()
    chosen: dict[int, Action] = {}
    for action in (
        Action.objects.filter(journey_id=journey_id)
        .select_related("organization")
        .order_by("-opened_at", "-id")
    ):
        held = chosen.get(action.touch_point_id)
        if held is None or (held.is_final and not action.is_final):
            chosen[action.touch_point_id] = action
    return {tp_id: _line(a, today) for tp_id, a in chosen.items()}


def member_choices(organization_id: int) -> QuerySet[Membership]:
    """Who can own an action: the organization's members, by name."""
    return (
        Membership.objects.filter(organization_id=organization_id, user__is_active=True)
        .select_related("user")
        .order_by("user__first_name", "user__email")
    )
