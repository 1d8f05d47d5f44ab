"""Reads for the team page and API."""

from __future__ import annotations

from django.db.models import QuerySet

from accounts.models import Membership, Organization
from team.models import Invitation


def members(organization: Organization | int) -> QuerySet[Membership]:
    """The organization's members with their accounts, by name then address."""
    org_id = organization if isinstance(organization, int) else organization.pk
    return (
        Membership.objects.filter(organization_id=org_id)
        .select_related("user")
        .order_by("user__first_name", "user__last_name", "user__email", "pk")
    )


def open_invitations(organization: Organization | int) -> QuerySet[Invitation]:
    """Invitations neither accepted nor withdrawn (pending or expired), newest first."""
    return Invitation.objects.for_organization(
        organization if isinstance(organization, int) else organization.pk
    ).filter(accepted_at__isnull=True, revoked_at__isnull=True)
