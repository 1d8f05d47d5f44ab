"""One rule for the members of every request body (issue 19, core.api.serializers): a
member the endpoint does not read is ignored, whatever it holds, and the schema says so
(`additionalProperties: {}`); the text of what is read must be storable.

check-api found the two disagreeing: the schema allowed any JSON below four levels of an
unknown member while the parser refused NUL anywhere in a body, so a NUL nested 9-11
levels deep in a member nobody reads was a refused schema-valid request. The walk below
sends every write operation of the published schema the same body twice, once with such a
member added, and the answers must be the same: a new write endpoint is walked without
touching this file.
"""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import jsonschema
import pytest
from django.db import transaction
from django.utils import timezone
from rest_framework.test import APIClient

from tests.api.conftest import ClientFor
from tests.api.test_cross_tenant_walk import Tenant, build_tenant, openapi_schema
from tests.api.test_schema_bodies import nested_nul
from tests.conftest import Personas

WRITES = ("post", "put", "patch")
# The collection in a path → the kind of row its {id} names (Tenant.objects).
PATH_KINDS = {
    "journeys": "journey",
    "stages": "stage",
    "touchpoints": "touchpoint",
    "criteria": "criterion",
    "sites": "site",
    "members": "membership",
    "webhook-endpoints": "endpoint",
    "actions": "action",
    "invitations": "invitation",
    "feedback-links": "feedbacklink",
}
# A body member naming a row → the kind of row (Tenant.objects).
MEMBER_KINDS = {
    "journey": "journey",
    "stage": "stage",
    "touch_point": "touchpoint",
    "criterion": "criterion",
    "site": "site",
}


def _resolve(node: dict[str, Any]) -> dict[str, Any]:
    components = openapi_schema()["components"]["schemas"]
    while "$ref" in node:
        node = components[node["$ref"].rsplit("/", 1)[1]]
    return node


def write_operations() -> list[Any]:
    found = []
    for path, operations in openapi_schema()["paths"].items():
        for method, operation in operations.items():
            if method in WRITES and "requestBody" in operation:
                found.append(pytest.param(method, path, id=f"{method.upper()} {path}"))
    return found


def _value(name: str, prop: dict[str, Any], tenant: Tenant) -> Any:
    prop = _resolve(prop)
    if name in MEMBER_KINDS:
        return tenant.first(MEMBER_KINDS[name]).pk
    if name == "owner":
        return tenant.first("action").owner_id
    if "enum" in prop:
        return next((v for v in ("yes_no", "evaluator") if v in prop["enum"]), prop["enum"][0])
    types = prop.get("type")
    kind = types[0] if isinstance(types, list) else types
    if prop.get("format") == "email":
        return "walked@example.test"
    if prop.get("format") == "date-time":
        return (timezone.now() - timedelta(hours=1)).isoformat()
    return {
        "string": "Walked",
        "integer": prop.get("minimum", 1),
        "number": 1,
        "boolean": False,
        "array": [],
    }.get(kind, "Walked")


def a_body(method: str, path: str, tenant: Tenant) -> Any:
    """A body the operation would take (or refuse for a rule of its own): its required
    members with plain values, and for an evaluation a valid submission."""
    if path.endswith("/evaluations/"):
        touch_point = tenant.first("touchpoint")
        criteria = [c for c in tenant.objects["criterion"] if c.touch_point_id == touch_point.pk]
        return {
            "touch_point": touch_point.pk,
            "source": "supervisor",
            "observed_at": (timezone.now() - timedelta(hours=1)).isoformat(),
            "answers": [
                {"criterion": c.pk, "value": v}
                for c, v in zip(criteria, (3, 1, 120), strict=False)
                if c.archived_at is None
            ],
        }
    operation = openapi_schema()["paths"][path][method]
    component = _resolve(operation["requestBody"]["content"]["application/json"]["schema"])
    properties = component.get("properties", {})
    if method == "patch":  # one member: a name, or a member's role
        name = next((n for n in ("name", "role", "min_n") if n in properties), None)
        names = [name] if name else list(properties)[:1]
    else:
        names = component.get("required", [])
    return {name: _value(name, properties[name], tenant) for name in names}


def url_for(path: str, tenant: Tenant) -> str:
    if "{id}" not in path:
        return path
    parts = path.strip("/").split("/")
    kind = PATH_KINDS[parts[parts.index("{id}") - 1]]
    row = tenant.archived(kind) if path.endswith("/restore/") else tenant.first(kind)
    return path.replace("{id}", str(row.pk))


