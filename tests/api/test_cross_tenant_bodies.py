"""Another organization's ids inside request bodies (RELIABILITY S2).

A manager of Rival Telecom names Northwind's journey, stage or touch point in a body:
creating under it, moving into it, re-parenting onto it. Each is refused with 400 and the
same message as an id that does not exist, nothing is stored in either organization, and
Northwind's rows are unchanged.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest
from rest_framework.test import APIClient

from accounts.models import AuditEvent
from journeys.models import Journey, Stage
from tests.conftest import Personas
from tests.factories import CriterionFactory, JourneyFactory, StageFactory, TouchPointFactory
from touchpoints.models import Criterion, Site, TouchPoint

API = "/api/v1"
MISSING = 10**9


@dataclass
class Tree:
    journey: Journey
    stage: Stage
    touch_point: TouchPoint
    criterion: Criterion


def tree(organization: Any) -> Tree:
    journey = JourneyFactory(organization=organization)
    stage = StageFactory(journey=journey)
    touch_point = TouchPointFactory(stage=stage)
    return Tree(journey, stage, touch_point, CriterionFactory(touch_point=touch_point))


@pytest.fixture
def northwind(personas: Personas) -> Tree:
    """The victim's structure."""
    return tree(personas.org)


@pytest.fixture
def rival(personas: Personas) -> Tree:
    """The outsider's own structure, which they may edit."""
    return tree(personas.other_org)


def everything() -> list[Any]:
    """Every structure row and audit event of both organizations."""
    return [
        list(model.objects.order_by("pk").values())
        for model in (Journey, Stage, TouchPoint, Criterion, Site, AuditEvent)
    ]


def guarded(client: APIClient, method: str, url: str, detail: str, body: Any) -> Any:
    etag = client.get(detail)["ETag"]
    return getattr(client, method)(url, body, format="json", HTTP_IF_MATCH=etag)


CREATES = [
    ("stages", "journey", "journey", {"name": "Planted"}),
    ("touchpoints", "stage", "stage", {"name": "Planted"}),
    ("criteria", "touch_point", "touch_point", {"name": "Planted", "kind": "yes_no"}),
]


@pytest.mark.parametrize(("resource", "field", "parent", "body"), CREATES)
def test_creating_under_another_organizations_parent_is_refused_like_a_missing_id(
    northwind: Tree,
    rival: Tree,
    outsider_api: APIClient,
    resource: str,
    field: str,
    parent: str,
    body: dict[str, Any],
) -> None:
    before = everything()

    theirs = outsider_api.post(
        f"{API}/{resource}/", {**body, field: getattr(northwind, parent).pk}, format="json"
    )
    missing = outsider_api.post(f"{API}/{resource}/", {**body, field: MISSING}, format="json")

    # A well-formed id naming nothing in the caller's organization is a 404, like an id in
    # a path, and another organization's id gets exactly the answer of a missing one.
    message = f"No such {field.replace('_', ' ')}."
    assert theirs.status_code == missing.status_code == 404
    assert theirs.json() == missing.json() == {"detail": message, field: [message]}
    assert everything() == before


@pytest.mark.parametrize(("resource", "field", "parent", "body"), CREATES)
def test_the_same_create_under_the_callers_own_parent_works(
    rival: Tree,
    outsider_api: APIClient,
    resource: str,
    field: str,
    parent: str,
    body: dict[str, Any],
) -> None:
    """The refusal above is about the tenant, not the request."""
    response = outsider_api.post(
        f"{API}/{resource}/", {**body, field: getattr(rival, parent).pk}, format="json"
    )

    assert response.status_code == 201, response.json()


def test_moving_a_touch_point_into_another_organizations_stage_is_refused(
    northwind: Tree, rival: Tree, outsider_api: APIClient
) -> None:
    before = everything()
    url = f"{API}/touchpoints/{rival.touch_point.pk}/"

    response = guarded(
        outsider_api, "post", f"{url}move/", url, {"stage": northwind.stage.pk, "position": 0}
    )

    assert response.status_code == 404
    assert response.json() == {"detail": "No such stage.", "stage": ["No such stage."]}
    assert everything() == before


@pytest.mark.parametrize(
    ("resource", "own", "field", "target"),
    [
        ("stages", "stage", "journey", "journey"),
        ("touchpoints", "touch_point", "stage", "stage"),
        ("criteria", "criterion", "touch_point", "touch_point"),
    ],
)
def test_re_parenting_onto_another_organizations_row_by_patch_is_refused(
    northwind: Tree,
    rival: Tree,
    outsider_api: APIClient,
    resource: str,
    own: str,
    field: str,
    target: str,
) -> None:
    before = everything()
    url = f"{API}/{resource}/{getattr(rival, own).pk}/"

    for method in ("patch", "put"):
        body = {field: getattr(northwind, target).pk, "name": "Moved"}
        if resource == "criteria":
            body["kind"] = "yes_no"
        response = guarded(outsider_api, method, url, url, body)
        # A new parent is a conflict with the row's state (409) whoever owns the target.
        assert response.status_code == 409, (method, response.json())
        assert set(response.json()) == {"detail", field}

    assert everything() == before


def test_writes_on_another_organizations_rows_are_404_whatever_the_body(
    northwind: Tree, rival: Tree, outsider_api: APIClient, manager_api: APIClient
) -> None:
    """Even with the victim's current ETag (say, leaked), every write answers 404."""
    before = everything()
    for resource, pk in (
        ("journeys", northwind.journey.pk),
        ("stages", northwind.stage.pk),
        ("touchpoints", northwind.touch_point.pk),
        ("criteria", northwind.criterion.pk),
    ):
        url = f"{API}/{resource}/{pk}/"
        etag = manager_api.get(url)["ETag"]
        for method, target, body in (
            ("patch", url, {"name": "Pwned"}),
            ("put", url, {"name": "Pwned", "kind": "yes_no"}),
            ("delete", url, None),
        ):
            response = getattr(outsider_api, method)(
                target, body, format="json", HTTP_IF_MATCH=etag
            )
            assert response.status_code == 404, (method, target)
        if resource != "journeys":
            for action, body in (("move", {"position": 0}), ("archive", None), ("restore", None)):
                response = outsider_api.post(
                    f"{url}{action}/", body, format="json", HTTP_IF_MATCH=etag
                )
                assert response.status_code == 404, (action, url)
    assert everything() == before


def test_an_outsider_cannot_act_in_the_victims_organization_by_header(
    personas: Personas, northwind: Tree, client_for: Any
) -> None:
    client = client_for(personas.outsider, organization=personas.org.slug)
    before = everything()

    read = client.get(f"{API}/journeys/")
    write = client.post(
        f"{API}/stages/", {"journey": northwind.journey.pk, "name": "Planted"}, format="json"
    )

    assert read.status_code == write.status_code == 404
    assert everything() == before
