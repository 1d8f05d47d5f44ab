"""Lost-update protection on structure edits (RELIABILITY R10).

Every detail answers with an ETag; every write on a detail needs it back in If-Match:
missing → 428, stale → 412 with nothing stored, current → the write and a new ETag. Two
managers holding the same ETag: the first wins, the second gets 412, even when both
requests are in flight at once (the check runs on a locked row inside the write's
transaction).
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Any

import pytest
from django.db import connection
from drf_spectacular.drainage import GENERATOR_STATS
from drf_spectacular.generators import SchemaGenerator
from drf_spectacular.validation import validate_schema
from rest_framework.test import APIClient

from accounts.models import Role
from journeys import api as journeys_api
from journeys.models import Journey, Stage
from tests.api.conftest import ClientFor
from tests.conftest import Personas
from tests.factories import (
    CriterionFactory,
    JourneyFactory,
    MembershipFactory,
    SiteFactory,
    StageFactory,
    TouchPointFactory,
    UserFactory,
)
from touchpoints import api as touchpoints_api
from touchpoints import services
from touchpoints.models import Criterion, Site, TouchPoint

API = "/api/v1"
STALE = '"00000000000000000000000000000000"'


@dataclass
class Structure:
    journey: Journey
    stages: list[Stage]
    touch_points: list[TouchPoint]  # both in stages[0]
    criteria: list[Criterion]  # both at touch_points[0]
    site: Site


@pytest.fixture
def structure(personas: Personas) -> Structure:
    journey = JourneyFactory(organization=personas.org)
    stages = [StageFactory(journey=journey) for _ in range(2)]
    touch_points = [TouchPointFactory(stage=stages[0]) for _ in range(2)]
    criteria = [CriterionFactory(touch_point=touch_points[0]) for _ in range(2)]
    return Structure(
        journey, stages, touch_points, criteria, SiteFactory(organization=personas.org)
    )


def snapshot() -> list[Any]:
    return [
        list(model.objects.order_by("pk").values())
        for model in (Journey, Stage, TouchPoint, Criterion, Site)
    ]


def detail_writes(s: Structure) -> list[tuple[str, str, str, Any]]:
    """(method, detail url, url written to, body): every write guarded by If-Match."""
    journey = f"{API}/journeys/{s.journey.pk}/"
    stage = f"{API}/stages/{s.stages[0].pk}/"
    touch_point = f"{API}/touchpoints/{s.touch_points[0].pk}/"
    criterion = f"{API}/criteria/{s.criteria[0].pk}/"
    site = f"{API}/sites/{s.site.pk}/"
    writes: list[tuple[str, str, str, Any]] = [
        ("put", journey, journey, {"name": "Changed"}),
        ("patch", journey, journey, {"name": "Changed"}),
        ("delete", journey, journey, None),
        ("put", site, site, {"name": "Changed"}),
        ("patch", site, site, {"name": "Changed"}),
        ("post", site, f"{site}archive/", None),
        ("post", site, f"{site}restore/", None),
    ]
    for url in (stage, touch_point, criterion):
        writes += [
            ("patch", url, url, {"name": "Changed"}),
            ("delete", url, url, None),
            ("post", url, f"{url}move/", {"position": 1}),
            ("post", url, f"{url}archive/", None),
            ("post", url, f"{url}restore/", None),
        ]
    return writes


def etag_of(client: APIClient, url: str) -> str:
    response = client.get(url)
    assert response.status_code == 200
    return str(response["ETag"])


# --- The header itself ------------------------------------------------------------------------


def test_a_detail_carries_a_strong_etag_that_changes_exactly_when_the_object_does(
    structure: Structure, manager_api: APIClient
) -> None:
    url = f"{API}/touchpoints/{structure.touch_points[0].pk}/"
    first = etag_of(manager_api, url)

    assert first.startswith('"') and first.endswith('"') and not first.startswith("W/")
    assert etag_of(manager_api, url) == first

    changed = manager_api.patch(url, {"importance": 5}, format="json", HTTP_IF_MATCH=first)
    assert changed.status_code == 200
    assert changed["ETag"] != first
    assert etag_of(manager_api, url) == changed["ETag"]


def test_the_etag_of_a_create_is_good_for_the_next_write(manager_api: APIClient) -> None:
    created = manager_api.post(f"{API}/journeys/", {"name": "Vet visit"}, format="json")

    response = manager_api.patch(
        f"{API}/journeys/{created.json()['id']}/",
        {"persona": "Cat owner"},
        format="json",
        HTTP_IF_MATCH=created["ETag"],
    )

    assert response.status_code == 200


def test_a_change_made_elsewhere_changes_the_etag(
    personas: Personas, structure: Structure, manager_api: APIClient
) -> None:
    """The browser writes through the same services; its changes make API reads stale."""
    url = f"{API}/criteria/{structure.criteria[0].pk}/"
    before = etag_of(manager_api, url)

    services.update_criterion(
        actor=personas.manager, criterion=structure.criteria[0], data={"weight": 4}
    )

    assert etag_of(manager_api, url) != before


# --- 428 and 412 on every guarded write --------------------------------------------------------


def test_every_detail_write_without_if_match_is_428_and_stores_nothing(
    structure: Structure, manager_api: APIClient
) -> None:
    before = snapshot()
    for method, _, url, body in detail_writes(structure):
        response = getattr(manager_api, method)(url, body, format="json")
        assert response.status_code == 428, (method, url)
        assert "If-Match" in response.json()["detail"]
    assert snapshot() == before


def test_every_detail_write_with_a_stale_etag_is_412_and_stores_nothing(
    structure: Structure, manager_api: APIClient
) -> None:
    before = snapshot()
    for method, _, url, body in detail_writes(structure):
        response = getattr(manager_api, method)(url, body, format="json", HTTP_IF_MATCH=STALE)
        assert response.status_code == 412, (method, url)
        assert "changed since you read it" in response.json()["detail"]
    assert snapshot() == before


def test_every_detail_write_with_the_current_etag_proceeds(
    structure: Structure, manager_api: APIClient
) -> None:
    for method, detail, url, body in detail_writes(structure):
        if method == "delete":
            continue  # deletes are proven in test_structure_api; here they'd remove the rest
        response = getattr(manager_api, method)(
            url, body, format="json", HTTP_IF_MATCH=etag_of(manager_api, detail)
        )
        assert response.status_code == 200, (method, url, response.json())
        assert response["ETag"] == etag_of(manager_api, detail)


def test_an_empty_if_match_counts_as_missing(structure: Structure, manager_api: APIClient) -> None:
    response = manager_api.patch(
        f"{API}/stages/{structure.stages[0].pk}/", {"name": "X"}, format="json", HTTP_IF_MATCH=" "
    )

    assert response.status_code == 428


@pytest.mark.parametrize(
    "header",
    [
        "*",
        "{current}",
        "W/{current}",
        f"{STALE}, {{current}}",
    ],
)
def test_if_match_accepts_the_current_tag_in_any_of_its_spellings(
    structure: Structure, manager_api: APIClient, header: str
) -> None:
    url = f"{API}/stages/{structure.stages[0].pk}/"
    if_match = header.format(current=etag_of(manager_api, url))

    response = manager_api.patch(url, {"name": "Discover"}, format="json", HTTP_IF_MATCH=if_match)

    assert response.status_code == 200
    assert Stage.objects.get(pk=structure.stages[0].pk).name == "Discover"


def test_a_reorder_of_siblings_makes_an_earlier_read_stale(
    structure: Structure, manager_api: APIClient
) -> None:
    """The tag covers the whole representation, position included: a client that saw
    the old order must re-read before writing."""
    first, second = structure.touch_points
    seen = etag_of(manager_api, f"{API}/touchpoints/{first.pk}/")
    moved = manager_api.post(
        f"{API}/touchpoints/{second.pk}/move/",
        {"position": 0},
        format="json",
        HTTP_IF_MATCH=etag_of(manager_api, f"{API}/touchpoints/{second.pk}/"),
    )
    assert moved.status_code == 200

    response = manager_api.patch(
        f"{API}/touchpoints/{first.pk}/", {"name": "X"}, format="json", HTTP_IF_MATCH=seen
    )

    assert response.status_code == 412


def test_other_organizations_get_404_not_412_or_428(
    structure: Structure, outsider_api: APIClient, manager_api: APIClient
) -> None:
    before = snapshot()
    for method, detail, url, body in detail_writes(structure):
        etag = etag_of(manager_api, detail)
        for headers in ({}, {"HTTP_IF_MATCH": etag}):
            response = getattr(outsider_api, method)(url, body, format="json", **headers)
            assert response.status_code == 404, (method, url, headers)
    assert snapshot() == before


# --- Two managers, one ETag (R10) ----------------------------------------------------------


@pytest.fixture
def second_manager(personas: Personas, client_for: ClientFor) -> APIClient:
    colleague = UserFactory(email="second.manager@northwind.test")
    MembershipFactory(user=colleague, organization=personas.org, role=Role.MANAGER)
    return client_for(colleague)


def test_two_managers_with_the_same_etag_first_wins_second_gets_412(
    structure: Structure, manager_api: APIClient, second_manager: APIClient
) -> None:
    touch_point = structure.touch_points[0]
    url = f"{API}/touchpoints/{touch_point.pk}/"
    etag = etag_of(manager_api, url)

    first = manager_api.patch(url, {"name": "First"}, format="json", HTTP_IF_MATCH=etag)
    second = second_manager.patch(url, {"name": "Second"}, format="json", HTTP_IF_MATCH=etag)
    blind = second_manager.patch(url, {"name": "Blind"}, format="json")

    assert (first.status_code, second.status_code, blind.status_code) == (200, 412, 428)
    assert TouchPoint.objects.get(pk=touch_point.pk).name == "First"


def _lock_waiters() -> int:
    """Sessions of this test database waiting for a row lock."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity "
            "WHERE datname = current_database() AND wait_event_type = 'Lock'"
        )
        return int(cursor.fetchone()[0])


