"""Which organization a browser page acts in, and with which role.

A user may belong to several organizations; the browser keeps the one they chose in the
session (the switcher in the header). Pages ask here, never the session directly, so the
choice is always one of the user's current memberships: a membership that was removed
since simply stops being offered.

The memberships are read once per request and kept on it, so the page view and the header
(rendered by the template tag) share one query.

Objects a page opens are looked up here too (member_object and the two below it): among
the organizations the user belongs to, so another organization's journey or touch point is
a 404, exactly like one that does not exist.
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpRequest

from accounts.models import Membership, TenantQuerySet
from journeys.models import Journey
from touchpoints.models import TouchPoint

SESSION_KEY = "touchstone_organization_id"
_CACHE_ATTR = "_touchstone_memberships"


def is_htmx(request: HttpRequest) -> bool:
    """Whether htmx sent the request (django-htmx's middleware sets `request.htmx`; the
    stubs of HttpRequest do not know the attribute)."""
    return bool(getattr(request, "htmx", False))


def memberships(request: HttpRequest) -> list[Membership]:
    """The signed-in user's memberships, with their organizations, by organization name."""
    cached: list[Membership] | None = getattr(request, _CACHE_ATTR, None)
    if cached is not None:
        return cached
    user = request.user
    if not user.is_authenticated or not user.is_active:
        found: list[Membership] = []
    else:
        found = list(
            Membership.objects.filter(user_id=user.pk)
            .select_related("organization")
            .order_by("organization__name", "organization_id")
        )
    setattr(request, _CACHE_ATTR, found)
    return found


def current_membership(request: HttpRequest) -> Membership | None:
    """The membership the page acts in: the session's choice if still valid, else the first."""
    options = memberships(request)
    if not options:
        return None
    chosen = request.session.get(SESSION_KEY)
    for membership in options:
        if membership.organization_id == chosen:
            return membership
    return options[0]


def require_membership(request: HttpRequest) -> Membership:
    """The acting membership; a signed-in user who belongs nowhere gets the friendly 403."""
    membership = current_membership(request)
    if membership is None:
        raise PermissionDenied("You are not a member of any organization yet.")
    return membership


def membership_in(request: HttpRequest, organization_id: int) -> Membership | None:
    """The user's membership in one organization, or None (then its objects do not exist)."""
    for membership in memberships(request):
        if membership.organization_id == organization_id:
            return membership
    return None


def choose_organization(request: HttpRequest, organization_id: int) -> Membership | None:
    """Make `organization_id` the acting organization if the user belongs to it."""
    membership = membership_in(request, organization_id)
    if membership is not None:
        request.session[SESSION_KEY] = membership.organization_id
    return membership


# --- Objects a page opens ----------------------------------------------------------------


def organization_ids(request: HttpRequest) -> list[int]:
    return [m.organization_id for m in memberships(request)]


def acting_in(request: HttpRequest, organization_id: int) -> Membership:
    """The user's membership in the object's organization, made the acting one, so the
    header, the nav and the role checks follow the object the user opened."""
    membership = choose_organization(request, organization_id)
    if membership is None:  # the lookups below only find objects of the user's organizations
        raise Http404
    return membership


def member_object(request: HttpRequest, objects: TenantQuerySet, pk: int, name: str) -> Any:
    """The object `pk` of `objects` if it belongs to one of the user's organizations;
    any other id is a 404, the same as a missing one."""
    found = objects.for_organizations(organization_ids(request)).filter(pk=pk).first()
    if found is None:
        raise Http404(f"No such {name}.")
    return found


def journey_for_member(request: HttpRequest, journey_id: int) -> tuple[Journey, Membership]:
    """A journey of one of the user's organizations; any other id is a 404."""
    journey = member_object(
        request, Journey.objects.select_related("organization"), journey_id, "journey"
    )
    return journey, acting_in(request, journey.organization_id)


def touch_point_for_member(
    request: HttpRequest, touch_point_id: int
) -> tuple[TouchPoint, Membership]:
    """A touch point of one of the user's organizations; any other id is a 404."""
    touch_point = member_object(
        request,
        TouchPoint.objects.select_related("stage", "journey__organization"),
        touch_point_id,
        "touch point",
    )
    return touch_point, acting_in(request, touch_point.organization_id)


def form_errors(error: ValidationError) -> dict[str, list[str]]:
    """A service's refusal as a page's messages by field, the form-wide ones under
    "general" (templates cannot read "__all__")."""
    found = dict(error.message_dict) if hasattr(error, "error_dict") else {}
    if not found:
        found = {"__all__": list(error.messages)}
    if "__all__" in found:
        found["general"] = found.pop("__all__")
    return found
