"""Which organization an API request acts in (core.api.tenancy.request_membership), and the
refusals the schema documents for it on every operation (with_access_refusals): a member
of several organizations must name one, a name that is not theirs is not found, and a
user of no organization is refused."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from accounts.models import Role, User
from accounts.tokens import create_token
from tests.api.test_cross_tenant_walk import openapi_schema
from tests.conftest import Personas
from tests.factories import JourneyFactory, MembershipFactory, UserFactory

pytestmark = pytest.mark.django_db


def _client(user: User) -> APIClient:
    _, raw = create_token(user=user, name="organization header")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    return client


def test_member_of_two_organizations_must_name_one_to_read_a_journey(personas: Personas) -> None:
    MembershipFactory(user=personas.manager, organization=personas.other_org, role=Role.VIEWER)
    journey = JourneyFactory(organization=personas.org)
    client = _client(personas.manager)

    unnamed = client.get(f"/api/v1/journeys/{journey.pk}/")
    named = client.get(f"/api/v1/journeys/{journey.pk}/", HTTP_X_ORGANIZATION=personas.org.slug)
    elsewhere = client.get(
        f"/api/v1/journeys/{journey.pk}/", HTTP_X_ORGANIZATION=personas.other_org.slug
    )

    assert unnamed.status_code == 400
    assert list(unnamed.json()) == ["X-Organization"]
    assert named.status_code == 200
    assert named.json()["id"] == journey.pk
    assert elsewhere.status_code == 404


@pytest.mark.parametrize("path", ["/api/v1/evaluations/", "/api/v1/journeys/"])
def test_an_organization_that_is_not_yours_is_not_found(personas: Personas, path: str) -> None:
    response = _client(personas.manager).get(path, HTTP_X_ORGANIZATION=personas.other_org.slug)

    assert response.status_code == 404
    assert "detail" in response.json()


def test_a_user_of_no_organization_is_refused_the_evaluations() -> None:
    response = _client(UserFactory()).get("/api/v1/evaluations/")

    assert response.status_code == 403


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("get", "/api/v1/journeys/{id}/"),
        ("get", "/api/v1/evaluations/"),
        ("get", "/api/v1/evaluations/{id}/"),
        ("post", "/api/v1/evaluations/"),
    ],
)
def test_the_schema_says_why_each_access_refusal_happens(method: str, path: str) -> None:
    responses = openapi_schema()["paths"][path][method]["responses"]

    assert "X-Organization is missing" in responses["400"]["description"]
    assert "X-Organization names none" in responses["404"]["description"]
    assert {"401", "403", "429"} <= responses.keys()
