"""GET /api/v1/ping/: the cheapest authenticated API read, and the benchmark's floor."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from accounts.models import Role
from tests.api.conftest import ClientFor
from tests.conftest import Personas
from tests.factories import MembershipFactory

URL = "/api/v1/ping/"


def test_ping_names_the_organization_the_role_and_the_time(
    personas: Personas, evaluator_api: APIClient
) -> None:
    response = evaluator_api.get(URL)

    assert response.status_code == 200
    body = response.json()
    assert body["organization"] == personas.org.slug
    assert body["role"] == "evaluator"
    sent = datetime.fromisoformat(body["time"].replace("Z", "+00:00"))
    assert abs(sent - timezone.now()) < timedelta(minutes=1)


def test_ping_needs_a_token(db: None) -> None:
    assert APIClient().get(URL).status_code in (401, 403)
    bad = APIClient()
    bad.credentials(HTTP_AUTHORIZATION="Bearer tst_0123456789ab_nope")
    response = bad.get(URL)
    assert response.status_code == 401
    assert "detail" in response.json()


def test_ping_resolves_the_organization_like_every_api_route(
    personas: Personas, client_for: ClientFor
) -> None:
    MembershipFactory(user=personas.manager, organization=personas.other_org, role=Role.VIEWER)

    ambiguous = client_for(personas.manager).get(URL)
    assert ambiguous.status_code == 400
    assert "X-Organization" in ambiguous.json()

    other = client_for(personas.manager, organization=personas.other_org.slug).get(URL).json()
    assert (other["organization"], other["role"]) == (personas.other_org.slug, "viewer")

    stranger = client_for(personas.outsider, organization=personas.org.slug).get(URL)
    assert stranger.status_code == 404


@pytest.mark.parametrize(
    "accept",
    [
        None,
        "*/*",
        "application/*",
        "application/json",
        "application/json; charset=utf-8",
        "text/html, application/json;q=0.9",
    ],
)
def test_the_api_answers_json_to_whatever_accepts_it(
    evaluator_api: APIClient, accept: str | None
) -> None:
    """The usual headers take core.api.negotiation's short way, the rest DRF's; same answer."""
    headers = {} if accept is None else {"HTTP_ACCEPT": accept}

    response = evaluator_api.get(URL, **headers)  # type: ignore[arg-type]

    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    assert response.json()["role"] == "evaluator"
