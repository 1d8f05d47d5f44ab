"""The schema and the server agree on request bodies and query values (issue 19): each
case is judged by the published schema (JSON Schema 2020-12, formats checked) and sent to
the server, and the two verdicts must match — a schema that allows what the server
refuses misleads an integrator, and one that refuses what the server takes is no contract.
"""

from __future__ import annotations

from functools import cache
from typing import Any

import jsonschema
import pytest
from rest_framework.test import APIClient

from tests.api.test_cross_tenant_walk import openapi_schema
from tests.api.test_evaluations_api import make_rubric
from tests.conftest import Personas
from tests.factories import JourneyFactory
from touchpoints.models import Site


@cache
def _schema() -> dict[str, Any]:
    return openapi_schema()


def schema_allows(component: str, body: Any) -> bool:
    document = {"$ref": f"#/components/schemas/{component}", **_schema()}
    validator = jsonschema.Draft202012Validator(
        document, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER
    )
    return validator.is_valid(body)


def parameter_allows(path: str, name: str, value: str) -> bool:
    (parameter,) = [p for p in _schema()["paths"][path]["get"]["parameters"] if p["name"] == name]
    validator = jsonschema.Draft202012Validator(
        parameter["schema"], format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER
    )
    return validator.is_valid(value)


def nested_nul(levels: int) -> Any:
    """A NUL in a member name and a value, `levels` objects and lists deep."""
    deep: Any = "nul\x00here"
    for level in range(levels):
        deep = {f"level{level}\x00": [deep]}
    return deep


SITE_BODIES = [
    {"name": "Leeds"},
    {"name": "Leeds", "notes": {"any": ["json", 1, None, True]}},  # unknown: ignored
    {"name": "Le\x00eds"},
    {"name": "   "},  # stripped, it is empty: the name is required
    # Members nobody reads are ignored whatever they hold (core.api.serializers): NUL in
    # them, at any depth, is no reason to refuse the site (check-api found it refused 9-11
    # levels deep while the schema allowed it).
    {"name": "Leeds", "no\x00te": 1},
    {"name": "Leeds", "notes": ["a\x00"]},
    {"name": "Leeds", "notes": nested_nul(12)},
]


@pytest.mark.parametrize("body", SITE_BODIES)
def test_the_schema_says_which_site_bodies_the_server_takes(
    personas: Personas, manager_api: APIClient, body: dict[str, Any]
) -> None:
    response = manager_api.post("/api/v1/sites/", body, format="json")

    assert response.status_code in (201, 400), response.content
    assert schema_allows("SiteRequest", body) == (response.status_code == 201), response.content


def test_every_request_body_text_field_refuses_nul_in_the_schema() -> None:
    """No body component leaves a free-text field without the NUL rule: the text of every
    member an endpoint reads goes through core.text's gate, so the schema says it for
    every member it names."""
    components = _schema()["components"]["schemas"]
    request_components = {name for name in components if name.endswith("Request")}
    assert {"SiteRequest", "JourneyRequest", "EvaluationInputRequest"} <= request_components
    for name in request_components:
        for field, spec in components[name].get("properties", {}).items():
            if spec.get("type") in ("string", ["string", "null"]) and not (
                {"format", "enum"} & spec.keys()
            ):
                assert "\\x00" in spec.get("pattern", ""), (name, field)


EVALUATION_EXTRAS = [
    ({}, True),
    ({"evaluator": 1}, True),  # set by the server: ignored (the caller is the evaluator)
    ({"mood": "fine"}, True),  # unknown: ignored, as on every write endpoint
    ({"mood": nested_nul(12)}, True),
    ({"comment": "a\x00b"}, False),  # read and stored: refused, and the schema says so
]


@pytest.mark.parametrize(("extra", "accepted"), EVALUATION_EXTRAS)
def test_an_evaluation_with_a_member_the_schema_does_not_name_is_taken_as_the_schema_says(
    personas: Personas, evaluator_api: APIClient, extra: dict[str, Any], accepted: bool
) -> None:
    rubric = make_rubric(personas.org)
    body = {
        "touch_point": rubric.touch_point.pk,
        "source": "mystery_shopper",
        "observed_at": "2026-01-02T08:00:00Z",
        "answers": [
            {"criterion": rubric.scale.pk, "value": 4},
            {"criterion": rubric.yes_no.pk, "value": 1},
            {"criterion": rubric.numeric.pk, "value": 30},
        ],
        **extra,
    }

    response = evaluator_api.post("/api/v1/evaluations/", body, format="json")

    assert schema_allows("EvaluationInputRequest", body) is accepted
    assert (response.status_code == 201) is accepted, response.content


