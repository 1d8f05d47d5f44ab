"""API tokens can be given an expiry and are listed with their last use (issue 12, item 5):
tokens never expired."""

from __future__ import annotations

from datetime import timedelta
from io import StringIO

import pytest
from django.core.exceptions import ValidationError
from django.core.management import call_command
from django.test import Client
from rest_framework.test import APIClient

from accounts.models import ApiToken
from accounts.tokens import authenticate_token, create_token
from tests.conftest import Personas


def test_a_token_stops_working_when_it_expires(personas: Personas) -> None:
    token, raw = create_token(user=personas.viewer, name="quarterly", expires_in_days=30)
    assert authenticate_token(raw) is not None

    ApiToken.objects.filter(pk=token.pk).update(expires_at=token.expires_at - timedelta(days=31))

    assert authenticate_token(raw) is None
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    assert client.get("/api/v1/journeys/").status_code == 401


def test_a_token_without_expiry_keeps_working(personas: Personas) -> None:
    token, raw = create_token(user=personas.viewer, name="forever")
    assert token.expires_at is None and authenticate_token(raw) is not None


@pytest.mark.parametrize("days", [0, -1, 4000, True, "30"])
def test_a_bad_expiry_is_refused(personas: Personas, days: object) -> None:
    with pytest.raises(ValidationError) as refused:
        create_token(user=personas.viewer, name="x", expires_in_days=days)  # type: ignore[arg-type]
    assert "expires_in_days" in refused.value.message_dict


def test_the_account_page_creates_an_expiring_token_and_lists_expiry_and_last_use(
    personas: Personas,
) -> None:
    browser = Client()
    browser.force_login(personas.viewer)

    response = browser.post("/account/tokens/", {"name": "BI", "expires_in_days": "90"})
    page = browser.get("/account/").content.decode()

    assert response.status_code == 201
    token = ApiToken.objects.get(user=personas.viewer)
    assert token.expires_at is not None
    assert 89 <= (token.expires_at - token.created_at).days <= 90
    assert "Expires" in page and "Last used" in page
    assert token.expires_at.strftime("%Y") in page


def test_the_command_takes_an_expiry(personas: Personas) -> None:
    call_command(
        "create_token", personas.viewer.email, "--expires-days", "7", stdout=StringIO(),
        stderr=StringIO(),
    )  # fmt: skip
    assert ApiToken.objects.get(user=personas.viewer).expires_at is not None


def test_an_outsider_does_not_see_anyone_elses_tokens(personas: Personas) -> None:
    create_token(user=personas.viewer, name="viewer's secret tool")
    browser = Client()
    browser.force_login(personas.outsider)
    assert "viewer&#x27;s secret tool" not in browser.get("/account/").content.decode()
    assert "viewer's secret tool" not in browser.get("/account/").content.decode()
