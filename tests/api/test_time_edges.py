"""Times at the edges of what PostgreSQL stores, and paths no route knows: each a clear
4xx, never a 500 (found by schemathesis)."""

from __future__ import annotations

from typing import Any

import pytest
from rest_framework.test import APIClient

from tests.api.test_evaluations_api import make_rubric
from touchpoints.models import Evaluation

URL = "/api/v1/evaluations/"


def body(rubric: Any, observed_at: str) -> dict[str, Any]:
    return {
        "touch_point": rubric.touch_point.pk,
        "source": "mystery_shopper",
        "observed_at": observed_at,
        "answers": [
            {"criterion": rubric.scale.pk, "value": 4},
            {"criterion": rubric.yes_no.pk, "value": 1},
            {"criterion": rubric.numeric.pk, "value": 30},
        ],
    }


@pytest.mark.parametrize("observed_at", ["0001-01-01T00:00:00+03:04", "1969-12-31T23:59:59Z"])
def test_an_observation_before_1970_is_refused_and_nothing_stored(
    personas: Any, evaluator_api: APIClient, observed_at: str
) -> None:
    rubric = make_rubric(personas.org)

    response = evaluator_api.post(URL, body(rubric, observed_at), format="json")

    assert response.status_code == 400, response.content
    assert "1970" in str(response.json()["observed_at"])
    assert not Evaluation.objects.exists()
    assert evaluator_api.get(URL).status_code == 200


def test_an_offset_postgresql_cannot_store_is_kept_as_the_same_instant_in_utc(
    personas: Any, evaluator_api: APIClient
) -> None:
    """+19:27 is valid ISO 8601 and Python, beyond PostgreSQL's ±15:59."""
    rubric = make_rubric(personas.org)

    response = evaluator_api.post(URL, body(rubric, "2026-01-02T08:00:00+19:27"), format="json")

    assert response.status_code == 201, response.content
    stored = Evaluation.objects.get()
    assert stored.observed_at.isoformat() == "2026-01-01T12:33:00+00:00"


@pytest.mark.parametrize("name", ["observed_after", "observed_before"])
def test_a_filter_with_an_extreme_offset_is_the_same_instant_in_utc(
    personas: Any, evaluator_api: APIClient, name: str
) -> None:
    response = evaluator_api.get(URL, {name: "2026-01-02T08:00:00+19:27"})

    assert response.status_code == 200, response.content


@pytest.mark.parametrize(
    ("name", "value", "edge"),
    [
        ("observed_after", "0001-01-01T00:00:00+03:04", "1970-01-01T00:00:00Z"),
        ("observed_after", "1969-12-31T23:59:59Z", "1970-01-01T00:00:00Z"),
        ("observed_before", "9999-12-31T23:59:59-15:00", "2999-12-31T00:00:00Z"),
        ("observed_before", "3000-01-01T00:00:00+14:00", "2999-12-31T00:00:00Z"),
    ],
)
def test_a_filter_outside_1970_to_2999_selects_what_the_edge_selects(
    personas: Any, evaluator_api: APIClient, name: str, value: str, edge: str
) -> None:
    """Every RFC 3339 date-time is a valid filter, as the schema says (issue 19): no
    observation lies outside 1970-2999, so a bound beyond it is the range's edge."""
    rubric = make_rubric(personas.org)
    for observed_at in ("1970-01-01T00:00:00Z", "2026-01-02T08:00:00Z"):
        assert evaluator_api.post(URL, body(rubric, observed_at), format="json").status_code == 201

    far, at_edge = evaluator_api.get(URL, {name: value}), evaluator_api.get(URL, {name: edge})

    assert far.status_code == 200, far.content
    ids = [row["id"] for row in far.json()["results"]]
    assert ids == [row["id"] for row in at_edge.json()["results"]] and len(ids) == 2


@pytest.mark.parametrize("path", ["/api/v1/journeys/0.5/", "/api/v1/no-such-thing/"])
def test_a_path_no_api_route_knows_is_a_json_404(manager_api: APIClient, path: str) -> None:
    response = manager_api.get(path)

    assert response.status_code == 404
    assert response["Content-Type"].startswith("application/json")
    assert response.json() == {"detail": "Not found."}


def test_options_on_the_interactive_docs_is_405_not_a_500(manager_api: APIClient) -> None:
    assert manager_api.options("/api/v1/docs/").status_code == 405
