"""One order of refusals on every operation of the published schema (docs/permissions.md,
"Order of refusals"):

    401 no credentials → 405 a method the route does not serve → X-Organization (400
    blank, 404 not one of yours) → 404 an object not in your organization → 403 your role
    → 400 a malformed body → 428 no If-Match → 412 a stale If-Match

The walk takes every operation from the OpenAPI document (the contract a generated
client and a schema fuzzer read) and, for each refusal R in that list that the operation
can give, sends one request that has R *and every refusal after R* that applies to it:
the answer must be R. Any check that runs earlier than the documented order fails a
request here, so every pair of refusals is ordered, without sending each of the 2^8
combinations. Methods a path does not serve are walked the same way (405 with every
later refusal present). Each request is a refusal, so nothing may be stored.

The world (two organizations with one row of every kind) and the routes come from
test_cross_tenant_walk, the roles from tests/api/permissions.py (the role matrix's table).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.urls import resolve, reverse
from rest_framework.permissions import IsAuthenticated
from rest_framework.settings import api_settings
from rest_framework.test import APIClient

from accounts.models import Role
from core.api.tenancy import RolePermission
from tests.api.permissions import PERMISSIONS
from tests.api.test_cross_tenant_walk import (
    DETAIL_ROUTES,
    RETRIEVE_ROUTES,
    World,
    api_routes,
    everything,
    openapi_schema,
    world,  # noqa: F401  # the fixture
    write_body,
)

METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")
PUBLIC = {"api-schema", "api-docs"}  # answer anyone: no refusal to order
MALFORMED = "{"  # not JSON at all: a 400 of the body whatever the operation expects
STALE = '"0000000000000000000000000000000a"'


@dataclass(frozen=True)
class Refusal:
    name: str
    status: int
    # Tells this refusal from another with the same status (the 404 of an unknown
    # organization from the 404 of an unknown object, the 400s apart).
    says: Callable[[Any], bool]


def _json(response: Any) -> Any:
    try:
        return response.json()
    except ValueError:
        return None


def _names_organization_header(response: Any) -> bool:
    body = _json(response)
    return isinstance(body, dict) and "X-Organization" in body


def _not_a_member(response: Any) -> bool:
    body = _json(response)
    return isinstance(body, dict) and "not a member of an organization" in str(body.get("detail"))


AUTH = Refusal("401 no credentials", 401, lambda r: True)
METHOD = Refusal("405 unserved method", 405, lambda r: True)
ORG_BLANK = Refusal("400 blank X-Organization", 400, _names_organization_header)
ORG_FOREIGN = Refusal("404 X-Organization not yours", 404, _not_a_member)
OBJECT = Refusal("404 object of another organization", 404, lambda r: not _not_a_member(r))
ROLE = Refusal("403 role", 403, lambda r: True)
BODY = Refusal("400 malformed body", 400, lambda r: not _names_organization_header(r))
NO_IF_MATCH = Refusal("428 no If-Match", 428, lambda r: True)
STALE_IF_MATCH = Refusal("412 stale If-Match", 412, lambda r: True)

# The documented order; refusals on one line are alternatives of one check.
ORDER = (AUTH, METHOD, ORG_BLANK, ORG_FOREIGN, OBJECT, ROLE, BODY, NO_IF_MATCH, STALE_IF_MATCH)


def rank(refusal: Refusal) -> int:
    """Position in the order; alternatives of one check share it."""
    alternatives = {ORG_FOREIGN: ORG_BLANK, STALE_IF_MATCH: NO_IF_MATCH}
    return ORDER.index(alternatives.get(refusal, refusal))


@dataclass(frozen=True)
class Operation:
    path: str  # as the schema spells it
    name: str  # URL name
    method: str
    served: bool
    has_body: bool
    needs_if_match: bool

    def applicable(self) -> list[Refusal]:
        if not self.served:  # nothing after the 405 is ever judged
            return [AUTH, METHOD]
        found = [AUTH, ORG_BLANK, ORG_FOREIGN]
        if self.name in DETAIL_ROUTES:
            found.append(OBJECT)
        if set(Role) - PERMISSIONS[(self.name, self.method)]:
            found.append(ROLE)
        if self.has_body:
            found.append(BODY)
        if self.needs_if_match:
            found += [NO_IF_MATCH, STALE_IF_MATCH]
        return found


def operations() -> list[Operation]:
    """Every operation of the published schema, and every method its paths do not serve."""
    found = []
    for path, item in openapi_schema()["paths"].items():
        name = str(resolve(path.replace("{id}", "1")).url_name)
        if name in PUBLIC:
            continue
        for method in METHODS:
            operation = item.get(method.lower())
            if operation is None:
                found.append(Operation(path, name, method, False, False, False))
                continue
            headers = {
                p["name"]
                for p in operation.get("parameters", [])
                if p["in"] == "header" and p.get("required")
            }
            found.append(
                Operation(
                    path,
                    name,
                    method,
                    True,
                    "requestBody" in operation,
                    "If-Match" in headers,
                )
            )
    return found


def test_the_walk_covers_every_operation_of_the_schema() -> None:
    """The walk is only as good as its reach: every served (route, method) of the URLconf
    that is in the schema is walked, and a served one has its roles in the table."""
    walked = {(o.name, o.method) for o in operations() if o.served}
    served = {
        (r.name, m)
        for r in api_routes()
        for m in r.methods
        if m in METHODS and r.name not in PUBLIC and r.name != "api-not-found"
    }
    assert walked == served
    assert {o.method for o in operations() if not o.served} >= {"PUT", "DELETE"}


def test_every_api_view_takes_its_refusals_from_the_one_permission_class() -> None:
    """A view with a permission class of its own could order its refusals its own way (the
    organization endpoint did: 428 before the 404 of an organization one is not in, 405
    before 401). Views say who may do what with read_roles/write_roles instead."""
    default = [IsAuthenticated, RolePermission]
    own = sorted(
        r.name
        for r in api_routes()
        if r.name not in PUBLIC | {"api-not-found"}
        and list(_view_class(r).permission_classes) != default
    )
    assert default == api_settings.DEFAULT_PERMISSION_CLASSES
    assert not own, f"Views with permission classes of their own: {own}"


def _view_class(route: Any) -> Any:
    callback = resolve(_url(route.name, 1 if route.kwargs else None)).func
    return callback.cls  # type: ignore[attr-defined]


class Requests:
    """Builds the request that carries `refusal` and every later one `operation` can give."""

    def __init__(self, tenants: World) -> None:
        self.world = tenants
        self.callers = tenants.callers
        self.foreign_slug = tenants.victim.org.slug
        self.representations: dict[str, dict[str, Any]] = {}

    def own_representation(self, kind: str) -> dict[str, Any]:
        if kind not in self.representations:
            url = _url(RETRIEVE_ROUTES[kind], self.world.attacker.first(kind).pk)
            self.representations[kind] = self.callers["manager token"].get(url).json()
        return self.representations[kind]

    def valid_body(self, operation: Operation) -> Any:
        if not operation.has_body:
            return None
        if operation.name == "organization":
            return {"min_n": 3}
        kind = DETAIL_ROUTES[operation.name]
        action = _route(operation.name).actions.get(operation.method, "")
        return write_body(action, kind, self.own_representation(kind))

    def send(self, operation: Operation, refusal: Refusal) -> Any:
        present = {r for r in operation.applicable() if rank(r) >= rank(refusal)}
        # Of two alternatives only one can be present: the one named, else the first.
        if refusal is not ORG_FOREIGN:
            present.discard(ORG_FOREIGN)
        if refusal is not STALE_IF_MATCH:
            present.discard(STALE_IF_MATCH)
        else:
            present.discard(NO_IF_MATCH)
        if refusal is ORG_FOREIGN:
            present.discard(ORG_BLANK)
        if not operation.served:  # what the method would be refused for, were it served
            present |= {ORG_BLANK, ROLE, BODY}
            if operation.name in DETAIL_ROUTES:
                present.add(OBJECT)

        if AUTH in present:
            client = APIClient()
        elif ROLE in present and not operation.served:
            client = self.callers["viewer token"]
        elif ROLE in present:
            allowed = PERMISSIONS[(operation.name, operation.method)]
            refused = next(r for r in (Role.VIEWER, Role.EVALUATOR) if r not in allowed)
            client = self.callers[f"{refused.value} token"]
        else:
            client = self.callers["manager token"]

        headers: dict[str, str] = {}
        if ORG_BLANK in present:
            headers["HTTP_X_ORGANIZATION"] = " "
        if ORG_FOREIGN in present:
            headers["HTTP_X_ORGANIZATION"] = self.foreign_slug
        if STALE_IF_MATCH in present:
            headers["HTTP_IF_MATCH"] = STALE

        kwargs: dict[str, Any] = {}
        kind = DETAIL_ROUTES.get(operation.name)
        if kind is not None:
            tenant = self.world.victim if OBJECT in present else self.world.attacker
            kwargs = {"pk": tenant.first(kind).pk}
        body = MALFORMED if BODY in present else None
        if body is None and operation.has_body:
            body = self.valid_body(operation)
        data = body if isinstance(body, str) else ("" if body is None else _dumps(body))
        url = _url(operation.name, kwargs.get("pk"))
        return client.generic(
            operation.method, url, data, content_type="application/json", **headers
        )


def _dumps(body: Any) -> str:
    return json.dumps(body)


def _route(name: str) -> Any:
    return next(r for r in api_routes() if r.name == name)


def _url(name: str, pk: int | None) -> str:
    return reverse(name, kwargs={"pk": pk} if pk is not None else {})


def test_every_operation_refuses_in_the_documented_order(world: World) -> None:  # noqa: F811
    before = everything()
    requests = Requests(world)
    wrong: list[str] = []
    walked = 0

    for operation in operations():
        for refusal in operation.applicable():
            walked += 1
            try:
                response = requests.send(operation, refusal)
            except AssertionError as broken:  # the answer breaks the schema (autouse hook)
                wrong.append(f"{operation.method} {operation.path}, {refusal.name}: {broken}")
                continue
            if response.status_code != refusal.status or not refusal.says(response):
                later = [
                    r.name
                    for r in operation.applicable()
                    if rank(r) > rank(refusal) and r not in (ORG_FOREIGN, STALE_IF_MATCH)
                ]
                wrong.append(
                    f"{operation.method} {operation.path}: expected {refusal.name} "
                    f"(with {', '.join(later) or 'nothing'} after it), got "
                    f"{response.status_code} {response.content[:160]!r}"
                )

    assert walked > 300  # every operation, several refusals each
    assert not wrong, "Refusals out of the documented order:\n" + "\n".join(wrong)
    assert everything() == before
