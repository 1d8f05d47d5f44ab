"""One parser for ids (issue 12, item 3): every place an id arrives — a URL path, the
X-Organization header, a query string (filters, page numbers) — answers a malformed or
out-of-range id with 404 or 400, never 500.

The positions are discovered, not listed: every URL pattern with an id-naming group (API and
browser) from the URLconf, every integer query parameter of every GET from the OpenAPI
schema, and the browser's id-taking query parameters. A new route is fuzzed automatically.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from typing import Any
from urllib.parse import quote

import pytest
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver
from drf_spectacular.generators import SchemaGenerator
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from rest_framework.test import APIClient

from core.ids import MAX_ID, parse_id
from tests.api.conftest import ClientFor
from tests.conftest import Personas
from tests.factories import CriterionFactory, JourneyFactory, StageFactory, TouchPointFactory

# Ids that once reached int() or PostgreSQL: non-ASCII digits (`"²".isdigit()` is true,
# int() refuses it; int() takes "١٢"), signs, spaces, floats, past the bigint range.
HOSTILE = ["²", "١٢", "𝟙", "0", "-1", "+1", " 1", "1.5", "1e3", str(MAX_ID + 1), "9" * 40]
ID_TEXT = st.one_of(
    st.sampled_from(HOSTILE),
    st.text(min_size=1, max_size=24),
    st.integers().map(str),
    st.text(alphabet=st.characters(categories=["Nd", "No"]), min_size=1, max_size=6),
)
METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")
ID_GROUP = re.compile(r"<(?:\w+:)?(\w+)>|\(\?P<(\w+)>[^)]*\)")


def is_id_name(name: str) -> bool:
    return name == "pk" or name.endswith("_id")


@dataclass(frozen=True)
class Route:
    pattern: str  # the URLconf's spelling: route syntax or a regex

    @property
    def is_api(self) -> bool:
        return self.pattern.startswith("api/")

    def url(self, value: str) -> str:
        """The path with every id position filled with `value` (percent-encoded)."""

        def fill(match: re.Match[str]) -> str:
            return quote(value, safe="")

        path = ID_GROUP.sub(fill, self.pattern).lstrip("^").rstrip("$").replace("\\.", ".")
        return "/" + path


def _walk(patterns: list[Any], prefix: str) -> Iterator[Route]:
    for entry in patterns:
        pattern = prefix + str(entry.pattern).lstrip("^")
        if isinstance(entry, URLResolver):
            yield from _walk(entry.url_patterns, pattern.rstrip("$"))
        elif isinstance(entry, URLPattern):
            names = [a or b for a, b in ID_GROUP.findall(pattern)]
            if names and all(is_id_name(n) for n in names) and not pattern.startswith("admin/"):
                yield Route(pattern)


@cache
def id_routes() -> tuple[Route, ...]:
    """Every URL pattern (API and browser) whose groups are ids."""
    return tuple(_walk(get_resolver().url_patterns, ""))


@cache
def query_id_parameters() -> tuple[tuple[str, str], ...]:
    """(path, parameter) for every integer query parameter of every GET in the schema."""
    schema = SchemaGenerator().get_schema(request=None, public=True)
    found = []
    for path, operations in schema["paths"].items():
        get = operations.get("get")
        if not get or "{" in path:
            continue
        found.extend(
            (path, parameter["name"])
            for parameter in get.get("parameters", [])
            if parameter["in"] == "query" and parameter["schema"].get("type") == "integer"
        )
    return tuple(found)


# The browser's pages that read an id or a page number from the query string.
WEB_QUERIES = (("/activity/", "journey"), ("/activity/", "page"), ("/evaluate/", "touch_point"))


@pytest.fixture
def world(personas: Personas, client_for: ClientFor) -> tuple[APIClient, Client]:
    """One of everything, so a route whose id happened to parse would find something."""
    journey = JourneyFactory(organization=personas.org)
    stage = StageFactory(journey=journey)
    CriterionFactory(touch_point=TouchPointFactory(stage=stage))
    browser = Client()
    browser.force_login(personas.manager)
    return client_for(personas.manager), browser


def send(clients: tuple[APIClient, Client], route: Route, method: str, value: str) -> Any:
    api, browser = clients
    client = api if route.is_api else browser
    return client.generic(method, route.url(value), "{}", content_type="application/json")


def assert_refused(response: Any, where: str) -> None:
    assert response.status_code < 500, f"{where}: {response.status_code}"
    if where.startswith("/api/"):
        assert response["Content-Type"].startswith("application/json"), where


def test_the_parser_takes_ascii_decimal_ids_in_the_bigint_range_only() -> None:
    assert parse_id("1") == 1 and parse_id(str(MAX_ID)) == MAX_ID and parse_id(7) == 7
    for raw in [*HOSTILE, "", None, True, 1.0, 0, -5, MAX_ID + 1]:
        assert parse_id(raw) is None, raw


def test_the_walk_finds_the_id_routes_of_both_surfaces() -> None:
    patterns = {r.pattern for r in id_routes()}
    assert any(p.startswith("api/v1/journeys/") for p in patterns), patterns
    assert any("scores" in p for p in patterns), patterns
    assert "journeys/<id:journey_id>/" in patterns, patterns
    assert "edit/criteria/<id:criterion_id>/" in patterns, patterns
    assert ("/api/v1/evaluations/", "touch_point") in query_id_parameters()


@pytest.mark.slow  # a walk or fuzz of every route/field: make test, not test-fast
def test_every_id_route_refuses_every_hostile_id_without_a_500(
    world: tuple[APIClient, Client],
) -> None:
    for route in id_routes():
        for method in METHODS:
            for value in HOSTILE:
                where = f"{method} {route.url(value)}"
                assert_refused(send(world, route, method, value), where)


@hypothesis_settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.data(), value=ID_TEXT)
def test_fuzzed_ids_in_paths_answer_404_or_400(
    world: tuple[APIClient, Client], data: st.DataObject, value: str
) -> None:
    route = data.draw(st.sampled_from(id_routes()), label="route")
    method = data.draw(st.sampled_from(METHODS), label="method")
    if parse_id(value) is not None:
        return  # a real id: not this test's business
    response = send(world, route, method, value)
    assert_refused(response, f"{method} {route.url(value)}")


@hypothesis_settings(
    max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.data(), value=ID_TEXT)
def test_fuzzed_ids_in_query_strings_answer_2xx_or_4xx(
    world: tuple[APIClient, Client], data: st.DataObject, value: str
) -> None:
    api, browser = world
    path, name = data.draw(st.sampled_from(query_id_parameters() + WEB_QUERIES), label="where")
    client = api if path.startswith("/api/") else browser
    response = client.get(path, {name: value})
    assert_refused(response, f"{path}?{name}={value!r}")


@hypothesis_settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(value=ID_TEXT)
def test_fuzzed_organization_headers_answer_404_or_400(
    personas: Personas, client_for: ClientFor, value: str
) -> None:
    if "\n" in value or "\r" in value:
        return  # no HTTP client can send it (the test client refuses it too)
    client = client_for(personas.manager)
    response = client.get("/api/v1/journeys/", HTTP_X_ORGANIZATION=value)
    if value.strip() in ("", personas.org.slug, str(personas.org.pk)):
        return  # blank is "not sent" (the caller's only organization); the others are it
    assert response.status_code in (400, 404), (value, response.status_code)


def test_an_outsider_gets_404_for_a_real_id_in_the_same_positions(
    personas: Personas, client_for: ClientFor
) -> None:
    """The parser accepts a real id; tenancy still answers it as missing."""
    journey = JourneyFactory(organization=personas.org)
    outsider = client_for(personas.outsider)
    assert outsider.get(f"/api/v1/journeys/{journey.pk}/").status_code == 404
    assert outsider.get(f"/api/v1/journeys/{journey.pk}/scores/").status_code == 404
    browser = Client()
    browser.force_login(personas.outsider)
    assert browser.get(f"/journeys/{journey.pk}/").status_code == 404