@pytest.mark.django_db(transaction=True)
def test_two_concurrent_patches_with_the_same_etag_first_200_second_412(
    structure: Structure,
    manager_api: APIClient,
    second_manager: APIClient,
    monkeypatch: pytest.MonkeyPatch,
    recompute_requests: list[list[int]],
) -> None:
    """The first PATCH is held inside its transaction after writing; the second, sent
    meanwhile with the same ETag, must wait on the row lock and then see the new state.
    Checking the ETag before locking would let both through (200, 200: a lost update)."""
    touch_point = structure.touch_points[0]
    url = f"{API}/touchpoints/{touch_point.pk}/"
    etag = etag_of(manager_api, url)
    inside, release = threading.Event(), threading.Event()
    original = services.update_touch_point
    calls: list[int] = []

    def held_update(**kwargs: Any) -> TouchPoint:
        result = original(**kwargs)
        calls.append(1)
        if len(calls) == 1:
            inside.set()
            release.wait(timeout=10)
        return result

    monkeypatch.setattr(services, "update_touch_point", held_update)
    statuses: dict[str, int] = {}

    def patch(name: str, client: APIClient) -> None:
        try:
            response = client.patch(url, {"name": name}, format="json", HTTP_IF_MATCH=etag)
            statuses[name] = response.status_code
        finally:
            connection.close()

    first = threading.Thread(target=patch, args=("First", manager_api))
    first.start()
    assert inside.wait(timeout=10)
    second = threading.Thread(target=patch, args=("Second", second_manager))
    second.start()
    deadline = time.monotonic() + 5
    while _lock_waiters() == 0 and time.monotonic() < deadline:
        time.sleep(0.02)
    second_waited_for_the_lock = _lock_waiters() > 0
    release.set()
    first.join(timeout=10)
    second.join(timeout=10)

    assert second_waited_for_the_lock
    assert statuses == {"First": 200, "Second": 412}
    assert len(calls) == 1
    assert TouchPoint.objects.get(pk=touch_point.pk).name == "First"


