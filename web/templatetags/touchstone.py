"""Template helpers shared by every page: the header's organization context and how scores,
statuses and trends are written out (always in words or symbols as well as colour)."""

from __future__ import annotations

from typing import Any

from django import template
from django.http import HttpRequest

from alerts.selectors import unread_count
from touchpoints.models import CriterionKind
from web.context import current_membership, memberships

register = template.Library()

# Status keys as scoring.formulas names them, with the words and symbol shown beside the colour.
STATUS_LABELS = {
    "meets": ("Meets target", "✓"),
    "at_risk": ("At risk", "!"),
    "weak_link": ("Weak link", "✕"),
    "insufficient_data": ("Blind spot: too few evaluations", "?"),
}
PENDING_LABEL = ("Not scored yet", "…")


@register.simple_tag(takes_context=True)
def organization_context(context: template.Context) -> dict[str, Any]:
    """The acting membership and all of the user's memberships, for the header.

    Safe where there is no request (the 500 page): then there is nothing to switch.
    """
    request: HttpRequest | None = context.get("request")
    if request is None or not hasattr(request, "user"):
        return {"current": None, "all": []}
    return {"current": current_membership(request), "all": memberships(request)}


@register.simple_tag(takes_context=True)
def unread_notifications(context: template.Context) -> int:
    """How many feed entries the signed-in member has not read, in the acting organization."""
    request: HttpRequest | None = context.get("request")
    if request is None or not getattr(request, "user", None) or not request.user.is_authenticated:
        return 0
    membership = current_membership(request)
    if membership is None:
        return 0
    return unread_count(request.user.pk, membership.organization_id)


@register.filter
def score(value: float | None) -> str:
    """A 0–100 score to one decimal, or an em dash when there is none."""
    if value is None:
        return "—"
    return f"{value:.1f}"


@register.filter
def signed(value: float | None) -> str:
    """A change in points with its sign (+3.2, −1.0), or an em dash."""
    if value is None:
        return "—"
    sign = "+" if value > 0 else "−" if value < 0 else "±"
    return f"{sign}{abs(value):.1f}"


@register.filter
def status_label(status: str | None) -> str:
    return STATUS_LABELS.get(status or "", PENDING_LABEL)[0]


@register.filter
def status_icon(status: str | None) -> str:
    return STATUS_LABELS.get(status or "", PENDING_LABEL)[1]


@register.filter
def kind_label(kind: str) -> str:
    """A criterion kind as people say it ("Yes / no"), from the model's choices."""
    try:
        return str(CriterionKind(kind).label)
    except ValueError:
        return kind


@register.filter
def status_count(status: str | None, count: int) -> str:
    """How many touch points have a status, in words: "3 weak links", "1 meeting target"."""
    many = count != 1
    words = {
        "meets": "meeting target",
        "at_risk": "at risk",
        "weak_link": "weak links" if many else "weak link",
        "insufficient_data": "blind spots" if many else "blind spot",
    }
    return f"{count} {words.get(status or '', 'not scored yet')}"


@register.filter
def trend_word(trend: Any) -> str:
    """The trend (scoring.selectors.Trend) in words, for screen readers and tooltips."""
    if trend is None or trend.direction is None:
        return "no trend yet"
    if trend.direction == "steady":
        return f"steady ({signed(trend.change)} points on the previous window)"
    return f"{trend.direction} {abs(trend.change):.1f} points on the previous window"


@register.filter
def trend_arrow(direction: str | None) -> str:
    return {"up": "↑", "down": "↓", "steady": "→"}.get(direction or "", "·")
