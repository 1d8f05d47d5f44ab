"""The schema states what the server accepts in request headers (issue 19): a header the
server refuses when empty says minLength 1; If-None-Match, which takes any value (an
unmatched or empty one just gets the full answer), does not claim more. No data is read or
written here, so there is no outsider persona to check. Body ranges the service enforces
are stated too (a journey's target, a touch point's importance, a criterion's weight and
scale size), from the same constants the service judges with."""

from __future__ import annotations

from typing import Any

import pytest
from drf_spectacular.generators import SchemaGenerator

from journeys import api as journeys_api
from scoring import api as scoring_api
from touchpoints import api as touchpoints_api
from touchpoints.services import MAX_IMPORTANCE, MAX_WEIGHT, MIN_IMPORTANCE, MIN_WEIGHT


@pytest.fixture(scope="module")
def headers() -> dict[str, list[dict[str, Any]]]:
    patterns = [*journeys_api.urlpatterns, *touchpoints_api.urlpatterns, *scoring_api.urlpatterns]
    schema = SchemaGenerator(patterns=patterns).get_schema(request=None, public=True)
    found: dict[str, list[dict[str, Any]]] = {}
    for operations in schema["paths"].values():
        for operation in operations.values():
            for parameter in operation.get("parameters", []):
                if parameter["in"] == "header":
                    found.setdefault(parameter["name"], []).append(parameter["schema"])
    return found


def test_if_none_match_claims_no_minimum_length(headers: dict[str, list[dict[str, Any]]]) -> None:
    assert headers["If-None-Match"]
    assert all("minLength" not in schema for schema in headers["If-None-Match"])


def test_headers_refused_when_empty_say_so(headers: dict[str, list[dict[str, Any]]]) -> None:
    for name in ("If-Match", "X-Organization"):
        assert headers[name]
        assert all(schema.get("minLength") == 1 for schema in headers[name]), name


def test_a_journeys_target_states_the_range_the_server_enforces() -> None:
    schema = SchemaGenerator(patterns=journeys_api.urlpatterns).get_schema(
        request=None, public=True
    )
    for name in ("JourneyRequest", "PatchedJourneyRequest"):
        target = schema["components"]["schemas"][name]["properties"]["target"]
        assert (target.get("minimum"), target.get("maximum")) == (0, 100), name


@pytest.mark.parametrize(
    ("component", "field", "bounds"),
    [
        ("TouchPointRequest", "importance", (MIN_IMPORTANCE, MAX_IMPORTANCE)),
        ("PatchedTouchPointRequest", "importance", (MIN_IMPORTANCE, MAX_IMPORTANCE)),
        ("CriterionRequest", "weight", (MIN_WEIGHT, MAX_WEIGHT)),
        ("PatchedCriterionRequest", "weight", (MIN_WEIGHT, MAX_WEIGHT)),
        ("CriterionRequest", "scale_size", (2, 11)),
    ],
)
def test_rubric_and_touch_point_numbers_state_the_services_bounds(
    component: str, field: str, bounds: tuple[float, float]
) -> None:
    """make check-api found `importance` stated as 0-32767 (the column's type) and `weight`
    unbounded: schema-valid values the service refuses."""
    schema = SchemaGenerator(patterns=touchpoints_api.urlpatterns).get_schema(
        request=None, public=True
    )
    stated = schema["components"]["schemas"][component]["properties"][field]
    assert (stated.get("minimum"), stated.get("maximum")) == bounds
