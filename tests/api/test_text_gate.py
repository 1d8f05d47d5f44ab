"""One gate for text (issue 12, item 2): any text, through any text field of any write
route, answers 2xx or 4xx, never 5xx, and a refusal stores nothing. A lone surrogate in any
structure text field through the API (19 of 19 tried) was a 500, and a NUL in the browser's
API token name was a 500.

The API routes and their text fields come from the OpenAPI schema (every POST/PUT/PATCH
body's string properties), so a new field or route is fuzzed without touching this file.
The browser's forms come from the editor's own field lists (web.forms_editor), plus the
token and evaluation forms.
"""

from __future__ import annotations

import json
from functools import cache
from typing import Any

import pytest
from django.apps import apps
from django.test import Client
from drf_spectacular.generators import SchemaGenerator
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from rest_framework.test import APIClient

from core.text import clean_text, text_problems
from tests.api.conftest import ClientFor
from tests.conftest import Personas
from tests.factories import (
    CriterionFactory,
    JourneyFactory,
    SiteFactory,
    StageFactory,
    TouchPointFactory,
)
from web import forms_editor

HOSTILE = [
    "\ud800",
    "a\udfffb",
    "nul\x00here",
    "\x00",
    "x" * 6000,
    "  ",
    "\u202eRTL\u202c 🙂 ﷽",
    "=cmd|' /C calc'!A0",
    "<script>alert(1)</script>",
]
ANY_TEXT = st.one_of(
    st.sampled_from(HOSTILE),
    st.text(alphabet=st.characters(exclude_categories=()), max_size=40),
    st.text(max_size=300),
)
FORM_TEXT = st.one_of(
    st.sampled_from([h for h in HOSTILE if text_problems(h.replace("\x00", "")) == []]),
    st.text(alphabet=st.characters(exclude_categories=("Cs",)), max_size=40),
    st.just("y" * 6000),
)
DOMAIN_APPS = ("accounts", "journeys", "touchpoints", "scoring", "feedback", "team", "notify")


def state() -> dict[str, int]:
    """Row counts of every domain table, and the newest audit id: a refusal changes none."""
    counts = {
        m._meta.label: m._default_manager.count()
        for m in apps.get_models()
        if m._meta.app_label in DOMAIN_APPS
    }
    return counts


# --- API ----------------------------------------------------------------------------------


@cache
def schema() -> dict[str, Any]:
    return dict(SchemaGenerator().get_schema(request=None, public=True))


