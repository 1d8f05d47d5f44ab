"""The one access point for tenant data: who belongs where, and with which role.

Views, the API, services and commands ask here; nothing else decides membership.
An object of another organization is treated exactly like one that does not exist.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Protocol

from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet

from accounts.models import Membership, Organization, Role, User


class SignedRequest(Protocol):
    """A Django HttpRequest or a DRF Request: anything with the requesting user."""

    @property
    def user(self) -> object: ...


def signed_in_user(request: SignedRequest) -> User:
    """The user of a page or endpoint only signed-in users reach (login_required or
    IsAuthenticated ran before): the one typed way to name the actor of a request."""
    user = request.user
    if not isinstance(user, User):
        raise PermissionDenied("Sign in first.")
    return user


def membership_for(user: User, organization: Organization | int) -> Membership | None:
    if not user.is_authenticated or not user.is_active:
        return None
    org_id = organization if isinstance(organization, int) else organization.pk
    return (
        Membership.objects.select_related("organization")
        .filter(user_id=user.pk, organization_id=org_id)
        .first()
    )


def require_role(
    user: User, organization: Organization | int, roles: Iterable[Role | str]
) -> Membership:
    """The member's membership if their role is one of `roles`; PermissionDenied otherwise."""
    membership = membership_for(user, organization)
    if membership is None or membership.role not in set(roles):
        raise PermissionDenied("Your role in this organization does not allow this.")
    return membership


def organizations_for(user: User) -> QuerySet[Organization]:
    if not user.is_authenticated or not user.is_active:
        return Organization.objects.none()
    return Organization.objects.filter(memberships__user_id=user.pk).order_by("name")