def send(client: APIClient, method: str, url: str, body: Any) -> Any:
    """The answer to one request, and nothing it did kept (a savepoint rolled back), so
    the same body can be sent again to the same state."""
    with transaction.atomic():
        response = client.generic(
            method.upper(),
            url,
            json.dumps(body),
            content_type="application/json",
            HTTP_IF_MATCH="*",
        )
        transaction.set_rollback(True)
    return response


@pytest.fixture
def tenant(personas: Personas) -> Tenant:
    return build_tenant(personas.org, manager=personas.manager)


@pytest.mark.parametrize(("method", "path"), write_operations())
def test_a_member_the_endpoint_does_not_read_changes_nothing_whatever_it_holds(
    personas: Personas, tenant: Tenant, client_for: ClientFor, method: str, path: str
) -> None:
    client = client_for(personas.manager)
    url, body = url_for(path, tenant), a_body(method, path, tenant)
    unread = {"zz_not_read": nested_nul(12), "zz\x00name": "\x00"}

    plain = send(client, method, url, body)
    with_unread = send(client, method, url, {**body, **unread})

    assert plain.status_code < 500, plain.content
    assert with_unread.status_code == plain.status_code, (plain.content, with_unread.content)
    if plain.status_code >= 400:
        assert with_unread.json() == plain.json()
    else:
        assert "zz_not_read" not in with_unread.content.decode()


def test_the_walk_reaches_the_success_of_most_writes(
    personas: Personas, tenant: Tenant, client_for: ClientFor
) -> None:
    """The walk above proves little if every body it sends is refused anyway."""
    client = client_for(personas.manager)
    answered = {
        (method, path): send(
            client, method, url_for(path, tenant), a_body(method, path, tenant)
        ).status_code
        for method, path in (p.values for p in write_operations())
    }
    succeeded = [op for op, code in answered.items() if code < 300]
    assert len(succeeded) >= len(answered) * 2 // 3, answered
    assert ("post", "/api/v1/evaluations/") in succeeded, answered


@pytest.mark.parametrize(
    ("path", "field"),
    [
        ("/api/v1/journeys/", "name"),
        ("/api/v1/sites/", "code"),
        ("/api/v1/criteria/", "scale_labels"),
        ("/api/v1/actions/", "description"),
        ("/api/v1/evaluations/", "comment"),
    ],
)
def test_a_nul_in_a_member_that_is_read_is_refused_naming_it(
    personas: Personas, tenant: Tenant, client_for: ClientFor, path: str, field: str
) -> None:
    client = client_for(personas.manager)
    body = a_body("post", path, tenant)
    body[field] = ["Good", "Ba\x00d"] if field == "scale_labels" else "Ba\x00d"
    if field == "scale_labels":
        body |= {"kind": "scale", "scale_size": 2}

    response = send(client, "post", path, body)

    assert response.status_code == 400, response.content
    named = {key.split("[")[0] for key in response.json()}
    assert field in named, response.json()


def documented_400(method: str, path: str) -> jsonschema.Draft202012Validator:
    document = openapi_schema()
    response = document["paths"][path][method]["responses"]["400"]
    schema = response["content"]["application/json"]["schema"]
    return jsonschema.Draft202012Validator(
        {**schema, "components": document["components"]},
    )


@pytest.mark.parametrize(("method", "path"), write_operations())
@pytest.mark.parametrize(
    "raw", [b"'\xd6~Q", b'{"name": ', b"[" * 100_000], ids=["not-utf-8", "cut-short", "deep"]
)
def test_a_body_that_is_not_json_is_the_400_each_write_documents(
    personas: Personas, tenant: Tenant, client_for: ClientFor, method: str, path: str, raw: bytes
) -> None:
    """check-api (ST108): DRF's parse error was `{"detail": ...}`, which the writes that
    document their 400 as field errors do not allow."""
    response = client_for(personas.manager).generic(
        method.upper(),
        url_for(path, tenant),
        raw,
        content_type="application/json",
        HTTP_IF_MATCH="*",
    )

    assert response.status_code == 400, response.content
    errors = sorted(documented_400(method, path).iter_errors(response.json()), key=str)
    assert errors == [], (response.json(), [e.message for e in errors])
