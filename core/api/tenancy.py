"""Which organization an API request acts in, the caller's role there, and the tenant
filter every API queryset goes through.

Another organization's objects are answered as if they did not exist (404), whatever
the caller's role: object lookups go through the scoped queryset before any role check.

DRF reads RolePermission from settings while rest_framework.views is loading, so this
module must not import rest_framework.views (nor anything that does).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

from django.core.exceptions import ImproperlyConfigured
from django.db.models import Model, QuerySet
from drf_spectacular.utils import OpenApiParameter
from rest_framework import exceptions
from rest_framework.permissions import SAFE_METHODS, BasePermission
from rest_framework.request import Request

from accounts.models import ROLES_THAT_EDIT_STRUCTURE, Membership, Role
from core.ids import parse_id

if TYPE_CHECKING:
    # For annotations only: importing it here would be an import cycle (see above).
    from rest_framework.views import APIView

ORGANIZATION_HEADER = "X-Organization"

ORGANIZATION_PARAMETER = OpenApiParameter(
    name=ORGANIZATION_HEADER,
    type=str,
    location=OpenApiParameter.HEADER,
    required=False,
    description=(
        "Slug or id of the organization to act in. Required when the caller belongs to "
        "more than one organization; otherwise their only organization is used."
    ),
)


def request_membership(request: Request) -> Membership:
    """The caller's membership in the organization this request acts in (cached). A token
    brings the user's memberships along (accounts.tokens.authenticate_token); a session
    reads them here, in one query."""
    cached = getattr(request, "_touchstone_membership", None)
    if cached is not None:
        return cached  # type: ignore[no-any-return]
    user = request.user
    if not user or not user.is_authenticated:
        raise exceptions.NotAuthenticated()
    memberships = getattr(request.auth, "memberships", None)
    if memberships is None:
        memberships = tuple(
            Membership.objects.select_related("organization").filter(user_id=user.pk)
        )
    sent = request.headers.get(ORGANIZATION_HEADER)
    ref = (sent or "").strip()
    if sent is not None and not ref:
        # Sent but blank is a client bug, not "my only organization" (the schema says
        # minLength 1): guessing could act in the wrong one once the user joins another.
        raise exceptions.ValidationError(
            {
                ORGANIZATION_HEADER: [
                    "Is empty: send the slug or id of an organization, or leave it out."
                ]
            }
        )
    match = _acting_in(memberships, ref)
    request._touchstone_membership = match  # type: ignore[attr-defined]
    return match


def _acting_in(memberships: tuple[Membership, ...], ref: str) -> Membership:
    """The membership X-Organization names (slug, else id), or the only one."""
    if ref:
        match = next((m for m in memberships if m.organization.slug == ref), None)
        if match is None and parse_id(ref) is not None:
            match = next((m for m in memberships if m.organization_id == parse_id(ref)), None)
        if match is None:
            raise exceptions.NotFound(f"You are not a member of an organization {ref!r}.")
        return match
    if not memberships:
        raise exceptions.PermissionDenied("You are not a member of any organization.")
    if len(memberships) > 1:
        raise exceptions.ValidationError(
            {
                ORGANIZATION_HEADER: [
                    "You belong to several organizations: send the X-Organization "
                    "header with the slug or id of the one to act in."
                ]
            }
        )
    return memberships[0]


def refuse_unserved_method(request: Request, view: APIView) -> None:
    """A method the route does not serve is 405 whoever asks and in whichever organization.

    DRF looks for the handler only after the permission checks, which would answer it with
    an organization's 400/404 first: RolePermission calls this before it reads any."""
    method = (request.method or "").lower()
    if method not in view.http_method_names or not hasattr(view, method):
        raise exceptions.MethodNotAllowed(request.method or "")


EVERY_ROLE = frozenset(Role)


class RolePermission(BasePermission):
    """The one permission of every API view (settings.REST_FRAMEWORK), and so the one
    place the order of refusals is decided (docs/permissions.md, "Order of refusals"):

    401 (IsAuthenticated, before this) → 405 a method the route does not serve → the
    acting organization (X-Organization: 400, 404; 403 in none) → 404 an object not in it
    (the view's scoped get_object) → 403 the role → the view's own: 400 body, 428/412
    If-Match, 400/404/409 the services' rules.

    A view says who may do what with two attributes: `read_roles` (GET, HEAD, OPTIONS;
    every member by default) and `write_roles` (any other method; managers by default),
    and may word the 403 with `role_refusal`. On detail routes the role is checked once
    the object was found in the caller's organization (has_object_permission, from
    get_object), so another organization's id answers 404 to every role.
    """

    def has_permission(self, request: Request, view: APIView) -> bool:
        refuse_unserved_method(request, view)
        membership = request_membership(request)
        if view.kwargs.get("pk") is not None:
            return True  # the role once the object is found: has_object_permission
        return self._allowed(membership, request, view)

    def has_object_permission(self, request: Request, view: APIView, obj: Model) -> bool:
        return self._allowed(request_membership(request), request, view)

    @staticmethod
    def _allowed(membership: Membership, request: Request, view: APIView) -> bool:
        if request.method in SAFE_METHODS:
            roles = getattr(view, "read_roles", EVERY_ROLE)
        else:
            roles = getattr(view, "write_roles", ROLES_THAT_EDIT_STRUCTURE)
        if membership.role not in roles:
            refusal = getattr(view, "role_refusal", None)
            raise exceptions.PermissionDenied(
                refusal or f"Your role ({Role(membership.role).label.lower()}) cannot do this."
            )
        return True


class ScopedView(Protocol):
    """What TenantScopedMixin needs of the DRF view it is mixed into (read-only, so
    GenericAPIView's own attribute types satisfy it)."""

    @property
    def request(self) -> Request: ...

    @property
    def queryset(self) -> Any: ...  # a QuerySet, a Manager or None, as GenericAPIView has it


class TenantScopedMixin:
    """Scopes `queryset` to the request's organization: the one tenant filter of the API."""

    def get_queryset(self: ScopedView) -> QuerySet[Any]:
        membership = request_membership(self.request)
        if self.queryset is None:
            raise ImproperlyConfigured(f"{type(self).__name__} needs a queryset.")
        scoped: QuerySet[Any] = self.queryset.filter(organization_id=membership.organization_id)
        return scoped

    @property
    def membership(self: ScopedView) -> Membership:
        return request_membership(self.request)
