"""The organization's settings as one resource: its name, the target new journeys start
with, the scoring method's settings (min n, smoothing k, window) and the time of the daily
digest. The settings page (web.organization_settings) and `/api/v1/organization/` both
read and change them here, so they refuse the same things with the same messages.

Three owners write the pieces: journeys.services.update_scoring_settings (the
organization row; it marks every journey stale when the method changes) and
alerts.services.set_digest_time (the digest). This module sits in alerts because alerts
is the lowest layer that sees both; it adds no rule of its own beyond:

- **one version** for the whole resource (a hash of what a reader saw, as the API's ETags
  are): a save that names an older version changes nothing (SettingsChangedError), so of
  two managers editing at once the second is told instead of silently overwriting the first;
- **all or nothing**: every field is checked, and one refusal leaves every field as it was;
- **what the change did to the map**: each touch point's status computed with the old and
  the new settings by the function the snapshot writer uses (scoring.services
  .score_journey), over the same evaluations at the same instant.
"""

from __future__ import annotations

import copy
from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from accounts.access import require_role
from accounts.models import ROLES_THAT_EDIT_STRUCTURE, Organization, User
from alerts import services as alert_services
from alerts.models import AlertSettings
from core.api.concurrency import etag_for
from core.text import raise_if
from journeys.models import Journey, JourneyStatus
from journeys.services import ORGANIZATION_SETTINGS, SCORING_SETTINGS, update_scoring_settings
from scoring import formulas
from scoring.services import default_window, map_touch_points, score_journey

#: The resource's fields, in the order the page and the API show them.
FIELDS = (*ORGANIZATION_SETTINGS, "digest_time")


class SettingsChangedError(Exception):
    """The settings changed since the caller read them; nothing was stored."""

    def __init__(self, current: dict[str, Any]) -> None:
        super().__init__("The organization's settings were changed since you read them.")
        self.current = current


def representation(organization: Organization, alerts: AlertSettings) -> dict[str, Any]:
    """The settings as the API returns them (and the page shows them)."""
    return {
        "name": organization.name,
        "default_target": float(organization.default_target),
        "min_n": int(organization.min_n),
        "smoothing_k": float(organization.smoothing_k),
        "window_days": int(organization.window_days),
        "digest_time": alerts.digest_time.strftime("%H:%M"),
    }


def current_settings(organization_id: int) -> dict[str, Any]:
    return representation(
        Organization.objects.get(pk=organization_id),
        alert_services.alert_settings(organization_id),
    )


def version_of(values: dict[str, Any]) -> str:
    """The version of a representation: its strong ETag, so the page's hidden field and
    the API's If-Match name the same thing."""
    return etag_for(values)


@dataclass(frozen=True)
class StatusChange:
    journey_id: int
    journey_name: str
    touch_point_id: int
    touch_point_name: str
    before: str
    after: str


@dataclass(frozen=True)
class Saved:
    values: dict[str, Any]
    changes: list[StatusChange]


