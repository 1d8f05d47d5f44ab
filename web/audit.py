"""The audit log in the browser: who created, changed, moved, archived or deleted which piece
of journey structure, and when. Managers only (the people who can make those changes);
evaluators and viewers get the friendly 403, another organization's journey a 404.

Events are written by the services (accounts.services.record_audit); this module only reads
them, one page at a time, and words their `changes` for people.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.core.exceptions import PermissionDenied
from django.core.paginator import Page, Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from accounts.models import AuditEvent, Membership
from core.ids import parse_id
from journeys.models import Journey
from web.context import journey_for_member, require_membership
from web.views import member_page

EVENTS_PER_PAGE = 50

ACTIONS = {
    "create": "Created",
    "update": "Changed",
    "reorder": "Moved",
    "archive": "Archived",
    "restore": "Restored",
    "delete": "Deleted",
    "invite": "Invited",
    "resend": "Resent the invitation to",
    "revoke": "Withdrew the invitation to",
    "accept": "Joined",
    "remove": "Removed",
}
OBJECT_TYPES = {
    "journey": "Journey",
    "stage": "Stage",
    "touchpoint": "Touch point",
    "criterion": "Criterion",
    "site": "Site",
    "invitation": "Invitation",
    "membership": "Member",
    "organization": "Organization settings",
    "alertsettings": "Organization settings",
}
# Bookkeeping kept in `changes` for machines, not shown (the names beside them are).
HIDDEN_CHANGES = frozenset({"stage_id"})


@dataclass(frozen=True)
class Change:
    field: str
    old: str
    new: str


def _shown(field: str, value: Any) -> str:
    if value is None or value == "":
        return "(empty)"
    if field == "position" and isinstance(value, int):
        return f"place {value + 1}"  # stored 0-based like the API; people count from 1
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list):
        return ", ".join(str(v) for v in value) or "(none)"
    return str(value)


def describe_changes(changes: dict[str, Any]) -> list[Change]:
    """`{"name": ["Old", "New"]}` → [Change("name", "Old", "New")], in a stable order.

    A value that is not an [old, new] pair (rows recorded before the history page existed
    wrote only the new position) is shown as the new value."""
    described = []
    for field, value in sorted(changes.items()):
        if field in HIDDEN_CHANGES:
            continue
        if isinstance(value, list) and len(value) == 2:
            old, new = value
        else:
            old, new = None, value
        label = field.replace("_", " ")
        described.append(Change(label, _shown(field, old), _shown(field, new)))
    return described


def _rows(page: Page[AuditEvent]) -> list[dict[str, Any]]:
    return [
        {
            "event": event,
            "action": ACTIONS.get(event.action, event.action),
            "object_type": OBJECT_TYPES.get(event.object_type, event.object_type),
            "changes": describe_changes(event.changes or {}),
        }
        for event in page
    ]


def _require_manager(membership: Membership) -> None:
    if not membership.can_edit_structure:
        raise PermissionDenied("Only managers of this organization see its change history.")


def _page(request: HttpRequest, events: Any) -> Page[AuditEvent]:
    return Paginator(events, EVENTS_PER_PAGE).get_page(request.GET.get("page"))


@member_page
def journey_history(request: HttpRequest, journey_id: int) -> HttpResponse:
    """Every structure change of one journey, newest first."""
    journey, membership = journey_for_member(request, journey_id)
    _require_manager(membership)
    events = (
        AuditEvent.objects.for_organization(journey.organization_id)
        .filter(journey_id=journey.pk)
        .select_related("actor")
    )
    page = _page(request, events)
    context = {
        "membership": membership,
        "journey": journey,
        "page": page,
        "rows": _rows(page),
    }
    return render(request, "web/history.html", context)


@member_page
def activity(request: HttpRequest) -> HttpResponse:
    """Every structure change in the acting organization, newest first; ?journey= narrows it
    to one journey (a journey of another organization simply has no events here)."""
    membership = require_membership(request)
    _require_manager(membership)
    organization = membership.organization
    events = AuditEvent.objects.for_organization(organization).select_related("actor", "journey")
    raw = request.GET.get("journey", "")
    chosen = parse_id(raw)
    if chosen is not None:
        events = events.filter(journey_id=chosen)
    page = _page(request, events)
    context = {
        "nav": "activity",
        "membership": membership,
        "organization": organization,
        "journeys": Journey.objects.for_organization(organization).only("pk", "name"),
        "chosen": chosen,
        "page": page,
        "rows": _rows(page),
    }
    return render(request, "web/history.html", context)
