"""Role × route × method (RELIABILITY S3): every cell the API serves answers each role as
tests/api/permissions.py (docs/permissions.md) says.

The cells come from the URLconf, not from a list kept by hand: a route or method missing
from the table fails here. Each cell is sent by a viewer, an evaluator and a manager of
Northwind, each with a real token, with a body that is valid for the cell, and for detail
writes the If-Match of a fresh GET. So a role the table lets through must get a 2xx (not
merely "something other than 403": a service that refused the role with a 400 would be a
silent second permission rule), and a role it keeps out must get 403 with nothing stored.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.urls import resolve, reverse
from django.utils import timezone
from rest_framework.test import APIClient

from accounts.models import Role
from tests.api.conftest import ClientFor
from tests.api.permissions import PERMISSIONS
from tests.api.test_cross_tenant_walk import (
    CATCH_ALL_ROUTES,
    DETAIL_ROUTES,
    MANAGERS_ONLY_ROUTES,
    RETRIEVE_ROUTES,
    ApiRoute,
    Tenant,
    api_routes,
    build_tenant,
    everything,
    send,
)
from tests.conftest import Personas, make_personas, rows_for_the_module
from tests.factories import UserFactory

ROLES = (Role.VIEWER, Role.EVALUATOR, Role.MANAGER)  # the manager last: it may delete
LISTED_METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")  # HEAD and OPTIONS follow GET
PUBLIC_ROUTES = ("api-schema", "api-docs")  # the API's description, no organization's data
DOCS = Path(__file__).resolve().parents[2] / "docs" / "permissions.md"
# Kinds only managers may read: HEAD and OPTIONS on their lists follow GET, 403 to others.
TEAM_KINDS = {"membership", "invitation"}


def cells() -> list[tuple[ApiRoute, str]]:
    """Every (route, method) the URLconf serves under /api/v1/, bar the catch-all 404."""
    return [
        (r, m)
        for r in api_routes()
        if r.name not in CATCH_ALL_ROUTES
        for m in r.methods
        if m in LISTED_METHODS
    ]


@pytest.fixture(scope="module")
def personas_and_northwind(
    django_db_setup: None, django_db_blocker: Any
) -> Iterator[tuple[Personas, Tenant]]:
    """Northwind with one of everything, built once for the module (it was most of each
    test's set-up). Each test's own transaction rolls back what its requests wrote, so every
    cell starts from the same rows, as before."""
    with rows_for_the_module(django_db_blocker):
        personas = make_personas()
        yield personas, build_tenant(personas.org, manager=personas.manager)


@pytest.fixture
def personas(personas_and_northwind: tuple[Personas, Tenant], db: None) -> Personas:
    return personas_and_northwind[0]


@pytest.fixture
def northwind(personas_and_northwind: tuple[Personas, Tenant], db: None) -> Tenant:
    return personas_and_northwind[1]


@pytest.fixture
def clients(personas: Personas, client_for: ClientFor) -> dict[Role, APIClient]:
    return {
        Role.VIEWER: client_for(personas.viewer),
        Role.EVALUATOR: client_for(personas.evaluator),
        Role.MANAGER: client_for(personas.manager),
    }


def create_body(route: str, tenant: Tenant, role: Role) -> dict[str, Any]:
    """A valid body for each collection's POST."""
    journey, stage = tenant.first("journey"), tenant.first("stage")
    touch_point = tenant.first("touchpoint")
    name = f"Made by the {role}"
    bodies: dict[str, dict[str, Any]] = {
        "journey-list": {"name": name, "target": 75},
        "stage-list": {"journey": journey.pk, "name": name},
        "touchpoint-list": {"stage": stage.pk, "name": name, "channel": "phone", "importance": 3},
        "criterion-list": {"touch_point": touch_point.pk, "name": name, "kind": "yes_no"},
        "site-list": {"name": name, "code": role.upper()},
        "invitation-list": {"email": f"new.{role}@example.test", "role": "viewer"},
        "feedback-link-list": {"touch_point": touch_point.pk, "label": name},
        "evaluation-list": {
            "touch_point": touch_point.pk,
            "source": "supervisor",
            "observed_at": (timezone.now() - timedelta(minutes=5)).isoformat(),
            "site": tenant.first("site").pk,
            "answers": [
                {"criterion": criterion.pk, "value": value}
                for criterion, value in zip(
                    tenant.objects["criterion"][:3], (3, 1, 120), strict=True
                )
            ],
        },
        "action-list": {
            "touch_point": touch_point.pk,
            "description": name,
            "owner": tenant.first("action").owner_id,
        },
        "notification-read": {},
        "notification-setting-list": {"journey": journey.pk, "mode": "digest"},
        "webhook-endpoint-list": {
            "url": "http://127.0.0.1:9/hook",
            "event_types": ["weak_link.entered"],
        },
    }
    return bodies[route]


def detail_body(action: str, representation: dict[str, Any], role: Role) -> Any:
    """A valid body for each detail write."""
    if action == "update":
        return {**representation, "name": f"Replaced by the {role}"}
    if action == "partial_update" and "email" in representation:  # a member: its role
        return {"role": "evaluator"}
    if action == "partial_update":
        return {"name": f"Renamed by the {role}"}
    if action == "move":
        return {"position": 0}
    return None  # archive, restore (put last), destroy


def call(client: APIClient, route: ApiRoute, method: str, tenant: Tenant, role: Role) -> Any:
    """One request of `role` to the cell, as a real client would send it."""
    if route.name == "organization" and method == "PATCH":  # one resource, with its ETag
        read = client.get(reverse(route.name))
        tag = read["ETag"] if read.status_code == 200 else "*"
        return send(client, method, reverse(route.name), {"min_n": 4}, HTTP_IF_MATCH=tag)
    if route.name not in DETAIL_ROUTES:
        url = reverse(route.name)
        body = create_body(route.name, tenant, role) if method == "POST" else None
        return send(client, method, url, body)
    kind = DETAIL_ROUTES[route.name]
    action = route.actions.get(method, "")
    row = tenant.archived(kind) if action == "restore" else tenant.first(kind)
    url = reverse(route.name, kwargs={"pk": row.pk})
    if method == "GET":
        return send(client, method, url)
    if kind in TEAM_KINDS:  # no ETag; only managers may read them
        body = {"role": "evaluator"} if action == "partial_update" else None
        return send(client, method, url, body)
    read = client.get(reverse(RETRIEVE_ROUTES[kind], kwargs={"pk": row.pk}))
    if read.status_code == 403 and route.name in MANAGERS_ONLY_ROUTES:
        return send(client, method, url, None)  # refused reads and writes alike
    assert read.status_code == 200, read.content
    body = detail_body(action, read.json(), role)
    return send(client, method, url, body, HTTP_IF_MATCH=read["ETag"])


def test_the_table_lists_no_route_the_api_does_not_serve() -> None:
    served = {(r.name, m) for r, m in cells()}
    assert not PERMISSIONS.keys() - served, sorted(PERMISSIONS.keys() - served)


@pytest.mark.parametrize(("route", "method"), cells(), ids=[f"{m} {r.name}" for r, m in cells()])
def test_each_role_gets_what_the_permissions_table_says(
    northwind: Tenant, clients: dict[Role, APIClient], route: ApiRoute, method: str
) -> None:
    if (route.name, method) not in PERMISSIONS:
        pytest.fail(
            f"{method} {route.pattern} ({route.name}) is not in tests/api/permissions.py: "
            "decide which roles may call it, and say so in docs/permissions.md."
        )
    allowed = PERMISSIONS[route.name, method]
    wrong: list[str] = []

    for role in ROLES:
        before = everything()
        response = call(clients[role], route, method, northwind, role)
        seen = f"{role}: {method} {route.name} → {response.status_code} {response.content[:300]!r}"
        if role in allowed and not 200 <= response.status_code < 300:
            wrong.append(f"{seen}; the table lets the {role} through")
        if role not in allowed:
            if response.status_code != 403:
                wrong.append(f"{seen}; the table says 403")
            elif everything() != before:
                wrong.append(f"{seen}, but something was stored")

    assert not wrong, "\n".join(wrong)


def head_and_options() -> list[Any]:
    cases = []
    for route in api_routes():
        if route.name in CATCH_ALL_ROUTES:
            continue
        for method in ("HEAD", "OPTIONS"):
            if method not in route.methods:
                continue
            cases.append(pytest.param(route, method, id=f"{method} {route.name}"))
    return cases


@pytest.mark.parametrize(("route", "method"), head_and_options())
def test_head_and_options_answer_every_member(
    northwind: Tenant, clients: dict[Role, APIClient], route: ApiRoute, method: str
) -> None:
    """HEAD is GET without the body and OPTIONS describes the route: both for any member,
    and neither changes anything. The Swagger UI page has no description to give: 405."""
    kwargs = {"pk": northwind.first(DETAIL_ROUTES[route.name]).pk} if route.kwargs else {}
    url = reverse(route.name, kwargs=kwargs)
    expected = 405 if (route.name, method) == ("api-docs", "OPTIONS") else 200
    before = everything()
    for role in ROLES:
        response = send(clients[role], method, url)
        readers = PERMISSIONS.get((route.name, "GET"), frozenset(ROLES))
        # A read for managers only (the team) refuses the others' HEAD, and their OPTIONS on
        # a list; on a detail route the object is found first, so OPTIONS describes it.
        refused = role not in readers and (method == "HEAD" or not route.kwargs)
        status = 403 if refused else expected
        assert response.status_code == status, (role, method, url, response.content)
    assert everything() == before


def test_someone_in_no_organization_is_refused_everywhere(
    northwind: Tenant, client_for: ClientFor
) -> None:
    """A valid token of a user without any membership reads and writes nothing."""
    loner = client_for(UserFactory(email="nobody@nowhere.test"))
    before = everything()
    for route, method in cells():
        if route.name in PUBLIC_ROUTES:
            continue
        kwargs = {"pk": northwind.first(DETAIL_ROUTES[route.name]).pk} if route.kwargs else {}
        response = send(loner, method, reverse(route.name, kwargs=kwargs), {})
        assert response.status_code == 403, (method, route.name, response.content)
    assert everything() == before


def test_without_credentials_only_the_schema_and_docs_answer(northwind: Tenant) -> None:
    anonymous = APIClient()
    before = everything()
    for route, method in cells():
        kwargs = {"pk": northwind.first(DETAIL_ROUTES[route.name]).pk} if route.kwargs else {}
        response = send(anonymous, method, reverse(route.name, kwargs=kwargs), {})
        expected = 200 if route.name in PUBLIC_ROUTES else 401
        assert response.status_code == expected, (method, route.name, response.content)
    assert everything() == before


DOC_ROW = re.compile(
    r"^\| (GET|POST|PUT|PATCH|DELETE) \| `(/api/v1/[^`]*)` \| (.+) \| (.+) \| (.+) \|$"
)


def test_docs_permissions_md_states_the_same_table() -> None:
    """The page people read and the table the tests enforce are one and the same."""
    documented: dict[tuple[str, str], frozenset[Role]] = {}
    for line in DOCS.read_text().splitlines():
        match = DOC_ROW.match(line)
        if match:
            method, path, *marks = match.groups()
            name = resolve(path.replace("{id}", "1")).url_name
            roles = (Role.MANAGER, Role.EVALUATOR, Role.VIEWER)
            documented[name, method] = frozenset(
                role for role, mark in zip(roles, marks, strict=True) if mark.strip() == "✓"
            )
    assert documented == PERMISSIONS
