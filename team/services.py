"""Writes for the team: invite, resend, revoke, accept, change a role, remove a member.

Each is one transaction that checks the rules and writes an audit row (shown under
Activity). The browser and the API call these same functions, so both refuse the same
things with the same messages.

The last manager rule: an organization always keeps at least one manager. Changing a role
or removing a member locks the organization's manager memberships first, so two managers
demoting each other at the same moment cannot both succeed.
"""

from __future__ import annotations

import secrets
from datetime import timedelta

from django.conf import settings
from django.contrib.auth.password_validation import validate_password
from django.core import signing
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.http import HttpRequest
from django.urls import reverse
from django.utils import timezone

from accounts.access import require_role
from accounts.models import ApiToken, Membership, Organization, Role, User
from accounts.services import end_sessions, record_audit
from core.text import clean_text, conflict, raise_if
from notify.services import clean_address, header_text, send_email
from team.models import Invitation, InvitationStatus

LINK_SALT = "team.invitation"
NAME_MAX = 150  # Django's first_name column


def _require_manager(actor: User, organization: Organization) -> None:
    require_role(actor, organization, [Role.MANAGER])


def _clean_role(role: str) -> Role:
    if role not in Role.values:
        raise ValidationError({"role": [f"Role must be one of {', '.join(Role.values)}."]})
    return Role(role)


# --- Links -----------------------------------------------------------------------------


def link_base(request: HttpRequest) -> str:
    """The absolute address invitation tokens are appended to (…/team/join/), on the host
    the manager is using (Django checked it against ALLOWED_HOSTS)."""
    return request.build_absolute_uri(reverse("team-join", args=["-"]))[:-2]


def link_token(invitation: Invitation) -> str:
    """The secret part of the invitation's link: its id and nonce, signed."""
    return signing.dumps({"i": invitation.pk, "n": invitation.nonce}, salt=LINK_SALT)


class InvalidLinkError(Exception):
    """The link cannot be used; `reason` says why in words for the person holding it."""

    def __init__(self, reason: str, *, status: int = 410) -> None:
        super().__init__(reason)
        self.reason = reason
        self.status = status


def invitation_for_link(token: str) -> Invitation:
    """The pending invitation a link names, or InvalidLinkError saying why not (a link that was
    never issued, or tampered with, is told apart from one that is used up or expired only
    by the signature: ids alone tell nothing)."""
    try:
        data = signing.loads(token, salt=LINK_SALT)
        invitation: Invitation = Invitation.objects.select_related("organization").get(
            pk=int(data["i"])
        )
    except (signing.BadSignature, Invitation.DoesNotExist, KeyError, TypeError, ValueError):
        raise InvalidLinkError("This invitation link is not valid.", status=404) from None
    if not secrets.compare_digest(str(data.get("n", "")), invitation.nonce):
        raise InvalidLinkError(
            "This link was replaced by a newer invitation: use the most recent email."
        )
    status = invitation.status
    if status == InvitationStatus.ACCEPTED:
        raise InvalidLinkError("This invitation has already been used. Sign in instead.")
    if status == InvitationStatus.REVOKED:
        raise InvalidLinkError("This invitation was withdrawn. Ask a manager for a new one.")
    if status == InvitationStatus.EXPIRED:
        raise InvalidLinkError("This invitation has expired. Ask a manager to send it again.")
    return invitation


def _send(invitation: Invitation, *, actor: User, accept_url: str) -> None:
    send_email(
        organization=invitation.organization,
        to=invitation.email,
        subject="You are invited to Touchstone",
        template="email/invitation",
        context={
            "inviter_name": header_text(str(actor), limit=150),
            "role_label": Role(invitation.role).label,
            "accept_url": accept_url,
            "expires_at": invitation.expires_at,
        },
        kind="invitation",
    )


def _reissue(invitation: Invitation) -> None:
    now = timezone.now()
    invitation.nonce = secrets.token_urlsafe(32)
    invitation.sent_at = now
    invitation.expires_at = now + timedelta(days=settings.INVITATION_DAYS)


# --- Invitations -------------------------------------------------------------------------