# --- OpenAPI -------------------------------------------------------------------------------


@pytest.fixture
def structure_schema() -> dict[str, Any]:
    """The schema of the structure routes alone, with any generator warning recorded."""
    GENERATOR_STATS.reset()
    patterns = [*journeys_api.urlpatterns, *touchpoints_api.urlpatterns]
    schema = SchemaGenerator(patterns=patterns).get_schema(request=None, public=True)
    assert not GENERATOR_STATS._warn_cache, list(GENERATOR_STATS._warn_cache)
    assert not GENERATOR_STATS._error_cache, list(GENERATOR_STATS._error_cache)
    validate_schema(schema)
    return schema  # type: ignore[no-any-return]


def test_the_schema_has_no_warnings_and_documents_etags_on_every_operation(
    structure_schema: dict[str, Any],
) -> None:
    guarded = 0
    for path, operations in structure_schema["paths"].items():
        for method, operation in operations.items():
            headers = {p["name"]: p for p in operation["parameters"] if p["in"] == "header"}
            assert "X-Organization" in headers, (method, path)
            if "{id}" in path and method != "get":
                guarded += 1
                assert headers["If-Match"]["required"] is True, (method, path)
                assert {"400", "403", "404", "412", "428"} <= set(operation["responses"]), path
                assert "ETag" in operation["responses"]["200"]["headers"], (method, path)
            elif "{id}" in path:
                assert "ETag" in operation["responses"]["200"]["headers"], path
                assert "404" in operation["responses"], path
    assert guarded == 3 * 6 + 3 + 4  # stages, touch points, criteria; journeys; sites


def test_the_schema_documents_both_answers_of_a_delete(structure_schema: dict[str, Any]) -> None:
    for resource in ("journeys", "stages", "touchpoints", "criteria"):
        responses = structure_schema["paths"][f"/{resource}/{{id}}/"]["delete"]["responses"]
        assert "204" in responses
        assert "archived" in responses["200"]["description"].lower()
        assert "content" in responses["200"]
    assert "delete" not in structure_schema["paths"]["/sites/{id}/"]