WINDOW_VALUES = [
    ("since", "2026-01-01", True),
    ("since", "2026-01-01T09:30:00.123+05:30", True),
    ("until", "2026-03-31T18:00:00Z", True),
    ("until", "2026-03-31 18:00", False),  # not RFC 3339; the schema need not promise it
    ("until", "31/03/2026", False),
    ("since", "yesterday", False),
]


@pytest.mark.parametrize(("name", "value", "allowed"), WINDOW_VALUES)
def test_a_scores_window_bound_is_a_date_or_a_date_time(
    personas: Personas, viewer_api: APIClient, name: str, value: str, allowed: bool
) -> None:
    journey = JourneyFactory(organization=personas.org)
    other = {"since": "2025-12-01"} if name == "until" else {"until": "2026-04-01"}

    response = viewer_api.get(f"/api/v1/journeys/{journey.pk}/scores/", {name: value, **other})

    assert parameter_allows("/api/v1/journeys/{id}/scores/", name, value) is allowed
    if allowed:  # what the schema allows, the server takes
        assert response.status_code == 200, response.content
    elif value != "2026-03-31 18:00":  # the server may take more than the schema promises
        assert response.status_code == 400


def test_site_rows_are_untouched_by_refused_bodies(
    personas: Personas, manager_api: APIClient
) -> None:
    refused = [body for body in SITE_BODIES if not schema_allows("SiteRequest", body)]
    assert len(refused) == 2
    for body in refused:
        manager_api.post("/api/v1/sites/", body, format="json")
    assert not Site.objects.exists()


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/actions/",
        "/api/v1/members/",
        "/api/v1/notifications/",
        "/api/v1/webhook-deliveries/",
        "/api/v1/journeys/",
    ],
)
def test_a_method_no_route_serves_is_405_before_the_organization_is_read(
    personas: Personas, manager_api: APIClient, path: str
) -> None:
    """TRACE with an X-Organization naming nothing: 405, not the organization's 404 (the
    method is judged first, whichever permission class the view has)."""
    response = manager_api.generic("TRACE", path, HTTP_X_ORGANIZATION="0")

    assert response.status_code == 405, response.content


ENDPOINT_BODIES = [
    {"url": "http://127.0.0.1:9/hook", "event_types": ["weak_link.entered"]},
    {"url": "http://127.0.0.1:9/hook", "event_types": []},
    {"url": "http://127.0.0.1:9/hook", "event_types": ["weak_link.whatever"]},
    {"url": "http://127.0.0.1:9/hook"},  # which events, then?
    {"event_types": ["weak_link.entered"]},
]


@pytest.mark.parametrize("body", ENDPOINT_BODIES)
def test_the_schema_says_which_webhook_registrations_the_server_takes(
    personas: Personas, manager_api: APIClient, body: dict[str, Any], settings: Any
) -> None:
    settings.WEBHOOK_ALLOW_PRIVATE_ADDRESSES = settings.WEBHOOK_ALLOW_HTTP = True

    response = manager_api.post("/api/v1/webhook-endpoints/", body, format="json")

    assert response.status_code in (201, 400), response.content
    assert schema_allows("EndpointWriteRequest", body) == (response.status_code == 201), (
        response.content
    )


@pytest.mark.parametrize(("query", "status"), [("", 200), ("?page=1", 200), ("?page=", 404)])
def test_a_page_sent_empty_is_no_page(
    personas: Personas, manager_api: APIClient, query: str, status: int
) -> None:
    """The schema says `page` is an integer from 1: left out it is the first page, but
    sent empty it was silently page 1 too (issue 19); now it is the 404 of any page that
    is not one, as `page_size` sent empty is a 400."""
    assert manager_api.get(f"/api/v1/members/{query}").status_code == status


def test_every_request_body_object_says_any_other_member_is_any_json() -> None:
    """One rule for every write endpoint (core.api.serializers): a member the endpoint
    does not read is ignored, whatever it holds. No body object is closed
    (`additionalProperties: false`) or restricts the names or values of other members."""
    components = _schema()["components"]["schemas"]
    assert not [name for name in components if name.startswith("StorableJSON")]
    bodies = 0
    for name, component in components.items():
        if not name.endswith("Request") or "properties" not in component:
            continue
        bodies += 1
        assert component.get("additionalProperties") == {}, name
        assert "propertyNames" not in component, name
    assert bodies >= 20