def _resolve(node: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in node:
        node = schema()["components"]["schemas"][node["$ref"].rsplit("/", 1)[1]]
    for key in ("oneOf", "anyOf"):
        if key in node:
            return _resolve(node[key][0])
    return node


def _is_text(prop: dict[str, Any]) -> bool:
    prop = _resolve(prop) if "$ref" in prop else prop
    return prop.get("type") == "string" and "enum" not in prop and "format" not in prop


@cache
def api_text_fields() -> tuple[tuple[str, str, str], ...]:
    """(method, path, field) for every string property of every write body."""
    found = []
    for path, operations in schema()["paths"].items():
        for method, operation in operations.items():
            if method not in ("post", "put", "patch"):
                continue
            content = operation.get("requestBody", {}).get("content", {})
            body = _resolve(content.get("application/json", {}).get("schema", {}))
            found.extend(
                (method.upper(), path, name)
                for name, prop in body.get("properties", {}).items()
                if not prop.get("readOnly") and _is_text(prop)
            )
    return tuple(found)


class World:
    def __init__(self, personas: Personas) -> None:
        self.journey = JourneyFactory(organization=personas.org)
        self.stage = StageFactory(journey=self.journey)
        self.touch_point = TouchPointFactory(stage=self.stage)
        self.criterion = CriterionFactory(touch_point=self.touch_point)
        self.site = SiteFactory(organization=personas.org)
        self.ids = {
            "journey": self.journey.pk,
            "stage": self.stage.pk,
            "touch_point": self.touch_point.pk,
            "touchpoint": self.touch_point.pk,
            "criterion": self.criterion.pk,
            "criteria": self.criterion.pk,
            "site": self.site.pk,
            "journeys": self.journey.pk,
            "stages": self.stage.pk,
            "touchpoints": self.touch_point.pk,
            "sites": self.site.pk,
        }

    def url(self, path: str) -> str:
        kind = path.split("/")[3]
        return path.replace("{id}", str(self.ids.get(kind, 0)))

    def body(self, method: str, path: str) -> dict[str, Any]:
        operation = schema()["paths"][path][method.lower()]
        component = _resolve(operation["requestBody"]["content"]["application/json"]["schema"])
        body: dict[str, Any] = {}
        for name in component.get("required", []):
            prop = _resolve(component["properties"][name])
            if name in self.ids:
                body[name] = self.ids[name]
            elif name == "answers":
                body[name] = [{"criterion": self.criterion.pk, "value": 1}]
            elif "enum" in prop:
                body[name] = prop["enum"][0]
            elif prop.get("format") == "date-time":
                body[name] = "2026-01-01T10:00:00Z"
            elif prop.get("type") == "string":
                body[name] = "Fuzzed name"
            elif prop.get("type") in ("integer", "number"):
                body[name] = 1
            elif prop.get("type") == "boolean":
                body[name] = False
            elif prop.get("type") == "array":
                body[name] = []
        if "kind" in body:
            body["kind"] = "yes_no"
        return body


@pytest.fixture
def world(personas: Personas) -> World:
    return World(personas)


def test_the_walk_finds_every_structure_text_field() -> None:
    fields = {(p, f) for _m, p, f in api_text_fields()}
    for expected in [
        ("/api/v1/journeys/", "name"),
        ("/api/v1/journeys/", "description"),
        ("/api/v1/stages/", "name"),
        ("/api/v1/touchpoints/", "owner_team"),
        ("/api/v1/criteria/", "description"),
        ("/api/v1/sites/", "code"),
        ("/api/v1/evaluations/", "comment"),
    ]:
        assert expected in fields, expected


def send_api(client: APIClient, world: World, method: str, path: str, field: str, text: str) -> Any:
    body = world.body(method, path)
    body[field] = text
    return client.generic(
        method,
        world.url(path),
        json.dumps(body),  # ensure_ascii: lone surrogates travel as \ud800 escapes
        content_type="application/json",
        HTTP_IF_MATCH="*",
    )


@pytest.mark.slow  # a walk or fuzz of every route/field: make test, not test-fast
def test_every_api_text_field_refuses_every_hostile_text_at_its_field(
    personas: Personas, world: World, client_for: ClientFor
) -> None:
    client = client_for(personas.manager)
    for method, path, field in api_text_fields():
        for text in HOSTILE[:5]:
            before = state()
            response = send_api(client, world, method, path, field, text)
            where = f"{method} {path} {field}={text[:20]!r}"
            assert response.status_code < 500, where
            if response.status_code >= 400:
                assert state() == before, f"{where}: a refusal stored something"
            if text_problems(text) and response.status_code != 404:
                assert response.status_code == 400, where


@pytest.mark.slow  # a walk or fuzz of every route/field: make test, not test-fast
@hypothesis_settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.data(), text=ANY_TEXT)
def test_any_text_in_any_api_text_field_is_2xx_or_4xx_and_never_half_stored(
    personas: Personas, world: World, client_for: ClientFor, data: st.DataObject, text: str
) -> None:
    method, path, field = data.draw(st.sampled_from(api_text_fields()), label="field")
    client = client_for(personas.manager)
    before = state()

    response = send_api(client, world, method, path, field, text)

    assert response.status_code < 500, (method, path, field, text)
    if response.status_code >= 400:
        assert state() == before


# --- Browser ------------------------------------------------------------------------------


