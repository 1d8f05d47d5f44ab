"""The Team page and invitations in the browser (Django's test client): invite → the email
a real SMTP server receives → accept; existing accounts; bad links; roles; removal; the
last manager; the outsider who gets 404s."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from accounts.models import ApiToken, AuditEvent, Membership, Role, User
from accounts.tokens import create_token
from notify import services as notify_services
from notify.models import OutboundEmail
from team.models import Invitation
from tests.conftest import Personas
from tests.factories import PASSWORD, MembershipFactory
from tests.mail import SmtpServer, bodies

NEW_PASSWORD = "a long and quite unusual secret 42"


def signed_in(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


def deliver_all() -> None:
    """What the worker does after commit: send every queued message."""
    for pk in OutboundEmail.objects.filter(status="queued").values_list("pk", flat=True):
        notify_services.deliver(pk)


def invite(client: Client, email: str, role: str = "evaluator") -> Any:
    return client.post(reverse("team-invite"), {"email": email, "role": role})


def link_in(smtp_server: SmtpServer, to: str) -> str:
    deliver_all()
    text, html = bodies(smtp_server.wait_for_message(to, timeout=5))
    match = re.search(r"http://testserver(/team/join/[^/\s]+/)", text)
    assert match, text
    assert match.group(0) in html
    return match.group(1)


@pytest.fixture
def manager(personas: Personas) -> Client:
    return signed_in(personas.manager)


# --- Invite and accept ------------------------------------------------------------------


def test_invited_person_gets_an_email_sets_name_and_password_and_is_signed_in(
    personas: Personas, manager: Client, smtp_server: SmtpServer
) -> None:
    response = invite(manager, "New.Person@Example.test")
    assert response.status_code == 302

    message = smtp_server.messages
    link = link_in(smtp_server, "new.person@example.test")
    [message] = smtp_server.messages
    assert message["Subject"] == "[Northwind Broadband] You are invited to Touchstone"

    visitor = Client()
    page = visitor.get(link)
    assert page.status_code == 200
    assert b"Your name" in page.content
    joined = visitor.post(
        link, {"name": "Nadia Newcomer", "password1": NEW_PASSWORD, "password2": NEW_PASSWORD}
    )
    assert joined.status_code == 302 and joined["Location"] == reverse("overview")
    user = User.objects.get(email="new.person@example.test")
    assert user.first_name == "Nadia Newcomer"
    assert Membership.objects.get(user=user, organization=personas.org).role == Role.EVALUATOR
    assert visitor.get(reverse("evaluate")).status_code == 200, "signed in, as evaluator"
    assert visitor.get(link).status_code == 410, "the link works once"
    actions = set(
        AuditEvent.objects.for_organization(personas.org).values_list("action", flat=True)
    )
    assert {"invite", "accept"} <= actions


def test_a_person_with_an_account_elsewhere_joins_with_their_own_password(
    personas: Personas, manager: Client, smtp_server: SmtpServer
) -> None:
    invite(manager, personas.outsider.email, "viewer")
    link = link_in(smtp_server, personas.outsider.email)
    visitor = Client()
    assert b"sign in with its password" in visitor.get(link).content

    wrong = visitor.post(link, {"password": "not it"})
    assert wrong.status_code == 400
    assert not Membership.objects.filter(user=personas.outsider, organization=personas.org).exists()

    right = visitor.post(link, {"password": PASSWORD})
    assert right.status_code == 302
    membership = Membership.objects.get(user=personas.outsider, organization=personas.org)
    assert membership.role == Role.VIEWER
    assert Membership.objects.filter(
        user=personas.outsider, organization=personas.other_org
    ).exists()


def test_a_link_opened_while_signed_in_as_someone_else_is_refused(
    personas: Personas, manager: Client, smtp_server: SmtpServer
) -> None:
    invite(manager, "someone@example.test")
    link = link_in(smtp_server, "someone@example.test")
    other = signed_in(personas.outsider)
    for response in (other.get(link), other.post(link, {})):
        assert response.status_code == 403
        assert b"this invitation is for someone@example.test" in response.content
    assert Invitation.objects.get().accepted_at is None


def test_expired_revoked_replaced_and_forged_links_answer_with_the_reason(
    personas: Personas, manager: Client, smtp_server: SmtpServer
) -> None:
    invite(manager, "late@example.test")
    link = link_in(smtp_server, "late@example.test")
    invitation = Invitation.objects.get()
    visitor = Client()

    Invitation.objects.filter(pk=invitation.pk).update(
        expires_at=timezone.now() - timedelta(seconds=1)
    )
    expired = visitor.get(link)
    assert expired.status_code == 410 and b"expired" in expired.content

    manager.post(reverse("team-invitation-resend", args=[invitation.pk]))
    replaced = visitor.post(
        link, {"name": "Late", "password1": NEW_PASSWORD, "password2": NEW_PASSWORD}
    )
    assert replaced.status_code == 410 and b"newer invitation" in replaced.content

    manager.post(reverse("team-invitation-revoke", args=[invitation.pk]))
    deliver_all()
    fresh = re.search(r"(/team/join/[^/\s]+/)", bodies(smtp_server.messages[-1])[0])
    assert fresh
    revoked = visitor.get(fresh.group(1))
    assert revoked.status_code == 410 and b"withdrawn" in revoked.content

    forged = visitor.get(link[:-5] + "AAAA/")
    assert forged.status_code == 404 and b"not valid" in forged.content
    assert not User.objects.filter(email="late@example.test").exists()


@pytest.mark.parametrize(
    ("email", "role", "message"),
    [
        ("not an address", "evaluator", b"Enter a valid email address."),
        ("x@example.test\r\nBcc: all@example.test", "evaluator", b"line breaks"),
        ("a" * 10_000 + "@example.test", "evaluator", b"at most 254"),
        ("fine@example.test", "owner", b"Role must be one of"),
        ("viewer@northwind.test", "viewer", b"already a member"),
    ],
)
def test_a_bad_invitation_is_refused_with_the_reason_and_nothing_is_stored(
    personas: Personas, manager: Client, email: str, role: str, message: bytes
) -> None:
    response = invite(manager, email, role)
    assert response.status_code == 400
    assert message in response.content
    assert not Invitation.objects.exists()
    assert not OutboundEmail.objects.exists()


def test_inviting_the_same_address_twice_says_resend_instead(
    personas: Personas, manager: Client
) -> None:
    invite(manager, "twice@example.test")
    again = invite(manager, "twice@example.test")
    assert again.status_code == 400 and b"already invited" in again.content
    assert Invitation.objects.count() == 1 and OutboundEmail.objects.count() == 1


@pytest.mark.parametrize(
    ("name", "passwords", "field_message"),
    [
        ("N" * 10_000, (NEW_PASSWORD, NEW_PASSWORD), b"at most 150 characters"),
        ("", (NEW_PASSWORD, NEW_PASSWORD), b"This field is required."),
        ("Nina", ("12345678", "12345678"), b"entirely numeric"),
        ("Nina", ("short", "short"), b"too short"),
        ("Nina", (NEW_PASSWORD, NEW_PASSWORD + "x"), b"The two passwords differ."),
    ],
)
def test_accepting_with_a_bad_name_or_password_stores_nothing(
    personas: Personas,
    manager: Client,
    smtp_server: SmtpServer,
    name: str,
    passwords: tuple[str, str],
    field_message: bytes,
) -> None:
    invite(manager, "nina@example.test")
    link = link_in(smtp_server, "nina@example.test")
    response = Client().post(
        link, {"name": name, "password1": passwords[0], "password2": passwords[1]}
    )
    assert response.status_code == 400
    assert field_message in response.content
    assert not User.objects.filter(email="nina@example.test").exists()
    assert Invitation.objects.get().accepted_at is None


# --- Roles and removal ------------------------------------------------------------------------


def test_a_manager_changes_a_role_and_activity_shows_it(
    personas: Personas, manager: Client
) -> None:
    member = personas.membership(personas.viewer)
    response = manager.post(reverse("team-member-role", args=[member.pk]), {"role": "evaluator"})
    assert response.status_code == 302
    member.refresh_from_db()
    assert member.role == Role.EVALUATOR
    activity = manager.get(reverse("activity"))
    assert b"viewer \xe2\x86\x92 evaluator" in activity.content


def test_the_last_manager_can_neither_be_demoted_nor_removed(
    personas: Personas, manager: Client
) -> None:
    own = personas.membership(personas.manager)
    demote = manager.post(
        reverse("team-member-role", args=[own.pk]), {"role": "viewer"}, follow=True
    )
    assert b"last manager" in demote.content
    remove = manager.post(reverse("team-member-remove", args=[own.pk]), follow=True)
    assert b"last manager" in remove.content
    own.refresh_from_db()
    assert own.role == Role.MANAGER

    # With a second manager, the first may step down.
    second = personas.membership(personas.evaluator)
    manager.post(reverse("team-member-role", args=[second.pk]), {"role": "manager"})
    manager.post(reverse("team-member-role", args=[own.pk]), {"role": "viewer"})
    own.refresh_from_db()
    assert own.role == Role.VIEWER


def test_removing_a_member_ends_their_session_and_their_tokens_at_once(
    personas: Personas, manager: Client
) -> None:
    evaluator = signed_in(personas.evaluator)
    assert evaluator.get(reverse("evaluate")).status_code == 200
    _, secret = create_token(user=personas.evaluator, name="Laptop")
    api = Client(HTTP_AUTHORIZATION=f"Bearer {secret}")
    assert api.get("/api/v1/journeys/").status_code == 200

    confirm = manager.get(
        reverse("team-member-remove", args=[personas.membership(personas.evaluator).pk])
    )
    assert confirm.status_code == 200 and b"loses access" in confirm.content
    manager.post(reverse("team-member-remove", args=[personas.membership(personas.evaluator).pk]))

    assert not Membership.objects.filter(user=personas.evaluator).exists()
    after = evaluator.get(reverse("evaluate"))
    assert after.status_code == 302 and after["Location"].startswith(reverse("login"))
    assert api.get("/api/v1/journeys/").status_code == 401
    assert not ApiToken.objects.filter(user=personas.evaluator, revoked_at__isnull=True).exists()
    assert AuditEvent.objects.filter(action="remove", organization=personas.org).exists()


def test_a_removed_member_of_two_organizations_keeps_the_other_but_not_this_one(
    personas: Personas, manager: Client
) -> None:
    MembershipFactory(user=personas.viewer, organization=personas.other_org, role=Role.VIEWER)
    viewer = signed_in(personas.viewer)
    _, secret = create_token(user=personas.viewer, name="Laptop")
    manager.post(reverse("team-member-remove", args=[personas.membership(personas.viewer).pk]))

    page = viewer.get(reverse("overview"))
    assert page.status_code == 200
    assert b"Northwind Broadband" not in page.content
    api = Client(HTTP_AUTHORIZATION=f"Bearer {secret}", HTTP_X_ORGANIZATION=personas.org.slug)
    assert api.get("/api/v1/journeys/").status_code == 404


# --- Walls ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("who", ["evaluator", "viewer"])
def test_evaluators_and_viewers_cannot_see_or_change_the_team(personas: Personas, who: str) -> None:
    client = signed_in(getattr(personas, who))
    member = personas.membership(personas.viewer)
    assert client.get(reverse("team")).status_code == 403
    assert invite(client, "sneaky@example.test").status_code == 403
    assert (
        client.post(reverse("team-member-role", args=[member.pk]), {"role": "manager"}).status_code
        == 403
    )
    assert client.post(reverse("team-member-remove", args=[member.pk])).status_code == 403
    member.refresh_from_db()
    assert member.role == Role.VIEWER
    assert not Invitation.objects.exists()
    assert b'href="/team/"' not in client.get(reverse("overview")).content


def test_the_team_link_shows_for_managers(personas: Personas, manager: Client) -> None:
    assert b'href="/team/"' in manager.get(reverse("overview")).content


def test_another_organizations_members_and_invitations_are_404(
    personas: Personas, manager: Client
) -> None:
    outsider = signed_in(personas.outsider)
    invite(manager, "ours@example.test")
    invitation = Invitation.objects.get()
    member = personas.membership(personas.viewer)
    for url, data in [
        (reverse("team-member-role", args=[member.pk]), {"role": "manager"}),
        (reverse("team-member-remove", args=[member.pk]), {}),
        (reverse("team-invitation-resend", args=[invitation.pk]), {}),
        (reverse("team-invitation-revoke", args=[invitation.pk]), {}),
    ]:
        assert outsider.post(url, data).status_code == 404, url
    assert outsider.get(reverse("team-member-remove", args=[member.pk])).status_code == 404
    page = outsider.get(reverse("team"))
    assert b"viewer@northwind.test" not in page.content
    assert b"ours@example.test" not in page.content
    invitation.refresh_from_db()
    assert invitation.revoked_at is None
