"""The actions part of the touch point page and the map card (alerts app), kept apart
from web.views so both it and web.alerts_views can use it without importing each other."""

from __future__ import annotations

from typing import Any

from accounts.models import Role
from alerts import selectors
from web import charts


def action_context(touch_point: Any, membership: Any, target: float | None) -> dict[str, Any]:
    """The touch point page's actions section: every action, the chart of the newest one
    that was done, and (for managers) the form to open one."""
    lines = selectors.touch_point_actions(touch_point.pk)
    shown = next((line for line in lines if line.action.done_at is not None), None)
    chart = None
    if shown is not None:
        a = shown.action
        ev_high = None
        if a.evidence_mean is not None and a.evidence_low is not None:
            ev_high = min(100.0, 2 * a.evidence_mean - a.evidence_low)
        chart = charts.before_after_chart(
            charts.Interval(
                "Before", a.baseline_n, a.baseline_mean, a.baseline_ci_low, a.baseline_ci_high
            ),
            charts.Interval("After done", a.evidence_n, a.evidence_mean, a.evidence_low, ev_high),
            target=target,
        )
    return {
        "action_lines": lines,
        "action_chart": chart,
        "action_chart_line": shown,
        "can_open_action": membership.role == Role.MANAGER,
        "owner_choices": selectors.member_choices(touch_point.organization_id)
        if membership.role == Role.MANAGER
        else [],
    }
