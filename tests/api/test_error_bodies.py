"""One error format for every API view: a service's refusal reaches the client through the
one exception handler (core.api.errors.api_exception_handler), whichever app's view called
the service. alerts/api.py used to convert the services' errors itself; a second copy
drifts (it kept "__all__" where the handler says non_field_errors). The autouse schema
hook (tests/openapi_check.py) checks each body below against the published schema too.
"""

from __future__ import annotations

from typing import Any

import pytest
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import ValidationError
from rest_framework.test import APIClient

from core.api.errors import api_exception_handler
from core.text import conflict, not_found
from tests.alerts.helpers import make_spot
from tests.conftest import Personas
from tests.factories import SiteFactory


def shape(body: Any) -> dict[str, str]:
    """What a client parses: each key and the type of its value."""
    return {key: type(value).__name__ for key, value in body.items()}


def test_a_conflict_has_the_same_body_from_the_alerts_api_as_from_the_structure_api(
    personas: Personas, manager_api: APIClient
) -> None:
    spot = make_spot(personas.org)
    opened = manager_api.post(
        "/api/v1/actions/",
        {"touch_point": spot.touch_point.pk, "description": "Greet", "owner": personas.manager.pk},
        format="json",
    ).json()
    assert manager_api.post(f"/api/v1/actions/{opened['id']}/done/").status_code == 200
    SiteFactory(organization=personas.org, name="Main Street")

    done_twice = manager_api.post(f"/api/v1/actions/{opened['id']}/done/")
    name_taken = manager_api.post("/api/v1/sites/", {"name": "Main Street"}, format="json")

    assert (done_twice.status_code, name_taken.status_code) == (409, 409)
    assert shape(done_twice.json()) == {"detail": "str", "state": "list"}
    assert shape(name_taken.json()) == {"detail": "str", "name": "list"}


def test_a_reference_to_nothing_has_the_same_body_from_the_alerts_api(
    personas: Personas, manager_api: APIClient
) -> None:
    spot = make_spot(personas.org)
    nobody = manager_api.post(
        "/api/v1/actions/",
        {"touch_point": spot.touch_point.pk, "description": "x", "owner": 10**12},
        format="json",
    )
    assert nobody.status_code == 404
    assert nobody.json() == {
        "detail": "Choose a member of this organization.",
        "owner": ["Choose a member of this organization."],
    }


@pytest.mark.parametrize(
    ("error", "status", "body"),
    [
        (ValidationError({"name": ["Too long."]}), 400, {"name": ["Too long."]}),
        (ValidationError({"__all__": ["Pick one."]}), 400, {"non_field_errors": ["Pick one."]}),
        # Messages of no field: a list under non_field_errors, never a list in `detail`.
        (ValidationError("Pick one."), 400, {"non_field_errors": ["Pick one."]}),
        (
            conflict("Already done."),
            409,
            {"detail": "Already done.", "non_field_errors": ["Already done."]},
        ),
        (
            ValidationError({"owner": [not_found("No such member.")]}),
            404,
            {"detail": "No such member.", "owner": ["No such member."]},
        ),
        (DjangoPermissionDenied("Only the owner."), 403, {"detail": "Only the owner."}),
    ],
    ids=["field", "__all__", "no field", "conflict", "not found", "permission"],
)
def test_the_handler_turns_each_kind_of_service_refusal_into_one_body(
    error: Exception, status: int, body: dict[str, Any]
) -> None:
    response = api_exception_handler(error, {})
    assert response is not None
    assert (response.status_code, response.data) == (status, body)
