"""/api/v1/organization/: the settings page's fields for managers (the digest time among
them), with an ETag and If-Match like every structure write, the same bounds and messages
as the page, audit-logged; evaluators and viewers 403 (tests/api/test_role_matrix.py),
and each manager sees only the organization they act in."""

from __future__ import annotations

from datetime import time
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient

from accounts.models import AuditEvent
from alerts.models import AlertSettings
from core.models import JourneyStaleMark
from tests.api.conftest import ClientFor
from tests.conftest import Personas
from tests.factories import JourneyFactory

URL = "/api/v1/organization/"


def patch(client: APIClient, body: object, if_match: str | None) -> Any:
    headers = {} if if_match is None else {"HTTP_IF_MATCH": if_match}
    return client.patch(URL, body, format="json", **headers)


def test_a_manager_reads_the_settings_with_an_etag(
    personas: Personas, manager_api: APIClient
) -> None:
    response = manager_api.get(URL)

    assert response.status_code == 200
    assert response.json() == {
        "name": "Northwind Broadband",
        "default_target": 80.0,
        "min_n": 5,
        "smoothing_k": 5.0,
        "window_days": 90,
        "digest_time": "07:00",
    }
    assert response["ETag"].startswith('"')


def test_the_digest_time_and_the_method_change_with_if_match_and_are_audited(
    personas: Personas, manager_api: APIClient
) -> None:
    journey = JourneyFactory(organization=personas.org)
    tag = manager_api.get(URL)["ETag"]

    response = patch(manager_api, {"digest_time": "18:30", "min_n": 3}, tag)

    assert response.status_code == 200, response.content
    assert response.json()["digest_time"] == "18:30"
    assert response.json()["min_n"] == 3
    assert response["ETag"] != tag
    assert AlertSettings.objects.get(organization=personas.org).digest_time == time(18, 30)
    assert JourneyStaleMark.objects.filter(journey_id=journey.pk).exists()  # rescored
    assert set(AuditEvent.objects.values_list("object_type", flat=True)) == {
        "organization",
        "alertsettings",
    }


def test_without_if_match_428_with_an_old_tag_412_and_nothing_is_stored(
    personas: Personas, manager_api: APIClient
) -> None:
    old = manager_api.get(URL)["ETag"]
    assert patch(manager_api, {"min_n": 8}, old).status_code == 200

    assert patch(manager_api, {"min_n": 2}, None).status_code == 428
    assert patch(manager_api, {"min_n": 2}, old).status_code == 412
    personas.org.refresh_from_db()
    assert personas.org.min_n == 8
    # `*` says the client means to overwrite whatever is there.
    assert patch(manager_api, {"min_n": 2}, "*").status_code == 200


def test_refusals_come_in_the_order_of_every_route(manager_api: APIClient) -> None:
    """405 before the organization is read; an organization the caller is not in is the
    404 it is on every route, whether or not If-Match was sent (the precondition is judged
    only in an organization one belongs to: docs/permissions.md, "Order of refusals").
    tests/api/test_refusal_order.py walks every route; this is the one it was wrong on."""
    foreign = {"HTTP_X_ORGANIZATION": "0"}
    assert manager_api.generic("TRACE", URL, **foreign).status_code == 405
    assert manager_api.patch(URL, {"min_n": 3}, format="json", **foreign).status_code == 404
    assert (
        manager_api.patch(
            URL, {"min_n": 3}, format="json", HTTP_IF_MATCH="*", **foreign
        ).status_code
        == 404
    )
    assert manager_api.patch(URL, {"min_n": 3}, format="json").status_code == 428


@pytest.mark.parametrize(
    ("body", "field", "message"),
    [
        ({"smoothing_k": 100.5}, "smoothing_k", "Must be a number from 0 to 100."),
        ({"smoothing_k": "5"}, "smoothing_k", "Must be a number from 0 to 100."),
        ({"min_n": 0}, "min_n", "Must be a whole number from 1 to 1000."),
        ({"min_n": 1001}, "min_n", "Must be a whole number from 1 to 1000."),
        ({"min_n": True}, "min_n", "Must be a whole number from 1 to 1000."),
        ({"window_days": 10**30}, "window_days", "Must be a whole number from 1 to 3660."),
        ({"default_target": -0.5}, "default_target", "Must be a number from 0 to 100."),
        ({"digest_time": "7pm"}, "digest_time", "Must be a time of day, HH:MM (UTC)."),
        ({"digest_time": None}, "digest_time", "Must be a time of day, HH:MM (UTC)."),
        ({"name": ""}, "name", "This field is required."),
    ],
)
def test_a_value_out_of_bounds_is_400_with_the_pages_message_and_nothing_is_stored(
    personas: Personas, manager_api: APIClient, body: dict[str, object], field: str, message: str
) -> None:
    before = manager_api.get(URL)
    # With a valid change beside it: one refusal stores nothing at all.
    response = patch(manager_api, {"digest_time": "18:30", "name": "Kept?", **body}, "*")

    assert response.status_code == 400, response.content
    assert message in response.json()[field][0]
    assert manager_api.get(URL).json() == before.json()
    assert not AuditEvent.objects.exists()


def test_a_body_that_is_not_an_object_is_400(manager_api: APIClient) -> None:
    assert patch(manager_api, [1, 2], "*").status_code == 400


def test_each_manager_sees_and_changes_only_the_organization_they_act_in(
    personas: Personas, manager_api: APIClient, client_for: ClientFor
) -> None:
    rival = client_for(personas.outsider)
    assert rival.get(URL).json()["name"] == "Rival Telecom"

    assert patch(rival, {"min_n": 9}, "*").status_code == 200

    personas.org.refresh_from_db()
    assert personas.org.min_n == 5
    assert manager_api.get(URL).json()["min_n"] == 5


def test_the_schema_documents_the_settings_with_their_bounds(manager_api: APIClient) -> None:
    schema = manager_api.get("/api/v1/schema/", {"format": "json"}).json()
    operations = schema["paths"]["/api/v1/organization/"]
    assert set(operations) >= {"get", "patch"}
    fields = schema["components"]["schemas"]["OrganizationSettings"]["properties"]
    assert fields["smoothing_k"]["maximum"] == 100
    assert fields["min_n"]["maximum"] == 1000
    assert "digest_time" in fields
    assert {"412", "428", "400"} <= set(operations["patch"]["responses"])


def test_a_patch_reads_and_locks_the_organization_row_once(
    personas: Personas, manager_api: APIClient
) -> None:
    """The view used to read the settings and check If-Match, then the service locked the
    row and checked again, then update_scoring_settings locked and read it a third time.
    The tag is now compared once, with the row the one lock read."""
    JourneyFactory(organization=personas.org)
    tag = manager_api.get(URL)["ETag"]

    with CaptureQueriesContext(connection) as queries:
        response = patch(manager_api, {"min_n": 3, "digest_time": "18:30"}, tag)

    assert response.status_code == 200, response.content
    reads = [
        q["sql"]
        for q in queries.captured_queries
        if q["sql"].startswith("SELECT") and 'FROM "accounts_organization"' in q["sql"]
    ]
    assert len(reads) == 1 and reads[0].endswith("FOR NO KEY UPDATE"), reads
    assert len(queries) == PATCH_STATEMENTS, "\n".join(q["sql"] for q in queries.captured_queries)


# Every statement of one PATCH that changes the method and the digest time: the caller's
# token and memberships, the lock, the alert settings, the membership checks of the two
# owners' services, both writes with their audit rows, the journeys marked stale.
PATCH_STATEMENTS = 25
