"""/api/v1/schema/ is built once per process and version, and throttled (issue 12, item 5):
it was rebuilt on every request (~150 ms of a worker) for anyone, unthrottled."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client
from drf_spectacular.generators import SchemaGenerator
from rest_framework.throttling import ScopedRateThrottle

from core.api.schema import CachedSchemaView
from tests.conftest import Personas


@pytest.fixture(autouse=True)
def _forget() -> Any:
    CachedSchemaView.forget()
    yield
    CachedSchemaView.forget()


def test_the_schema_is_built_once_and_served_the_same(
    db: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    builds: list[int] = []
    original = SchemaGenerator.get_schema

    def counting(self: SchemaGenerator, *args: Any, **kwargs: Any) -> Any:
        builds.append(1)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(SchemaGenerator, "get_schema", counting)
    client = Client()

    first = client.get("/api/v1/schema/")
    second = client.get("/api/v1/schema/")

    assert first.status_code == second.status_code == 200
    assert first.content == second.content
    assert b"openapi" in first.content
    assert len(builds) == 1


def test_the_schema_is_throttled_per_client(db: None, monkeypatch: pytest.MonkeyPatch) -> None:
    # DRF reads the rates when the throttle class is defined: patch them there.
    rates = {**ScopedRateThrottle.THROTTLE_RATES, "schema": "3/min"}
    monkeypatch.setattr(ScopedRateThrottle, "THROTTLE_RATES", rates)
    client = Client()
    statuses = [client.get("/api/v1/schema/").status_code for _ in range(5)]
    other = Client(REMOTE_ADDR="198.51.100.4").get("/api/v1/schema/")

    assert statuses == [200, 200, 200, 429, 429]
    assert other.status_code == 200


def test_the_schema_is_the_same_for_an_outsider(personas: Personas) -> None:
    """Public by design (documented): it names no organization's data."""
    anonymous = Client().get("/api/v1/schema/").content
    outsider = Client()
    outsider.force_login(personas.outsider)
    assert outsider.get("/api/v1/schema/").content == anonymous
    assert personas.org.slug.encode() not in anonymous