@transaction.atomic
def invite(
    *, actor: User, organization: Organization, email: str, role: str, link_base: str
) -> Invitation:
    """Invite `email` with `role` and email them a link. `link_base` is the absolute URL the
    link's token is appended to (the browser's or API's own host)."""
    _require_manager(actor, organization)
    errors: dict[str, list[str]] = {}
    try:
        address = clean_address(email)
    except ValidationError as exc:
        errors.update(exc.message_dict)
        address = ""
    try:
        chosen = _clean_role(role)
    except ValidationError as exc:
        errors.update(exc.message_dict)
    raise_if(errors)
    if Membership.objects.filter(organization=organization, user__email=address).exists():
        raise ValidationError(
            {"email": [conflict(f"{address} is already a member of {organization.name}.")]}
        )
    existing: Invitation | None = (
        Invitation.objects.select_for_update()
        .filter(
            organization=organization,
            email=address,
            accepted_at__isnull=True,
            revoked_at__isnull=True,
        )
        .first()
    )
    if existing is not None and existing.status == InvitationStatus.PENDING:
        raise ValidationError(
            {
                "email": [
                    conflict(f"{address} is already invited. Resend or revoke that invitation.")
                ]
            }
        )
    if existing is not None:  # expired: inviting again renews it
        invitation = existing
        invitation.role = chosen
        invitation.invited_by = actor
        _reissue(invitation)
        invitation.save(update_fields=["role", "invited_by", "nonce", "sent_at", "expires_at"])
    else:
        invitation = Invitation(organization=organization, email=address, role=chosen)
        invitation.invited_by = actor
        _reissue(invitation)
        try:
            with transaction.atomic():
                invitation.save()
        except IntegrityError:  # a concurrent invitation of the same address
            raise ValidationError({"email": [conflict(f"{address} is already invited.")]}) from None
    record_audit(
        actor=actor,
        organization=organization,
        action="invite",
        obj=invitation,
        changes={"role": [None, chosen.value]},
    )
    _send(invitation, actor=actor, accept_url=link_base + link_token(invitation) + "/")
    return invitation


@transaction.atomic
def resend_invitation(*, actor: User, invitation: Invitation, link_base: str) -> Invitation:
    """Email a fresh link (the old ones stop working) and start the expiry again."""
    _require_manager(actor, invitation.organization)
    invitation = Invitation.objects.select_for_update().get(pk=invitation.pk)
    if not invitation.is_open:
        raise ValidationError(
            {"__all__": [conflict("This invitation was already used or withdrawn; invite again.")]}
        )
    _reissue(invitation)
    invitation.save(update_fields=["nonce", "sent_at", "expires_at"])
    record_audit(actor=actor, organization=invitation.organization, action="resend", obj=invitation)
    _send(invitation, actor=actor, accept_url=link_base + link_token(invitation) + "/")
    return invitation


@transaction.atomic
def revoke_invitation(*, actor: User, invitation: Invitation) -> Invitation:
    _require_manager(actor, invitation.organization)
    invitation = Invitation.objects.select_for_update().get(pk=invitation.pk)
    if not invitation.is_open:
        raise ValidationError(
            {"__all__": [conflict("This invitation was already used or withdrawn.")]}
        )
    invitation.revoked_at = timezone.now()
    invitation.save(update_fields=["revoked_at"])
    record_audit(actor=actor, organization=invitation.organization, action="revoke", obj=invitation)
    return invitation


def _lock_open(invitation: Invitation) -> Invitation:
    locked: Invitation = (
        Invitation.objects.select_for_update().select_related("organization").get(pk=invitation.pk)
    )
    if locked.status != InvitationStatus.PENDING or locked.nonce != invitation.nonce:
        raise ValidationError({"__all__": ["This invitation can no longer be used."]})
    return locked


def _join(invitation: Invitation, user: User) -> Membership:
    try:
        with transaction.atomic():
            membership = Membership.objects.create(
                user=user, organization=invitation.organization, role=invitation.role
            )
    except IntegrityError:
        raise ValidationError(
            {"__all__": [f"You are already a member of {invitation.organization.name}."]}
        ) from None
    invitation.accepted_at = timezone.now()
    invitation.accepted_by = user
    invitation.save(update_fields=["accepted_at", "accepted_by"])
    record_audit(
        actor=user,
        organization=invitation.organization,
        action="accept",
        obj=membership,
        changes={"role": [None, invitation.role]},
    )
    return membership


