"""A database that cannot be reached gives a signed-in visitor a 503 page with Retry-After,
and the API a JSON 503, instead of the generic 500 (RELIABILITY R7/R8: the outage is
temporary, the client should retry). The database is made unreachable for real: the
connection is closed and pointed at a port nothing listens on."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from django.db import connection
from django.test import Client

from accounts.models import Role
from accounts.tokens import create_token
from tests.factories import MembershipFactory
from tests.processes import free_port


@pytest.fixture
def database_away(transactional_db: None) -> Iterator[None]:
    """Use with the clients ready: from here until teardown every connect is refused."""
    port = connection.settings_dict["PORT"]
    connection.close()
    connection.settings_dict["PORT"] = free_port()
    try:
        yield
    finally:
        connection.close()
        connection.settings_dict["PORT"] = port


@pytest.fixture
def signed_in(transactional_db: None) -> Client:
    client = Client(raise_request_exception=False)
    client.force_login(MembershipFactory(role=Role.EVALUATOR).user)
    return client


@pytest.fixture
def token(transactional_db: None) -> str:
    _, raw = create_token(user=MembershipFactory(role=Role.EVALUATOR).user, name="probe")
    return raw


def test_a_page_without_its_database_answers_503_with_retry_after(
    signed_in: Client, database_away: None
) -> None:
    response = signed_in.get("/")

    assert response.status_code == 503
    assert response["Retry-After"] == "5"
    assert "briefly unavailable" in response.content.decode()
    assert "object-src 'none'" in response["Content-Security-Policy"]


def test_the_api_without_its_database_answers_json_503_with_retry_after(
    token: str, database_away: None
) -> None:
    response = Client(raise_request_exception=False).get(
        "/api/v1/journeys/", headers={"Authorization": f"Bearer {token}"}
    )

    assert response.status_code == 503
    assert response["Retry-After"] == "5"
    assert "database is unavailable" in response.json()["detail"]
