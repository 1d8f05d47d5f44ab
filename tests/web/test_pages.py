"""Browser pages: each renders for each role, refuses outsiders and strangers, escapes names."""

from __future__ import annotations

from django.test import Client

from tests.conftest import Personas


def test_overview_renders_with_the_shared_layout(personas: Personas, client: Client) -> None:
    client.force_login(personas.manager)
    response = client.get("/")
    assert response.status_code == 200
    body = response.content.decode()
    assert "Touchstone" in body
    assert 'action="/sign-out/"' in body