def update_organization_settings(
    *,
    actor: User,
    organization: Organization,
    data: dict[str, Any],
    version: str | Collection[str] | None,
    now: datetime | None = None,
) -> Saved:
    """Change any of FIELDS. `version` (from version_of), or one of several (an If-Match
    list), must be the current one, else SettingsChangedError; None skips the check (a
    caller that means to overwrite, like If-Match: *). The check reads the row it locks,
    once: callers pass what the client sent and do not read the settings beforehand.
    Returns the new settings and the touch points whose status the change moved."""
    require_role(actor, organization, ROLES_THAT_EDIT_STRUCTURE)
    unknown = set(data) - set(FIELDS)
    if unknown:
        raise ValidationError({"__all__": [f"Unknown fields: {', '.join(sorted(unknown))}."]})
    with transaction.atomic():
        # The one lock and the one read of the row: the version is checked, and the change
        # made, on the row as it is now (update_scoring_settings(locked=True) neither locks
        # nor reads it again).
        locked = Organization.objects.select_for_update(no_key=True).get(pk=organization.pk)
        before = copy.copy(locked)
        alerts = alert_services.alert_settings(locked.pk)
        seen = representation(locked, alerts)
        accepted = {version} if isinstance(version, str) else version
        if accepted is not None and version_of(seen) not in accepted:
            raise SettingsChangedError(seen)
        errors: dict[str, list[str]] = {}
        own = {k: v for k, v in data.items() if k in ORGANIZATION_SETTINGS}
        try:
            update_scoring_settings(actor=actor, organization=locked, data=own, locked=True)
        except ValidationError as error:
            errors.update(error.message_dict)
        if "digest_time" in data:
            try:
                alerts = alert_services.set_digest_time(
                    actor=actor, organization_id=locked.pk, value=data["digest_time"]
                )
            except ValidationError as error:
                errors.update(error.message_dict)
        raise_if(errors)  # the transaction ends here: nothing of this call is kept
        values = representation(locked, alerts)
    for field in ORGANIZATION_SETTINGS:
        setattr(organization, field, getattr(locked, field))
    method_changed = any(getattr(before, f) != getattr(locked, f) for f in SCORING_SETTINGS)
    changes = status_changes(before, locked, now=now) if method_changed else []
    return Saved(values=values, changes=changes)


def status_changes(
    before: Organization, after: Organization, *, now: datetime | None = None
) -> list[StatusChange]:
    """Touch points (on the maps of journeys not archived) whose status differs between
    the two settings, in map order. Both sides read the same evaluations at the same
    instant, so the difference is the settings' alone, whatever the snapshots hold."""
    now = now or timezone.now()
    journeys = list(
        Journey.objects.for_organization(after.pk)
        .exclude(status=JourneyStatus.ARCHIVED)
        .order_by("name", "id")
    )
    on_map: dict[int, list[Any]] = {}
    for tp in map_touch_points(*[j.pk for j in journeys]):
        on_map.setdefault(tp.journey_id, []).append(tp)
    found = []
    for journey in journeys:
        touch_points = on_map.get(journey.pk, [])
        if not touch_points:
            continue
        statuses = []
        for settings in (before, after):
            journey.organization = settings
            result = score_journey(journey, default_window(settings.window_days, now), touch_points)
            statuses.append({r.touch_point.pk: r.status for r in result.touch_points})
        for tp in touch_points:
            old, new = statuses[0][tp.pk], statuses[1][tp.pk]
            if old != new:
                found.append(StatusChange(journey.pk, journey.name, tp.pk, tp.name, old, new))
    return found


def _plural(n: int, one: str, many: str) -> str:
    return f"{n} {one if n == 1 else many}"


def describe(changes: list[StatusChange]) -> str:
    """One sentence for people: "3 touch points change status: 2 become weak links,
    1 leaves the weak links." """
    if not changes:
        return "No touch point changes status."
    kinds: dict[str, int] = {}
    for change in changes:
        if change.after == formulas.WEAK_LINK:
            kind = "weak"
        elif change.before == formulas.WEAK_LINK:
            kind = "leaves"
        elif change.after == formulas.INSUFFICIENT_DATA:
            kind = "blind"
        elif change.after == formulas.AT_RISK:
            kind = "at_risk"
        else:
            kind = "meets"
        kinds[kind] = kinds.get(kind, 0) + 1
    words = {
        "weak": ("becomes a weak link", "become weak links"),
        "leaves": ("leaves the weak links", "leave the weak links"),
        "blind": (
            "becomes a blind spot (too few evaluations)",
            "become blind spots (too few evaluations)",
        ),
        "at_risk": ("becomes at risk", "become at risk"),
        "meets": ("now meets its target", "now meet their target"),
    }
    parts = [_plural(kinds[k], *words[k]) for k in words if k in kinds]
    total = _plural(len(changes), "touch point changes", "touch points change")
    return f"{total} status: {', '.join(parts)}."
