"""/api/v1/members/ and /api/v1/invitations/: the Team page's operations for managers,
through the same services, with the same refusals; evaluators and viewers 403, another
organization's ids 404."""

from __future__ import annotations

import re

import pytest
from rest_framework.test import APIClient

from accounts.models import AuditEvent, Membership, Role
from notify import services as notify_services
from notify.models import OutboundEmail
from team.models import Invitation
from tests.conftest import Personas
from tests.mail import SmtpServer, bodies


def test_a_manager_lists_members_with_role_and_last_sign_in(
    personas: Personas, manager_api: APIClient
) -> None:
    body = manager_api.get("/api/v1/members/").json()
    rows = {row["email"]: row for row in body["results"]}
    assert set(rows) == {
        "manager@northwind.test",
        "evaluator@northwind.test",
        "viewer@northwind.test",
    }
    assert rows["viewer@northwind.test"]["role"] == "viewer"
    assert set(rows["viewer@northwind.test"]) == {
        "id", "email", "name", "role", "last_sign_in", "is_active", "joined_at",
    }  # fmt: skip


def test_invite_through_the_api_sends_the_link_only_by_email(
    personas: Personas, manager_api: APIClient, smtp_server: SmtpServer
) -> None:
    response = manager_api.post(
        "/api/v1/invitations/",
        {"email": "api.person@example.test", "role": "viewer"},
        format="json",
    )
    assert response.status_code == 201, response.content
    assert response.json()["status"] == "pending"
    assert "join" not in response.content.decode(), "the link goes to the address only"
    for pk in OutboundEmail.objects.values_list("pk", flat=True):
        notify_services.deliver(pk)
    text, _ = bodies(smtp_server.wait_for_message("api.person@example.test", timeout=5))
    assert re.search(r"http://testserver/team/join/\S+/", text)

    invitation = Invitation.objects.get()
    resent = manager_api.post(f"/api/v1/invitations/{invitation.pk}/resend/")
    assert resent.status_code == 200
    revoked = manager_api.delete(f"/api/v1/invitations/{invitation.pk}/")
    assert revoked.status_code == 204
    assert manager_api.get(f"/api/v1/invitations/{invitation.pk}/").json()["status"] == "revoked"
    assert manager_api.delete(f"/api/v1/invitations/{invitation.pk}/").status_code == 409


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"email": "nope", "role": "viewer"}, "email"),
        ({"email": "a@example.test\r\nBcc: b@example.test", "role": "viewer"}, "email"),
        ({"email": "x" * 10_000, "role": "viewer"}, "email"),
        ({"email": "ok@example.test", "role": "admin"}, "role"),
        ({"role": "viewer"}, "email"),
    ],
)
def test_bad_invitations_are_400_by_field_and_store_nothing(
    personas: Personas, manager_api: APIClient, body: dict[str, str], field: str
) -> None:
    response = manager_api.post("/api/v1/invitations/", body, format="json")
    assert response.status_code == 400
    assert field in response.json()
    assert not Invitation.objects.exists() and not OutboundEmail.objects.exists()


def test_role_change_and_removal_keep_the_last_manager(
    personas: Personas, manager_api: APIClient
) -> None:
    own = personas.membership(personas.manager)
    demote = manager_api.patch(f"/api/v1/members/{own.pk}/", {"role": "viewer"}, format="json")
    # A rule of the current state, not a malformed request: 409 (issue 19), the body names it.
    assert demote.status_code == 409 and "last manager" in demote.json()["role"][0]
    remove = manager_api.delete(f"/api/v1/members/{own.pk}/")
    assert remove.status_code == 409 and "last manager" in str(remove.json())
    assert personas.membership(personas.manager).role == Role.MANAGER

    viewer = personas.membership(personas.viewer)
    promoted = manager_api.patch(
        f"/api/v1/members/{viewer.pk}/", {"role": "evaluator"}, format="json"
    )
    assert promoted.status_code == 200 and promoted.json()["role"] == "evaluator"
    assert manager_api.delete(f"/api/v1/members/{viewer.pk}/").status_code == 204
    assert not Membership.objects.filter(pk=viewer.pk).exists()
    assert set(
        AuditEvent.objects.for_organization(personas.org).values_list("action", flat=True)
    ) >= {"update", "remove"}


@pytest.mark.parametrize("who", ["evaluator_api", "viewer_api"])
def test_evaluators_and_viewers_get_403_on_every_team_operation(
    personas: Personas, who: str, request: pytest.FixtureRequest
) -> None:
    client: APIClient = request.getfixturevalue(who)
    viewer = personas.membership(personas.viewer)
    assert client.get("/api/v1/members/").status_code == 403
    assert client.get(f"/api/v1/members/{viewer.pk}/").status_code == 403
    assert (
        client.patch(
            f"/api/v1/members/{viewer.pk}/", {"role": "manager"}, format="json"
        ).status_code
        == 403
    )
    assert client.delete(f"/api/v1/members/{viewer.pk}/").status_code == 403
    assert client.get("/api/v1/invitations/").status_code == 403
    assert (
        client.post(
            "/api/v1/invitations/", {"email": "x@example.test", "role": "manager"}, format="json"
        ).status_code
        == 403
    )
    viewer.refresh_from_db()
    assert viewer.role == Role.VIEWER and not Invitation.objects.exists()


def test_another_organizations_members_are_404_and_never_listed(
    personas: Personas, outsider_api: APIClient
) -> None:
    viewer = personas.membership(personas.viewer)
    assert outsider_api.get(f"/api/v1/members/{viewer.pk}/").status_code == 404
    assert (
        outsider_api.patch(
            f"/api/v1/members/{viewer.pk}/", {"role": "manager"}, format="json"
        ).status_code
        == 404
    )
    assert outsider_api.delete(f"/api/v1/members/{viewer.pk}/").status_code == 404
    listed = {row["email"] for row in outsider_api.get("/api/v1/members/").json()["results"]}
    assert listed == {"manager@rival.test"}
    assert Membership.objects.filter(pk=viewer.pk).exists()


def test_an_empty_role_patch_changes_nothing(personas: Personas, manager_api: APIClient) -> None:
    """PATCH is a merge: a body naming nothing is valid (the schema requires no field) and
    leaves the member as they were; it was a 400 "role: required" (issue 19)."""
    viewer = personas.membership(personas.viewer)

    response = manager_api.patch(f"/api/v1/members/{viewer.pk}/", {}, format="json")

    assert response.status_code == 200 and response.json()["role"] == "viewer"
    assert personas.membership(personas.viewer).role == Role.VIEWER
    assert not AuditEvent.objects.for_organization(personas.org).filter(action="update").exists()


def test_inviting_twice_is_a_conflict_and_a_used_invitation_cannot_be_revoked_again(
    personas: Personas, manager_api: APIClient
) -> None:
    body = {"email": "new@northwind.test", "role": "evaluator"}
    assert manager_api.post("/api/v1/invitations/", body, format="json").status_code == 201
    again = manager_api.post("/api/v1/invitations/", body, format="json")
    member = manager_api.post(
        "/api/v1/invitations/", {"email": "viewer@northwind.test", "role": "viewer"}, format="json"
    )
    invitation = Invitation.objects.get()
    assert manager_api.delete(f"/api/v1/invitations/{invitation.pk}/").status_code == 204
    revoked_again = manager_api.delete(f"/api/v1/invitations/{invitation.pk}/")

    assert again.status_code == 409 and "already invited" in again.json()["email"][0]
    assert member.status_code == 409 and "already a member" in member.json()["email"][0]
    assert revoked_again.status_code == 409
    assert Invitation.objects.count() == 1
