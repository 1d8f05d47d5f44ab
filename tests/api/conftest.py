"""API clients that authenticate the way real clients do: a real token, hashed at rest."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from rest_framework.test import APIClient

from accounts.models import User
from accounts.tokens import create_token
from tests.conftest import Personas

ClientFor = Callable[..., APIClient]


@pytest.fixture
def client_for(db: None) -> ClientFor:
    """`client_for(user)` → an APIClient sending `Authorization: Bearer <a new token>`.
    Pass `organization=<slug>` to send the X-Organization header too."""

    def make(user: User, *, organization: str | None = None) -> APIClient:
        _, raw = create_token(user=user, name="test client")
        client = APIClient()
        headers: dict[str, Any] = {"HTTP_AUTHORIZATION": f"Bearer {raw}"}
        if organization:
            headers["HTTP_X_ORGANIZATION"] = organization
        client.credentials(**headers)
        return client

    return make


@pytest.fixture
def manager_api(personas: Personas, client_for: ClientFor) -> APIClient:
    return client_for(personas.manager)


@pytest.fixture
def evaluator_api(personas: Personas, client_for: ClientFor) -> APIClient:
    return client_for(personas.evaluator)


@pytest.fixture
def viewer_api(personas: Personas, client_for: ClientFor) -> APIClient:
    return client_for(personas.viewer)


@pytest.fixture
def outsider_api(personas: Personas, client_for: ClientFor) -> APIClient:
    return client_for(personas.outsider)