@transaction.atomic
def accept_as_new_user(*, invitation: Invitation, name: str, password: str) -> User:
    """Create the invited person's account (name and password, Django's validators) and
    make them a member. The address is the invited one: nobody picks another."""
    invitation = _lock_open(invitation)
    if User.objects.filter(email=invitation.email).exists():
        raise ValidationError(
            {"__all__": ["An account with this address exists: sign in with its password."]}
        )
    errors: dict[str, list[str]] = {}
    cleaned = clean_text(errors, "name", name, max_length=NAME_MAX, required=True)
    if any(ch in cleaned for ch in "\r\n"):
        errors.setdefault("name", []).append("A name is one line.")
    user = User(email=invitation.email, first_name=cleaned)
    try:
        validate_password(password, user=user)
    except ValidationError as exc:
        errors["password"] = list(exc.messages)
    raise_if(errors)
    user.set_password(password)
    user.save()
    _join(invitation, user)
    return user


@transaction.atomic
def accept_as_existing_user(*, invitation: Invitation, user: User) -> Membership:
    """Join with an account that already exists (the caller has checked its password or
    its session). The account must be the invited address."""
    invitation = _lock_open(invitation)
    if user.email.lower() != invitation.email:
        raise PermissionDenied(
            f"This invitation is for another address. Sign out and open the link as {invitation.email}."
        )
    return _join(invitation, user)


# --- Members -----------------------------------------------------------------------------


def _lock_managers(organization: Organization) -> list[int]:
    """Lock the organization's manager memberships; returns their ids."""
    return list(
        Membership.objects.select_for_update()
        .filter(organization=organization, role=Role.MANAGER)
        .order_by("pk")
        .values_list("pk", flat=True)
    )


def _refuse_last_manager(membership: Membership, managers: list[int], what: str) -> None:
    if membership.role == Role.MANAGER and managers == [membership.pk]:
        raise ValidationError(
            {
                "role" if what == "demote" else "__all__": [
                    conflict(
                        f"{membership.user} is the last manager of "
                        f"{membership.organization.name}: make someone else a manager first."
                    )
                ]
            }
        )


@transaction.atomic
def change_role(*, actor: User, membership: Membership, role: str) -> Membership:
    _require_manager(actor, membership.organization)
    chosen = _clean_role(role)
    managers = _lock_managers(membership.organization)
    membership = (
        Membership.objects.select_for_update()
        .select_related("user", "organization")
        .get(pk=membership.pk)
    )
    if membership.role == chosen:
        return membership
    if chosen != Role.MANAGER:
        _refuse_last_manager(membership, managers, "demote")
    old = membership.role
    membership.role = chosen
    membership.save(update_fields=["role"])
    record_audit(
        actor=actor,
        organization=membership.organization,
        action="update",
        obj=membership,
        changes={"role": [old, chosen.value]},
    )
    return membership


@transaction.atomic
def remove_member(*, actor: User, membership: Membership) -> None:
    """Take a person out of the organization. What they could reach here ends at once:
    every request re-reads memberships, so their sessions and API tokens no longer see
    this organization. If it was their only organization, their sessions end and their
    tokens are revoked too (an account that belongs nowhere keeps no way in)."""
    _require_manager(actor, membership.organization)
    managers = _lock_managers(membership.organization)
    membership = (
        Membership.objects.select_for_update()
        .select_related("user", "organization")
        .get(pk=membership.pk)
    )
    _refuse_last_manager(membership, managers, "remove")
    user = membership.user
    record_audit(
        actor=actor,
        organization=membership.organization,
        action="remove",
        obj=membership,
        changes={"role": [membership.role, None]},
    )
    membership.delete()
    if not Membership.objects.filter(user=user).exists():
        ApiToken.objects.filter(user=user, revoked_at__isnull=True).update(
            revoked_at=timezone.now()
        )
        end_sessions(user=user)
