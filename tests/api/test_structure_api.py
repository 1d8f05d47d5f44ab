"""The structure API: journeys, stages, touch points, criteria and sites under /api/v1/.

Every write goes through the services, so these tests look at status codes, bodies and
what is stored; the services' own rules are tested in tests/journeys and tests/touchpoints.
Positions are 0-based: the active siblings of a parent always hold 0..n-1.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from rest_framework.test import APIClient
from rest_framework.throttling import ScopedRateThrottle

from accounts.models import AuditEvent
from journeys.models import Journey, JourneyStatus, Stage
from tests.conftest import Personas
from tests.factories import (
    CriterionFactory,
    JourneyFactory,
    SiteFactory,
    StageFactory,
    TouchPointFactory,
)
from touchpoints.models import (
    Answer,
    Criterion,
    CriterionKind,
    Evaluation,
    Site,
    Source,
    TouchPoint,
)
from touchpoints.services import AnswerInput, submit_evaluation

API = "/api/v1"


@dataclass
class Map:
    """A journey of personas.org: two stages, each with two touch points of two criteria."""

    journey: Journey
    stages: list[Stage]
    touch_points: list[TouchPoint]  # stage 0: [0, 1]; stage 1: [2, 3]
    criteria: list[Criterion]  # touch point i: [2i, 2i + 1]


@pytest.fixture
def journey_map(personas: Personas) -> Map:
    journey = JourneyFactory(organization=personas.org, name="Broadband install")
    stages = [StageFactory(journey=journey) for _ in range(2)]
    touch_points = [TouchPointFactory(stage=stage) for stage in stages for _ in range(2)]
    criteria = [
        CriterionFactory(touch_point=tp, kind=CriterionKind.YES_NO)
        for tp in touch_points
        for _ in range(2)
    ]
    return Map(journey, stages, touch_points, criteria)


def evaluate(personas: Personas, touch_point: TouchPoint) -> Evaluation:
    return submit_evaluation(
        evaluator=personas.evaluator,
        organization=personas.org,
        touch_point_id=touch_point.pk,
        source=Source.AUDIT,
        observed_at=timezone.now() - timedelta(hours=1),
        answers=[
            AnswerInput(c.pk, 1) for c in touch_point.criteria.filter(archived_at__isnull=True)
        ],
    )


ACTIONS = ("move/", "archive/", "restore/")


def detail_of(url: str) -> str:
    """The detail URL an action URL acts on (…/stages/4/move/ → …/stages/4/)."""
    return url.rsplit("/", 2)[0] + "/" if url.endswith(ACTIONS) else url


def guarded(client: APIClient, method: str, url: str, body: Any = None) -> Any:
    """A detail write the way a careful client makes it: read the ETag, send it back."""
    etag = client.get(detail_of(url))["ETag"]
    return getattr(client, method)(url, body, format="json", HTTP_IF_MATCH=etag)


def positions(model: type[Any], **parent: Any) -> list[tuple[int, int]]:
    """(id, position) of the active children of a parent, in order."""
    rows = model.objects.filter(archived_at__isnull=True, **parent).order_by("position")
    return list(rows.values_list("pk", "position"))


def ids(response: Any) -> list[int]:
    return [row["id"] for row in response.json()["results"]]


# --- Journeys -------------------------------------------------------------------------------


def test_a_manager_creates_a_journey_and_it_is_stored_in_their_organization(
    personas: Personas, manager_api: APIClient
) -> None:
    body = {
        "name": "Vet visit",
        "persona": "Dog owner",
        "description": "From booking to the follow-up call.",
        "status": "active",
        "target": 75,
    }
    response = manager_api.post(f"{API}/journeys/", body, format="json")

    assert response.status_code == 201, response.json()
    assert response["ETag"].startswith('"')
    stored = Journey.objects.get(pk=response.json()["id"])
    assert (stored.organization_id, stored.created_by_id) == (personas.org.pk, personas.manager.pk)
    assert (stored.name, stored.persona, stored.status, stored.target) == (
        "Vet visit",
        "Dog owner",
        "active",
        75.0,
    )
    assert response.json() == {
        **body,
        "id": stored.pk,
        "target": 75.0,
        "created_at": response.json()["created_at"],
        "updated_at": response.json()["updated_at"],
    }
    assert AuditEvent.objects.filter(action="create", object_id=stored.pk).exists()


def test_a_journey_with_bad_fields_is_refused_field_by_field_and_nothing_is_stored(
    manager_api: APIClient,
) -> None:
    response = manager_api.post(
        f"{API}/journeys/",
        {"name": "  ", "status": "paused", "target": 150, "persona": 7},
        format="json",
    )

    assert response.status_code == 400
    assert set(response.json()) == {"name", "status", "target", "persona"}
    assert not Journey.objects.exists()


def test_a_journey_without_a_name_is_refused_by_field(manager_api: APIClient) -> None:
    response = manager_api.post(f"{API}/journeys/", {"persona": "Dog owner"}, format="json")

    assert response.status_code == 400
    assert response.json() == {"name": ["This field is required."]}
    assert not Journey.objects.exists()


@pytest.mark.parametrize("body", [[{"name": "A list"}], "a string", 42])
def test_a_body_that_is_not_an_object_is_refused(manager_api: APIClient, body: Any) -> None:
    response = manager_api.post(f"{API}/journeys/", body, format="json")

    assert response.status_code == 400
    assert "non_field_errors" in response.json()
    assert not Journey.objects.exists()


def test_json_nested_too_deep_is_a_400_not_a_500(manager_api: APIClient) -> None:
    body = '{"name": ' + "[" * 100_000 + "]" * 100_000 + "}"

    response = manager_api.post(f"{API}/journeys/", body, content_type="application/json")

    assert response.status_code == 400
    assert response.json() == {
        "non_field_errors": ["JSON parse error - the body is nested too deeply."]
    }
    assert not Journey.objects.exists()


def test_patch_changes_only_the_fields_sent(journey_map: Map, manager_api: APIClient) -> None:
    url = f"{API}/journeys/{journey_map.journey.pk}/"
    response = guarded(manager_api, "patch", url, {"target": 90, "persona": "Renter"})

    assert response.status_code == 200
    journey_map.journey.refresh_from_db()
    assert (journey_map.journey.target, journey_map.journey.persona) == (90.0, "Renter")
    assert journey_map.journey.name == "Broadband install"
    assert response.json()["target"] == 90.0


def test_put_needs_the_required_fields_and_replaces_the_editable_ones(
    journey_map: Map, manager_api: APIClient
) -> None:
    url = f"{API}/journeys/{journey_map.journey.pk}/"

    missing = guarded(manager_api, "put", url, {"persona": "Renter"})
    assert missing.status_code == 400
    assert missing.json() == {"name": ["This field is required."]}

    response = guarded(
        manager_api, "put", url, {"name": "Install", "persona": "Renter", "status": "draft"}
    )
    assert response.status_code == 200
    journey_map.journey.refresh_from_db()
    assert (journey_map.journey.name, journey_map.journey.status) == ("Install", "draft")


def test_journeys_are_listed_by_name_without_archived_ones_unless_asked(
    personas: Personas, manager_api: APIClient
) -> None:
    zebra = JourneyFactory(organization=personas.org, name="Zebra")
    alpha = JourneyFactory(organization=personas.org, name="Alpha")
    old = JourneyFactory(organization=personas.org, name="Middle", status=JourneyStatus.ARCHIVED)
    draft = JourneyFactory(organization=personas.org, name="Beta", status=JourneyStatus.DRAFT)

    assert ids(manager_api.get(f"{API}/journeys/")) == [alpha.pk, draft.pk, zebra.pk]
    assert ids(manager_api.get(f"{API}/journeys/?include_archived=true")) == [
        alpha.pk,
        draft.pk,
        old.pk,
        zebra.pk,
    ]
    assert ids(manager_api.get(f"{API}/journeys/?status=archived")) == [old.pk]
    assert ids(manager_api.get(f"{API}/journeys/?status=draft")) == [draft.pk]
    assert manager_api.get(f"{API}/journeys/?status=paused").status_code == 400


def test_lists_are_paginated(personas: Personas, manager_api: APIClient) -> None:
    for n in range(5):
        JourneyFactory(organization=personas.org, name=f"Journey {n}")

    first = manager_api.get(f"{API}/journeys/?page_size=2").json()
    last = manager_api.get(f"{API}/journeys/?page_size=2&page=3").json()

    assert first["count"] == 5
    assert [j["name"] for j in first["results"]] == ["Journey 0", "Journey 1"]
    assert first["next"] is not None
    assert [j["name"] for j in last["results"]] == ["Journey 4"]
    assert last["next"] is None


def test_a_list_costs_the_same_number_of_queries_for_3_or_30_rows(
    personas: Personas, manager_api: APIClient
) -> None:
    touch_point = TouchPointFactory(stage__journey__organization=personas.org)

    def queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            response = manager_api.get(f"{API}/criteria/?touch_point={touch_point.pk}")
        assert response.status_code == 200
        return len(captured)

    for _ in range(3):
        CriterionFactory(touch_point=touch_point)
    queries()  # the token's first use of the day writes last_used_at
    few = queries()
    for _ in range(27):
        CriterionFactory(touch_point=touch_point)
    assert queries() == few


def test_deleting_a_journey_nobody_evaluated_deletes_it(
    journey_map: Map, manager_api: APIClient
) -> None:
    response = guarded(manager_api, "delete", f"{API}/journeys/{journey_map.journey.pk}/")

    assert response.status_code == 204
    assert not Journey.objects.filter(pk=journey_map.journey.pk).exists()
    assert not Stage.objects.filter(journey_id=journey_map.journey.pk).exists()


def test_deleting_an_evaluated_journey_archives_it_and_keeps_its_evaluations(
    personas: Personas, journey_map: Map, manager_api: APIClient
) -> None:
    evaluation = evaluate(personas, journey_map.touch_points[0])

    response = guarded(manager_api, "delete", f"{API}/journeys/{journey_map.journey.pk}/")

    assert response.status_code == 200
    assert response.json()["status"] == "archived"
    assert response["ETag"]
    journey_map.journey.refresh_from_db()
    assert journey_map.journey.status == JourneyStatus.ARCHIVED
    assert Evaluation.objects.filter(pk=evaluation.pk).exists()
    assert Answer.objects.filter(evaluation=evaluation).count() == 2


# --- Stages ---------------------------------------------------------------------------------


def test_a_new_stage_goes_last_and_ignores_a_position_sent_with_it(
    journey_map: Map, manager_api: APIClient
) -> None:
    response = manager_api.post(
        f"{API}/stages/",
        {"journey": journey_map.journey.pk, "name": "Pay", "position": 0},
        format="json",
    )

    assert response.status_code == 201, response.json()
    assert response.json()["position"] == 2
    assert response.json()["journey"] == journey_map.journey.pk
    assert [p for _, p in positions(Stage, journey=journey_map.journey)] == [0, 1, 2]


def test_a_stage_without_a_journey_is_refused(manager_api: APIClient) -> None:
    response = manager_api.post(f"{API}/stages/", {"name": "Pay"}, format="json")

    assert response.status_code == 400
    assert response.json() == {"journey": ["This field is required."]}
    assert not Stage.objects.exists()


@pytest.mark.parametrize(
    ("journey", "message"),
    [
        ("1", "Must be an id."),
        (True, "Must be an id."),
        (1.5, "Must be an id."),
        (None, "May not be null."),
    ],
)
def test_a_stage_naming_a_journey_by_something_that_is_not_an_id_is_a_400(
    journey_map: Map, manager_api: APIClient, journey: Any, message: str
) -> None:
    response = manager_api.post(
        f"{API}/stages/", {"journey": journey, "name": "Pay"}, format="json"
    )

    assert response.status_code == 400
    assert response.json() == {"journey": [message]}
    assert Stage.objects.count() == 2


@pytest.mark.parametrize("journey", [0, -1, 2**31, 2**70])
def test_a_stage_naming_a_journey_id_that_names_nothing_is_a_404(
    journey_map: Map, manager_api: APIClient, journey: int
) -> None:
    response = manager_api.post(
        f"{API}/stages/", {"journey": journey, "name": "Pay"}, format="json"
    )

    assert response.status_code == 404
    assert response.json() == {"detail": "No such journey.", "journey": ["No such journey."]}
    assert Stage.objects.count() == 2


def test_moving_a_stage_keeps_positions_without_gaps(
    personas: Personas, manager_api: APIClient
) -> None:
    journey = JourneyFactory(organization=personas.org)
    stages = [StageFactory(journey=journey) for _ in range(4)]

    response = guarded(manager_api, "post", f"{API}/stages/{stages[3].pk}/move/", {"position": 0})

    assert response.status_code == 200
    assert response.json()["position"] == 0
    expected = [stages[3].pk, stages[0].pk, stages[1].pk, stages[2].pk]
    assert positions(Stage, journey=journey) == [(pk, i) for i, pk in enumerate(expected)]
    listed = manager_api.get(f"{API}/stages/?journey={journey.pk}").json()["results"]
    assert [(s["id"], s["position"]) for s in listed] == [(pk, i) for i, pk in enumerate(expected)]


@pytest.mark.parametrize("position", [4, -1, "first", 1.5, None])
def test_a_move_to_a_position_that_does_not_exist_is_refused(
    personas: Personas, manager_api: APIClient, position: Any
) -> None:
    journey = JourneyFactory(organization=personas.org)
    stages = [StageFactory(journey=journey) for _ in range(4)]
    before = positions(Stage, journey=journey)

    response = guarded(
        manager_api, "post", f"{API}/stages/{stages[0].pk}/move/", {"position": position}
    )

    assert response.status_code == 400
    assert "position" in response.json()
    assert positions(Stage, journey=journey) == before


def test_archiving_a_stage_closes_the_gap_and_restoring_puts_it_back(
    journey_map: Map, manager_api: APIClient
) -> None:
    first, second = journey_map.stages
    url = f"{API}/stages/{first.pk}/"

    archived = guarded(manager_api, "post", f"{url}archive/")
    assert archived.status_code == 200
    assert archived.json()["archived_at"] is not None
    assert archived.json()["position"] is None
    assert positions(Stage, journey=journey_map.journey) == [(second.pk, 0)]
    assert ids(manager_api.get(f"{API}/stages/?journey={journey_map.journey.pk}")) == [second.pk]
    assert ids(
        manager_api.get(f"{API}/stages/?journey={journey_map.journey.pk}&include_archived=true")
    ) == [second.pk, first.pk]

    restored = guarded(manager_api, "post", f"{url}restore/", {"position": 0})
    assert restored.status_code == 200
    assert restored.json()["archived_at"] is None
    assert positions(Stage, journey=journey_map.journey) == [(first.pk, 0), (second.pk, 1)]


@pytest.mark.parametrize("position", [{"at": 0}, [0], "0", 1.5, True])
def test_restoring_with_a_position_that_is_not_a_whole_number_is_refused(
    journey_map: Map, manager_api: APIClient, position: Any
) -> None:
    """The schema says integer or null; anything else is a 400 at `position` and the
    stage stays archived (an object was restored with 200)."""
    first, second = journey_map.stages
    guarded(manager_api, "post", f"{API}/stages/{first.pk}/archive/")

    response = guarded(
        manager_api, "post", f"{API}/stages/{first.pk}/restore/", {"position": position}
    )

    assert response.status_code == 400, response.json()
    assert list(response.json()) == ["position"], response.json()
    assert Stage.objects.get(pk=first.pk).archived_at is not None
    assert positions(Stage, journey=journey_map.journey) == [(second.pk, 0)]


def test_restoring_without_a_position_puts_it_last(
    journey_map: Map, manager_api: APIClient
) -> None:
    first, second = journey_map.stages
    guarded(manager_api, "post", f"{API}/stages/{first.pk}/archive/")

    response = guarded(manager_api, "post", f"{API}/stages/{first.pk}/restore/")

    assert response.status_code == 200
    assert positions(Stage, journey=journey_map.journey) == [(second.pk, 0), (first.pk, 1)]


def test_a_stage_cannot_be_moved_to_another_journey_by_patch(
    personas: Personas, journey_map: Map, manager_api: APIClient
) -> None:
    other = JourneyFactory(organization=personas.org)
    stage = journey_map.stages[0]

    response = guarded(
        manager_api, "patch", f"{API}/stages/{stage.pk}/", {"journey": other.pk, "name": "Moved"}
    )

    assert response.status_code == 409
    assert set(response.json()) == {"detail", "journey"}
    stage.refresh_from_db()
    assert (stage.journey_id, stage.name) != (other.pk, "Moved")
    assert stage.name != "Moved"


def test_repeating_a_stages_own_journey_in_a_patch_is_fine(
    journey_map: Map, manager_api: APIClient
) -> None:
    stage = journey_map.stages[0]

    response = guarded(
        manager_api,
        "patch",
        f"{API}/stages/{stage.pk}/",
        {"journey": journey_map.journey.pk, "name": "Discover"},
    )

    assert response.status_code == 200
    stage.refresh_from_db()
    assert stage.name == "Discover"


def test_deleting_an_evaluated_stage_archives_it_and_keeps_its_evaluations(
    personas: Personas, journey_map: Map, manager_api: APIClient
) -> None:
    evaluation = evaluate(personas, journey_map.touch_points[0])
    stage, other = journey_map.stages

    response = guarded(manager_api, "delete", f"{API}/stages/{stage.pk}/")

    assert response.status_code == 200
    assert response.json()["archived_at"] is not None
    assert Stage.objects.filter(pk=stage.pk).exists()
    assert Evaluation.objects.filter(pk=evaluation.pk).exists()
    assert positions(Stage, journey=journey_map.journey) == [(other.pk, 0)]


def test_deleting_a_stage_nobody_evaluated_deletes_it_and_closes_the_gap(
    journey_map: Map, manager_api: APIClient
) -> None:
    stage, other = journey_map.stages

    response = guarded(manager_api, "delete", f"{API}/stages/{stage.pk}/")

    assert response.status_code == 204
    assert not Stage.objects.filter(pk=stage.pk).exists()
    assert not TouchPoint.objects.filter(stage_id=stage.pk).exists()
    assert positions(Stage, journey=journey_map.journey) == [(other.pk, 0)]


# --- Touch points ---------------------------------------------------------------------------


def test_a_touch_point_is_created_in_a_stage_and_takes_its_journey(
    journey_map: Map, manager_api: APIClient
) -> None:
    stage = journey_map.stages[1]
    response = manager_api.post(
        f"{API}/touchpoints/",
        {
            "stage": stage.pk,
            "name": "Technician arrives",
            "channel": "in_person",
            "owner_team": "Field",
            "importance": 5,
            "target": 85,
        },
        format="json",
    )

    assert response.status_code == 201, response.json()
    stored = TouchPoint.objects.get(pk=response.json()["id"])
    assert (stored.journey_id, stored.stage_id, stored.position) == (
        journey_map.journey.pk,
        stage.pk,
        2,
    )
    assert (stored.channel, stored.owner_team, stored.importance, stored.target) == (
        "in_person",
        "Field",
        5,
        85.0,
    )
    assert response.json()["journey"] == journey_map.journey.pk


def test_a_touch_point_with_bad_fields_is_refused_and_nothing_is_stored(
    journey_map: Map, manager_api: APIClient
) -> None:
    response = manager_api.post(
        f"{API}/touchpoints/",
        {"stage": journey_map.stages[0].pk, "name": "X", "channel": "fax", "importance": 9},
        format="json",
    )

    assert response.status_code == 400
    assert set(response.json()) == {"channel", "importance"}
    assert TouchPoint.objects.count() == 4


def test_touch_points_filter_by_journey_and_stage_in_position_order(
    personas: Personas, journey_map: Map, manager_api: APIClient
) -> None:
    elsewhere = TouchPointFactory(stage__journey__organization=personas.org)
    tps = journey_map.touch_points
    guarded(manager_api, "post", f"{API}/touchpoints/{tps[1].pk}/move/", {"position": 0})

    by_stage = manager_api.get(f"{API}/touchpoints/?stage={journey_map.stages[0].pk}")
    by_journey = manager_api.get(f"{API}/touchpoints/?journey={journey_map.journey.pk}")

    assert ids(by_stage) == [tps[1].pk, tps[0].pk]
    assert ids(by_journey) == [tps[1].pk, tps[0].pk, tps[2].pk, tps[3].pk]
    assert elsewhere.pk in ids(manager_api.get(f"{API}/touchpoints/"))


def test_a_journeys_touch_points_follow_the_order_of_its_stages(
    journey_map: Map, manager_api: APIClient
) -> None:
    tps = journey_map.touch_points
    guarded(manager_api, "post", f"{API}/stages/{journey_map.stages[1].pk}/move/", {"position": 0})

    listed = manager_api.get(f"{API}/touchpoints/?journey={journey_map.journey.pk}")

    assert ids(listed) == [tps[2].pk, tps[3].pk, tps[0].pk, tps[1].pk]


def test_a_touch_point_moves_into_another_stage_of_its_journey(
    journey_map: Map, manager_api: APIClient
) -> None:
    tps = journey_map.touch_points
    source, target = journey_map.stages

    response = guarded(
        manager_api,
        "post",
        f"{API}/touchpoints/{tps[0].pk}/move/",
        {"stage": target.pk, "position": 1},
    )

    assert response.status_code == 200, response.json()
    assert (response.json()["stage"], response.json()["position"]) == (target.pk, 1)
    assert positions(TouchPoint, stage=source) == [(tps[1].pk, 0)]
    assert positions(TouchPoint, stage=target) == [(tps[2].pk, 0), (tps[0].pk, 1), (tps[3].pk, 2)]


def test_a_touch_point_cannot_move_into_another_journeys_stage(
    personas: Personas, journey_map: Map, manager_api: APIClient
) -> None:
    foreign_stage = StageFactory(journey__organization=personas.org)
    touch_point = journey_map.touch_points[0]

    response = guarded(
        manager_api,
        "post",
        f"{API}/touchpoints/{touch_point.pk}/move/",
        {"stage": foreign_stage.pk, "position": 0},
    )

    assert response.status_code == 400
    assert "stage" in response.json()
    touch_point.refresh_from_db()
    assert (touch_point.stage_id, touch_point.position) == (journey_map.stages[0].pk, 0)


def test_a_touch_point_stage_cannot_change_by_patch(
    journey_map: Map, manager_api: APIClient
) -> None:
    touch_point = journey_map.touch_points[0]

    response = guarded(
        manager_api,
        "patch",
        f"{API}/touchpoints/{touch_point.pk}/",
        {"stage": journey_map.stages[1].pk, "importance": 1},
    )

    assert response.status_code == 409
    assert "move/" in response.json()["stage"][0]
    touch_point.refresh_from_db()
    assert (touch_point.stage_id, touch_point.importance) == (journey_map.stages[0].pk, 3)


def test_archive_and_restore_a_touch_point(journey_map: Map, manager_api: APIClient) -> None:
    first, second = journey_map.touch_points[:2]
    stage = journey_map.stages[0]

    assert guarded(manager_api, "post", f"{API}/touchpoints/{first.pk}/archive/").status_code == 200
    assert positions(TouchPoint, stage=stage) == [(second.pk, 0)]
    assert first.pk not in ids(manager_api.get(f"{API}/touchpoints/?stage={stage.pk}"))
    assert manager_api.get(f"{API}/touchpoints/{first.pk}/").status_code == 200

    response = guarded(manager_api, "post", f"{API}/touchpoints/{first.pk}/restore/")
    assert response.status_code == 200
    assert positions(TouchPoint, stage=stage) == [(second.pk, 0), (first.pk, 1)]


def test_deleting_touch_points_deletes_or_archives_by_whether_they_were_evaluated(
    personas: Personas, journey_map: Map, manager_api: APIClient
) -> None:
    evaluated, untouched = journey_map.touch_points[:2]
    evaluation = evaluate(personas, evaluated)

    kept = guarded(manager_api, "delete", f"{API}/touchpoints/{evaluated.pk}/")
    gone = guarded(manager_api, "delete", f"{API}/touchpoints/{untouched.pk}/")

    assert kept.status_code == 200
    assert kept.json()["archived_at"] is not None
    assert Evaluation.objects.filter(pk=evaluation.pk, touch_point=evaluated).exists()
    assert gone.status_code == 204
    assert not TouchPoint.objects.filter(pk=untouched.pk).exists()
    assert positions(TouchPoint, stage=journey_map.stages[0]) == []


# --- Criteria -------------------------------------------------------------------------------


def test_a_criterion_is_created_with_its_rubric_flattened_in(
    journey_map: Map, manager_api: APIClient
) -> None:
    touch_point = journey_map.touch_points[0]
    response = manager_api.post(
        f"{API}/criteria/",
        {
            "touch_point": touch_point.pk,
            "name": "Answered within 20 seconds",
            "kind": "numeric",
            "unit": "s",
            "target_value": 20,
            "worst_value": 120,
            "weight": 2,
            "critical": True,
        },
        format="json",
    )

    assert response.status_code == 201, response.json()
    body = response.json()
    assert {k: body[k] for k in ("kind", "unit", "target_value", "worst_value", "weight")} == {
        "kind": "numeric",
        "unit": "s",
        "target_value": 20.0,
        "worst_value": 120.0,
        "weight": 2.0,
    }
    assert (body["critical"], body["version"], body["position"]) == (True, 1, 2)
    rubric = Criterion.objects.get(pk=body["id"]).rubric
    assert (rubric.kind, rubric.target_value, rubric.worst_value, rubric.critical) == (
        "numeric",
        20.0,
        120.0,
        True,
    )


def test_a_criterion_with_an_incomplete_rubric_is_refused_and_nothing_is_stored(
    journey_map: Map, manager_api: APIClient
) -> None:
    response = manager_api.post(
        f"{API}/criteria/",
        {
            "touch_point": journey_map.touch_points[0].pk,
            "name": "Wait",
            "kind": "numeric",
            "weight": 0,
        },
        format="json",
    )

    assert response.status_code == 400
    assert set(response.json()) == {"target_value", "worst_value", "weight"}
    assert Criterion.objects.count() == 8


def test_a_criterion_without_a_kind_is_refused(journey_map: Map, manager_api: APIClient) -> None:
    response = manager_api.post(
        f"{API}/criteria/",
        {"touch_point": journey_map.touch_points[0].pk, "name": "Smiled"},
        format="json",
    )

    assert response.status_code == 400
    assert response.json() == {"kind": ["This field is required."]}


def test_changing_an_answered_rubric_makes_a_new_version_and_old_answers_keep_theirs(
    personas: Personas, journey_map: Map, manager_api: APIClient
) -> None:
    criterion = journey_map.criteria[0]
    old_version = criterion.current_version_id
    evaluation = evaluate(personas, journey_map.touch_points[0])

    response = guarded(
        manager_api, "patch", f"{API}/criteria/{criterion.pk}/", {"weight": 3, "name": "Greeted"}
    )

    assert response.status_code == 200, response.json()
    assert (response.json()["weight"], response.json()["version"]) == (3.0, 2)
    criterion.refresh_from_db()
    assert criterion.current_version_id != old_version
    assert (criterion.name, criterion.rubric.weight) == ("Greeted", 3.0)
    answer = Answer.objects.get(evaluation=evaluation, criterion=criterion)
    assert answer.criterion_version_id == old_version


def test_criteria_filter_by_touch_point_move_archive_and_restore(
    journey_map: Map, manager_api: APIClient
) -> None:
    touch_point = journey_map.touch_points[1]
    first, second = journey_map.criteria[2:4]
    listing = f"{API}/criteria/?touch_point={touch_point.pk}"
    assert ids(manager_api.get(listing)) == [first.pk, second.pk]

    assert (
        guarded(manager_api, "post", f"{API}/criteria/{second.pk}/move/", {"position": 0}).json()[
            "position"
        ]
        == 0
    )
    assert ids(manager_api.get(listing)) == [second.pk, first.pk]

    guarded(manager_api, "post", f"{API}/criteria/{second.pk}/archive/")
    assert ids(manager_api.get(listing)) == [first.pk]
    assert positions(Criterion, touch_point=touch_point) == [(first.pk, 0)]

    guarded(manager_api, "post", f"{API}/criteria/{second.pk}/restore/", {"position": 0})
    assert positions(Criterion, touch_point=touch_point) == [(second.pk, 0), (first.pk, 1)]


def test_deleting_an_answered_criterion_archives_it_and_keeps_the_answers(
    personas: Personas, journey_map: Map, manager_api: APIClient
) -> None:
    criterion = journey_map.criteria[0]
    evaluate(personas, journey_map.touch_points[0])
    answers = Answer.objects.filter(criterion=criterion).count()

    response = guarded(manager_api, "delete", f"{API}/criteria/{criterion.pk}/")

    assert response.status_code == 200
    assert response.json()["archived_at"] is not None
    assert Answer.objects.filter(criterion=criterion).count() == answers == 1


def test_deleting_an_unanswered_criterion_deletes_it(
    journey_map: Map, manager_api: APIClient
) -> None:
    criterion = journey_map.criteria[0]

    response = guarded(manager_api, "delete", f"{API}/criteria/{criterion.pk}/")

    assert response.status_code == 204
    assert not Criterion.objects.filter(pk=criterion.pk).exists()
    assert positions(Criterion, touch_point=journey_map.touch_points[0]) == [
        (journey_map.criteria[1].pk, 0)
    ]


@pytest.mark.parametrize("collection", ["journeys", "stages", "touchpoints", "criteria"])
def test_after_a_204_delete_the_row_answers_404_to_every_method(
    journey_map: Map, manager_api: APIClient, collection: str
) -> None:
    """A 204 means gone (a 200 means archived instead, and the row stays: schemathesis.toml
    says so for check-api's use-after-free check, which takes any 2xx for gone)."""
    row = {
        "journeys": journey_map.journey,
        "stages": journey_map.stages[0],
        "touchpoints": journey_map.touch_points[0],
        "criteria": journey_map.criteria[0],
    }[collection]
    url = f"{API}/{collection}/{row.pk}/"

    assert guarded(manager_api, "delete", url).status_code == 204

    assert manager_api.get(url).status_code == 404
    for method in ("patch", "put", "delete"):
        answer = getattr(manager_api, method)(
            url, {"name": "Back"}, format="json", HTTP_IF_MATCH="*"
        )
        assert answer.status_code == 404, (method, answer.content)


# --- Sites ----------------------------------------------------------------------------------


def test_sites_are_created_renamed_archived_and_restored(
    personas: Personas, manager_api: APIClient
) -> None:
    created = manager_api.post(f"{API}/sites/", {"name": "Leeds", "code": "LDS"}, format="json")
    assert created.status_code == 201
    site = Site.objects.get(pk=created.json()["id"])
    assert (site.organization_id, site.name, site.code) == (personas.org.pk, "Leeds", "LDS")
    url = f"{API}/sites/{site.pk}/"

    renamed = guarded(manager_api, "patch", url, {"name": "Leeds centre"})
    assert renamed.status_code == 200
    site.refresh_from_db()
    assert site.name == "Leeds centre"

    assert guarded(manager_api, "post", f"{url}archive/").json()["archived_at"] is not None
    assert ids(manager_api.get(f"{API}/sites/")) == []
    assert ids(manager_api.get(f"{API}/sites/?include_archived=true")) == [site.pk]

    assert guarded(manager_api, "post", f"{url}restore/").json()["archived_at"] is None
    assert ids(manager_api.get(f"{API}/sites/")) == [site.pk]
    actions = AuditEvent.objects.filter(object_type="site", object_id=site.pk)
    assert sorted(actions.values_list("action", flat=True)) == [
        "archive",
        "create",
        "restore",
        "update",
    ]


def test_a_site_name_already_taken_is_refused_on_create_and_rename(
    personas: Personas, manager_api: APIClient
) -> None:
    SiteFactory(organization=personas.org, name="Leeds")
    york = SiteFactory(organization=personas.org, name="York")

    created = manager_api.post(f"{API}/sites/", {"name": "Leeds"}, format="json")
    renamed = guarded(manager_api, "patch", f"{API}/sites/{york.pk}/", {"name": "Leeds"})

    assert created.status_code == renamed.status_code == 409
    assert "name" in created.json()
    assert "name" in renamed.json()
    york.refresh_from_db()
    assert york.name == "York"
    assert Site.objects.count() == 2


def test_sites_are_never_deleted(personas: Personas, manager_api: APIClient) -> None:
    site = SiteFactory(organization=personas.org)

    response = guarded(manager_api, "delete", f"{API}/sites/{site.pk}/")

    assert response.status_code == 405
    assert Site.objects.filter(pk=site.pk).exists()


# --- Roles ----------------------------------------------------------------------------------


def write_requests(m: Map, site: Site) -> list[tuple[str, str, Any]]:
    """(method, url, body) for every structure write, each valid for a manager."""
    j, s, tp, c = m.journey, m.stages[0], m.touch_points[0], m.criteria[0]
    return [
        ("post", f"{API}/journeys/", {"name": "New"}),
        ("patch", f"{API}/journeys/{j.pk}/", {"name": "Renamed"}),
        ("put", f"{API}/journeys/{j.pk}/", {"name": "Renamed"}),
        ("delete", f"{API}/journeys/{j.pk}/", None),
        ("post", f"{API}/stages/", {"journey": j.pk, "name": "New"}),
        ("patch", f"{API}/stages/{s.pk}/", {"name": "Renamed"}),
        ("delete", f"{API}/stages/{s.pk}/", None),
        ("post", f"{API}/stages/{s.pk}/move/", {"position": 1}),
        ("post", f"{API}/stages/{s.pk}/archive/", None),
        ("post", f"{API}/stages/{s.pk}/restore/", None),
        ("post", f"{API}/touchpoints/", {"stage": s.pk, "name": "New"}),
        ("patch", f"{API}/touchpoints/{tp.pk}/", {"name": "Renamed"}),
        ("delete", f"{API}/touchpoints/{tp.pk}/", None),
        ("post", f"{API}/touchpoints/{tp.pk}/move/", {"position": 1}),
        ("post", f"{API}/touchpoints/{tp.pk}/archive/", None),
        ("post", f"{API}/criteria/", {"touch_point": tp.pk, "name": "New", "kind": "yes_no"}),
        ("patch", f"{API}/criteria/{c.pk}/", {"weight": 5}),
        ("delete", f"{API}/criteria/{c.pk}/", None),
        ("post", f"{API}/criteria/{c.pk}/move/", {"position": 1}),
        ("post", f"{API}/criteria/{c.pk}/archive/", None),
        ("post", f"{API}/sites/", {"name": "New"}),
        ("patch", f"{API}/sites/{site.pk}/", {"name": "Renamed"}),
        ("post", f"{API}/sites/{site.pk}/archive/", None),
    ]


def stored_structure() -> list[Any]:
    """Everything a structure write could change, to compare before and after."""
    return [
        list(Journey.objects.order_by("pk").values()),
        list(Stage.objects.order_by("pk").values()),
        list(TouchPoint.objects.order_by("pk").values()),
        list(Criterion.objects.order_by("pk").values()),
        list(Site.objects.order_by("pk").values()),
    ]


@pytest.mark.parametrize("role", ["viewer", "evaluator"])
def test_viewers_and_evaluators_get_403_on_every_write_and_nothing_changes(
    personas: Personas, journey_map: Map, client_for: Any, role: str
) -> None:
    site = SiteFactory(organization=personas.org)
    client = client_for(getattr(personas, role))
    before = stored_structure()

    for method, url, body in write_requests(journey_map, site):
        # With the current ETag even, so the refusal is about the role alone.
        etag = client.get(detail_of(url)).headers.get("ETag")
        headers = {"HTTP_IF_MATCH": etag} if etag else {}
        response = getattr(client, method)(url, body, format="json", **headers)
        assert response.status_code == 403, (method, url, response.json())
        assert "role" in response.json()["detail"]

    assert stored_structure() == before


def test_every_write_succeeds_for_a_manager(
    personas: Personas, journey_map: Map, manager_api: APIClient
) -> None:
    """The other half of the role table: the same requests are allowed to a manager."""
    site = SiteFactory(organization=personas.org)
    for method, url, body in write_requests(journey_map, site):
        if method == "delete":
            continue  # would take away what later requests name; deletes are tested above
        if detail_of(url).rstrip("/").rsplit("/", 1)[-1].isdigit():
            response = guarded(manager_api, method, url, body)
        else:
            response = getattr(manager_api, method)(url, body, format="json")
        assert response.status_code in (200, 201, 204), (method, url, response.json())


@pytest.mark.parametrize("role", ["viewer", "evaluator", "manager"])
def test_every_member_reads_lists_and_details(
    personas: Personas, journey_map: Map, client_for: Any, role: str
) -> None:
    client = client_for(getattr(personas, role))
    site = SiteFactory(organization=personas.org)
    for url in (
        f"{API}/journeys/",
        f"{API}/journeys/{journey_map.journey.pk}/",
        f"{API}/stages/",
        f"{API}/stages/{journey_map.stages[0].pk}/",
        f"{API}/touchpoints/",
        f"{API}/touchpoints/{journey_map.touch_points[0].pk}/",
        f"{API}/criteria/",
        f"{API}/criteria/{journey_map.criteria[0].pk}/",
        f"{API}/sites/",
        f"{API}/sites/{site.pk}/",
    ):
        response = client.get(url)
        assert response.status_code == 200, url


def test_without_a_token_nothing_is_read(journey_map: Map) -> None:
    response = APIClient().get(f"{API}/journeys/{journey_map.journey.pk}/")

    assert response.status_code == 401


# --- Other organizations ------------------------------------------------------------------


def test_another_organizations_objects_answer_404_like_missing_ones(
    personas: Personas, journey_map: Map, outsider_api: APIClient
) -> None:
    site = SiteFactory(organization=personas.org)
    for resource, pk in (
        ("journeys", journey_map.journey.pk),
        ("stages", journey_map.stages[0].pk),
        ("touchpoints", journey_map.touch_points[0].pk),
        ("criteria", journey_map.criteria[0].pk),
        ("sites", site.pk),
    ):
        theirs = outsider_api.get(f"{API}/{resource}/{pk}/")
        missing = outsider_api.get(f"{API}/{resource}/{10**9}/")
        assert theirs.status_code == missing.status_code == 404, resource
        assert theirs.json() == missing.json()
        assert "ETag" not in theirs


def test_another_organizations_rows_are_invisible_in_lists_and_filters(
    personas: Personas, journey_map: Map, outsider_api: APIClient
) -> None:
    SiteFactory(organization=personas.org)
    theirs = TouchPointFactory(stage__journey__organization=personas.other_org)
    CriterionFactory(touch_point=theirs)
    everything = "?include_archived=true"
    for url in (
        f"{API}/stages/?journey={journey_map.journey.pk}",
        f"{API}/touchpoints/?journey={journey_map.journey.pk}",
        f"{API}/touchpoints/?stage={journey_map.stages[0].pk}",
        f"{API}/criteria/?touch_point={journey_map.touch_points[0].pk}",
    ):
        response = outsider_api.get(url)
        assert response.status_code == 200, url
        assert response.json()["count"] == 0, url
    assert ids(outsider_api.get(f"{API}/journeys/{everything}")) == [theirs.journey_id]
    assert ids(outsider_api.get(f"{API}/stages/{everything}")) == [theirs.stage_id]
    assert ids(outsider_api.get(f"{API}/touchpoints/{everything}")) == [theirs.pk]
    assert len(ids(outsider_api.get(f"{API}/criteria/{everything}"))) == 1
    assert ids(outsider_api.get(f"{API}/sites/{everything}")) == []


# --- Mass assignment (S4) -------------------------------------------------------------------

INTERNAL = {
    "organization": None,  # filled per test
    "organization_id": None,
    "id": 999_999,
    "created_by": None,
    "rubric_version": 77,
    "position": 5,
    "score": 100,
    "is_staff": True,
    "archived_at": "2020-01-01T00:00:00Z",
    "current_version": 1,
}


def hostile(personas: Personas, **body: Any) -> dict[str, Any]:
    return {
        **INTERNAL,
        "organization": personas.other_org.pk,
        "organization_id": personas.other_org.pk,
        "created_by": personas.outsider.pk,
        **body,
    }


def test_internal_fields_sent_on_create_are_ignored(
    personas: Personas, journey_map: Map, manager_api: APIClient
) -> None:
    journey = manager_api.post(f"{API}/journeys/", hostile(personas, name="J"), format="json")
    stage = manager_api.post(
        f"{API}/stages/", hostile(personas, journey=journey_map.journey.pk, name="S"), format="json"
    )
    touch_point = manager_api.post(
        f"{API}/touchpoints/",
        hostile(personas, stage=journey_map.stages[0].pk, name="T"),
        format="json",
    )
    criterion = manager_api.post(
        f"{API}/criteria/",
        hostile(personas, touch_point=journey_map.touch_points[0].pk, name="C", kind="yes_no"),
        format="json",
    )
    site = manager_api.post(f"{API}/sites/", hostile(personas, name="Leeds"), format="json")

    for response in (journey, stage, touch_point, criterion, site):
        assert response.status_code == 201, response.json()
        assert response.json()["id"] != 999_999
        assert not {"organization", "organization_id", "created_by", "rubric_version"} & set(
            response.json()
        )
        assert "is_staff" not in response.json()
        assert "score" not in response.json()
    stored_journey = Journey.objects.get(pk=journey.json()["id"])
    assert (stored_journey.organization_id, stored_journey.created_by_id) == (
        personas.org.pk,
        personas.manager.pk,
    )
    assert Stage.objects.get(pk=stage.json()["id"]).position == 2
    assert Stage.objects.get(pk=stage.json()["id"]).archived_at is None
    stored_tp = TouchPoint.objects.get(pk=touch_point.json()["id"])
    assert (stored_tp.organization_id, stored_tp.rubric_version, stored_tp.position) == (
        personas.org.pk,
        1,
        2,
    )
    assert Criterion.objects.get(pk=criterion.json()["id"]).organization_id == personas.org.pk
    assert Site.objects.get(pk=site.json()["id"]).organization_id == personas.org.pk
    assert not Journey.objects.filter(organization=personas.other_org).exists()


def test_internal_fields_sent_on_update_are_ignored(
    personas: Personas, journey_map: Map, manager_api: APIClient
) -> None:
    touch_point = journey_map.touch_points[1]
    before = TouchPoint.objects.filter(pk=touch_point.pk).values().get()

    response = guarded(
        manager_api,
        "patch",
        f"{API}/touchpoints/{touch_point.pk}/",
        hostile(personas, name="Renamed", journey=journey_map.journey.pk),
    )

    assert response.status_code == 200, response.json()
    after = TouchPoint.objects.filter(pk=touch_point.pk).values().get()
    assert after == {**before, "name": "Renamed"}


# --- Throttling -----------------------------------------------------------------------------


def test_writes_are_throttled_and_reads_are_not(
    personas: Personas, manager_api: APIClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(ScopedRateThrottle, "THROTTLE_RATES", {"writes": "2/min"})

    statuses = [
        manager_api.post(f"{API}/sites/", {"name": f"Site {n}"}, format="json").status_code
        for n in range(3)
    ]
    reads = [manager_api.get(f"{API}/sites/").status_code for _ in range(5)]

    assert statuses == [201, 201, 429]
    assert reads == [200] * 5
    assert Site.objects.count() == 2
