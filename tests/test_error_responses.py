"""Errors answer in the surface's own language (issue 12, item 5): JSON under /api/v1/
(the 500 was the HTML page), clean error pages elsewhere (the 500 and 503 pages printed a
raw two-line {# #} comment)."""

from __future__ import annotations

from typing import Any

import pytest
from django.http import HttpRequest, HttpResponse
from django.template.loader import render_to_string
from django.test import Client
from django.urls import include, path
from rest_framework.request import Request
from rest_framework.views import APIView

from config.urls import handler400, handler403, handler500  # noqa: F401  (this URLconf's too)
from tests.conftest import Personas


class Boom(APIView):
    def get(self, request: Request) -> Any:
        raise RuntimeError("a bug")


def boom(request: HttpRequest) -> HttpResponse:
    raise RuntimeError("a bug")


urlpatterns = [
    path("api/v1/boom/", Boom.as_view()),
    path("boom/", boom),
    path("", include("config.urls")),
]


@pytest.fixture
def browser(personas: Personas) -> Client:
    client = Client(raise_request_exception=False)
    client.force_login(personas.viewer)
    return client


@pytest.mark.urls("tests.test_error_responses")
def test_an_api_500_is_json(browser: Client, settings: Any) -> None:
    settings.DEBUG = False

    response = browser.get("/api/v1/boom/", HTTP_X_REQUEST_ID="req-12345678")

    assert response.status_code == 500
    assert response["Content-Type"].startswith("application/json")
    assert "went wrong" in response.json()["detail"]
    assert "a bug" not in response.content.decode()  # no internals


@pytest.mark.urls("tests.test_error_responses")
def test_a_page_500_is_the_clean_error_page(browser: Client, settings: Any) -> None:
    settings.DEBUG = False

    response = browser.get("/boom/")

    assert response.status_code == 500
    html = response.content.decode()
    assert "Something went wrong on our side" in html
    assert "{#" not in html and "#}" not in html and "a bug" not in html


@pytest.mark.parametrize("template", ["500.html", "503.html", "404.html", "403.html"])
def test_error_templates_render_without_template_syntax(template: str) -> None:
    html = render_to_string(template, {})
    for marker in ("{#", "#}", "{%", "%}", "{{", "}}"):
        assert marker not in html, (template, marker)


def test_an_outsider_gets_the_json_404_under_the_api(personas: Personas) -> None:
    client = Client()
    client.force_login(personas.outsider)
    response = client.get("/api/v1/journeys/999999999/")
    assert response.status_code == 404
    assert response["Content-Type"].startswith("application/json")