def browser_forms(world: World) -> list[tuple[str, str, dict[str, str]]]:
    """(url, text field, the rest of a valid form) for each browser form that stores text."""
    t, c, s, j = world.touch_point.pk, world.criterion.pk, world.stage.pk, world.journey.pk
    forms: list[tuple[str, str, dict[str, str]]] = []
    base = {"name": "Fuzz", "channel": "phone", "kind": "yes_no", "importance": "3"}
    forms.extend(("/edit/journeys/", field, dict(base)) for field in forms_editor.JOURNEY_FIELDS)
    for field in forms_editor.STAGE_FIELDS:
        forms.append((f"/edit/journeys/{j}/stages/", field, dict(base)))
        forms.append((f"/edit/stages/{s}/", field, dict(base)))
    for field in forms_editor.TOUCH_POINT_TEXT_FIELDS:
        forms.append((f"/edit/stages/{s}/touch-points/", field, dict(base)))
        forms.append((f"/edit/touch-points/{t}/", field, dict(base)))
    for field in forms_editor.CRITERION_TEXT_FIELDS:
        forms.append((f"/edit/touch-points/{t}/criteria/", field, dict(base)))
        forms.append((f"/edit/criteria/{c}/", field, dict(base)))
    forms.append(("/account/tokens/", "name", {}))
    forms.append(
        ("/evaluate/", "comment", {"touch_point": str(t), "source": "audit", f"criterion_{c}": "1"})
    )
    return forms


@pytest.mark.slow  # a walk or fuzz of every route/field: make test, not test-fast
def test_every_browser_form_refuses_nul_and_over_long_text(
    personas: Personas, world: World
) -> None:
    browser = Client()
    browser.force_login(personas.manager)
    for url, field, rest in browser_forms(world):
        for text in ("nul\x00here", "z" * 6000):
            before = state()
            response = browser.post(url, {**rest, field: text}, headers={"HX-Request": "true"})
            assert response.status_code < 500, (url, field)
            if response.status_code >= 400:
                assert state() == before, (url, field)


@pytest.mark.slow  # a walk or fuzz of every route/field: make test, not test-fast
@hypothesis_settings(
    max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.data(), text=FORM_TEXT)
def test_any_text_in_any_browser_form_is_2xx_3xx_or_4xx(
    personas: Personas, world: World, data: st.DataObject, text: str
) -> None:
    url, field, rest = data.draw(st.sampled_from(browser_forms(world)), label="form")
    browser = Client()
    browser.force_login(personas.manager)
    before = state()

    response = browser.post(url, {**rest, field: text}, headers={"HX-Request": "true"})

    assert response.status_code < 500, (url, field, text)
    if response.status_code >= 400:
        assert state() == before


def test_the_gate_itself() -> None:
    errors: dict[str, list[str]] = {}
    assert clean_text(errors, "name", " ok ", max_length=5) == "ok"
    clean_text(errors, "a", "\ud800", max_length=5)
    clean_text(errors, "b", "\x00", max_length=5)
    clean_text(errors, "c", "toolong", max_length=5)
    assert set(errors) == {"a", "b", "c"}
    assert text_problems("fine text 🙂") == []


def test_an_outsider_cannot_write_text_into_another_organizations_journey(
    personas: Personas, world: World, client_for: ClientFor
) -> None:
    response = client_for(personas.outsider).patch(
        f"/api/v1/journeys/{world.journey.pk}/", {"name": "owned"}, format="json"
    )
    assert response.status_code == 404


def test_every_browser_form_text_field_is_the_gated_field() -> None:
    """Every Django form class of the project uses core.text.TextFormField for text, so a
    new field cannot skip the gate."""
    import inspect
    from importlib import import_module

    from django import forms as django_forms

    from core.text import TextFormField

    checked = 0
    for app in ("web", "team", "feedback", "accounts"):
        for module_name in ("forms", "forms_evaluate", "forms_editor", "views", "team"):
            try:
                module = import_module(f"{app}.{module_name}")
            except ModuleNotFoundError:
                continue
            for _, cls in inspect.getmembers(module, inspect.isclass):
                if not issubclass(cls, django_forms.Form) or cls.__module__ != module.__name__:
                    continue
                for name, field in cls.base_fields.items():
                    if isinstance(field.widget, django_forms.PasswordInput):
                        continue  # hashed, never stored as text
                    if type(field) is django_forms.CharField:
                        raise AssertionError(f"{cls.__name__}.{name}: use TextFormField")
                    checked += isinstance(field, TextFormField)
    assert checked >= 3
