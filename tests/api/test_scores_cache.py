"""The journey scores answer is rendered once per process and served from a cache keyed on
a version of everything it shows (scoring.api.snapshot_version). These tests change each
thing the answer shows and check the answer follows at once, that the fast rendering says
exactly what the serializers (the OpenAPI description) say, that the ETag works, and that
the cache never answers before tenancy is checked."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from rest_framework.renderers import JSONRenderer
from rest_framework.test import APIClient

from journeys.models import Journey
from journeys.services import update_stage
from scoring import selectors
from scoring.api import journey_snapshots
from scoring.models import StaleMark
from scoring.serializers import JourneyScoresSerializer, journey_scores_data
from scoring.services import recompute_journey
from tests.api import test_scores_api
from tests.api.test_scores_api import World, _journey_of, journey_url
from tests.conftest import Personas
from tests.scoring.test_selectors import evaluate
from touchpoints.services import archive_touch_point, move_touch_point, update_touch_point

world = test_scores_api.world  # the scores tests' journey, as a fixture here too


@pytest.fixture(autouse=True)
def empty_cache() -> Iterator[None]:
    journey_snapshots.clear()
    yield
    journey_snapshots.clear()


def uncached(journey: Journey) -> Any:
    """The answer rendered afresh from the database, bypassing the cache."""
    journey.refresh_from_db()
    return json.loads(JSONRenderer().render(journey_scores_data(selectors.journey_scores(journey))))


def read(client: APIClient, journey: Journey) -> tuple[str, Any]:
    response = client.get(journey_url(journey))
    assert response.status_code == 200, response.content
    return response["ETag"], response.json()


# --- Same data as the serializers --------------------------------------------------------


@pytest.mark.parametrize("query", [{}, {"source": "supervisor"}])
def test_the_fast_rendering_is_what_the_serializer_renders(
    world: World, viewer_api: APIClient, query: dict[str, str]
) -> None:
    scores = selectors.journey_scores(world.journey, source=query.get("source"))
    assert scores.weak_links and scores.blind_spots and scores.window  # every part is exercised

    fast = journey_scores_data(scores)
    slow = JourneyScoresSerializer(scores).data
    assert JSONRenderer().render(fast) == JSONRenderer().render(slow)  # key order included
    # And it reads back through the serializer the schema is generated from.
    assert JourneyScoresSerializer(data=fast).is_valid(), JourneyScoresSerializer(data=fast).errors

    served = viewer_api.get(journey_url(world.journey), query)
    assert served.status_code == 200
    if not query:
        assert served.content == JSONRenderer().render(slow)


# --- The cache follows every change ------------------------------------------------------


def clear_stale_marks() -> None:
    """Drop the marks a structure change leaves, so only the structure itself differs."""
    StaleMark.objects.all().delete()


CHANGES: dict[str, Callable[[World], object]] = {
    "touch point renamed": lambda w: update_touch_point(
        actor=w.given.manager, touch_point=w.touch_points[0], data={"name": "Welcome call (new)"}
    ),
    "stage renamed": lambda w: update_stage(
        actor=w.given.manager, stage=w.touch_points[0].stage, data={"name": "Joining"}
    ),
    "touch point moved": lambda w: (
        move_touch_point(actor=w.given.manager, touch_point=w.touch_points[1], position=0),
        clear_stale_marks(),
    ),
    "touch point archived": lambda w: (
        archive_touch_point(actor=w.given.manager, touch_point=w.touch_points[3]),
        clear_stale_marks(),
    ),
    "recompute wrote new snapshots": lambda w: recompute_journey(w.journey.pk),
    "stale mark appeared": lambda w: evaluate(w.given, w.criteria[2], [5]),
}


@pytest.mark.parametrize("change", CHANGES)
def test_the_cached_answer_follows_each_change(
    world: World, viewer_api: APIClient, change: str
) -> None:
    etag, before = read(viewer_api, world.journey)
    assert read(viewer_api, world.journey) == (etag, before)  # served from the cache

    CHANGES[change](world)

    new_etag, after = read(viewer_api, world.journey)
    assert new_etag != etag
    assert after == uncached(world.journey)
    assert after != before


def test_a_stale_mark_appearing_and_going_shows_as_pending_then_not(
    world: World, viewer_api: APIClient
) -> None:
    etag, fresh = read(viewer_api, world.journey)
    assert not fresh["pending"]

    evaluate(world.given, world.criteria[0], [1])
    pending_etag, pending = read(viewer_api, world.journey)
    assert pending["pending"] and pending_etag != etag
    assert [tp["pending"] for tp in pending["touch_points"]] == [True, False, False, False]

    recompute_journey(world.journey.pk)
    done_etag, done = read(viewer_api, world.journey)
    assert not done["pending"] and done_etag not in (etag, pending_etag)
    assert done == uncached(world.journey)
    assert done["touch_points"][0]["evaluations"] == pending["touch_points"][0]["evaluations"] + 1


# --- ETag ----------------------------------------------------------------------------------


def test_if_none_match_with_the_current_etag_answers_304(
    world: World, viewer_api: APIClient
) -> None:
    etag, _ = read(viewer_api, world.journey)
    url = journey_url(world.journey)

    not_modified = viewer_api.get(url, HTTP_IF_NONE_MATCH=etag)
    assert not_modified.status_code == 304 and not_modified.content == b""
    assert not_modified["ETag"] == etag
    assert viewer_api.get(url, HTTP_IF_NONE_MATCH=f'"other", W/{etag}').status_code == 304

    evaluate(world.given, world.criteria[0], [1])
    changed = viewer_api.get(url, HTTP_IF_NONE_MATCH=etag)
    assert changed.status_code == 200 and changed["ETag"] != etag
    assert changed.json()["pending"]


def test_filtered_answers_are_computed_for_the_request_and_carry_no_etag(
    world: World, viewer_api: APIClient
) -> None:
    response = viewer_api.get(journey_url(world.journey), {"source": "supervisor"})
    assert response.status_code == 200 and response.json()["basis"] == "on_demand"
    assert "ETag" not in response


# --- Cost and tenancy ----------------------------------------------------------------------


def _queries(client: APIClient, url: str) -> int:
    with CaptureQueriesContext(connection) as queries:
        assert client.get(url).status_code == 200
    return len(queries)


def test_a_cold_render_costs_the_same_queries_for_3_and_60_touch_points(
    personas: Personas, viewer_api: APIClient
) -> None:
    small, large = _journey_of(3, personas), _journey_of(60, personas)
    viewer_api.get(journey_url(small))  # the token's last_used_at is touched once a minute
    journey_snapshots.clear()
    cold_small = _queries(viewer_api, journey_url(small))
    cold_large = _queries(viewer_api, journey_url(large))
    assert cold_small == cold_large
    # A cached answer costs one query (the version, with the tenancy check) over the
    # authentication and organization every API request pays, and fewer than a render.
    assert _queries(viewer_api, journey_url(large)) < cold_large
    ping = _queries(viewer_api, "/api/v1/ping/")
    assert _queries(viewer_api, journey_url(large)) == ping + 1


def test_another_organization_never_gets_the_cached_answer(
    world: World, viewer_api: APIClient, outsider_api: APIClient
) -> None:
    etag, _ = read(viewer_api, world.journey)  # now cached
    url = journey_url(world.journey)
    missing = outsider_api.get(journey_url(10**9))

    theirs = outsider_api.get(url)
    assert theirs.status_code == missing.status_code == 404
    assert theirs.json() == missing.json()
    assert "ETag" not in theirs
    assert outsider_api.get(url, HTTP_IF_NONE_MATCH=etag).status_code == 404
    for malformed in ("abc", "99999999999999999999999"):
        assert outsider_api.get(f"/api/v1/journeys/{malformed}/scores/").status_code == 404
