"""Exports started at the same moment (RELIABILITY S13: "50 parallel exports"): the
organization's limit holds however many arrive together, the server keeps answering, and
the counter under it (core.throttle.SlidingWindow.acquire) never lets parallel callers past.

Asking "is there room?" and then counting was two round trips: fifty requests arriving
together all saw room before any was counted, and all fifty exports ran."""

from __future__ import annotations

import uuid
from collections import Counter
from typing import Any

import pytest
import requests
from django.conf import settings
from django.test import Client
from django.test.utils import override_settings

from core.throttle import SlidingWindow
from tests.concurrency import all_at_once
from tests.conftest import Personas
from tests.factories import CriterionFactory, JourneyFactory, StageFactory, TouchPointFactory

PARALLEL = 50


def test_parallel_callers_never_get_more_than_the_limit() -> None:
    window = SlidingWindow(f"test-acquire-{uuid.uuid4().hex}", limit=7, window=600)
    waits = all_at_once([lambda: window.acquire("org-1")] * PARALLEL)

    assert waits.count(0) == 7
    assert all(0 < wait <= 600 for wait in waits if wait)
    assert len(window.times("org-1")) == 7  # the refused ones were not counted
    assert window.acquire("org-2") == 0  # another identity has its own room


def test_a_place_frees_when_the_oldest_event_leaves_the_window() -> None:
    window = SlidingWindow(f"test-acquire-{uuid.uuid4().hex}", limit=2, window=1)
    assert [window.acquire("a"), window.acquire("a")] == [0, 0]
    assert window.acquire("a") == 1  # whole seconds, at least one
    window_gone = SlidingWindow(window.scope, limit=2, window=0)
    assert window_gone.acquire("a") == 0  # with a zero window nothing earlier counts


def test_a_limit_of_zero_lets_nothing_start() -> None:
    window = SlidingWindow(f"test-acquire-{uuid.uuid4().hex}", limit=0, window=60)
    assert window.acquire("a") in (60, 61)  # a whole window


@pytest.mark.parametrize(
    ("referer", "back"),
    [
        ("http://testserver/journeys/1/", "http://testserver/journeys/1/"),
        ("", "/"),
        ("http://evil.example/testserver/", "/"),
        ("javascript://testserver/%0aalert(1)", "/"),
        ("//testserver.evil.example/", "/"),
    ],
)
@override_settings(EXPORTS_PER_ORGANIZATION=0)
def test_the_refusal_page_links_back_only_to_our_own_pages(
    personas: Personas, client: Client, referer: str, back: str
) -> None:
    client.force_login(personas.manager)
    page = client.get("/overview.csv", headers={"Accept": "text/html", "Referer": referer})
    assert page.status_code == 429
    assert f'href="{back}"' in page.content.decode()


@pytest.mark.slow
@override_settings(EXPORTS_PER_ORGANIZATION=5, EXPORTS_WINDOW_SECONDS=600)
def test_fifty_exports_started_together_run_at_most_the_limit_and_the_server_answers(
    transactional_db: None, live_server: Any, personas: Personas
) -> None:
    journey = JourneyFactory(organization=personas.org, name="Checkout")
    touch_point = TouchPointFactory(stage=StageFactory(journey=journey), name="Till")
    CriterionFactory(touch_point=touch_point, name="Quick")
    client = Client()
    client.force_login(personas.manager)
    cookies = {settings.SESSION_COOKIE_NAME: client.cookies[settings.SESSION_COOKIE_NAME].value}
    base = str(live_server.url)

    def export() -> requests.Response:
        return requests.get(f"{base}/journeys/{journey.pk}/scores.csv", cookies=cookies, timeout=60)

    def health() -> requests.Response:
        return requests.get(f"{base}/healthz", timeout=60)

    answers = all_at_once([export] * PARALLEL + [health] * 10)
    exports, probes = answers[:PARALLEL], answers[PARALLEL:]

    assert Counter(a.status_code for a in exports) == {200: 5, 429: PARALLEL - 5}
    assert all(0 < int(a.headers["Retry-After"]) <= 600 for a in exports if a.status_code == 429)
    done = [a for a in exports if a.status_code == 200]
    assert all(a.headers["Content-Type"].startswith("text/csv") for a in done)
    assert all(a.text.startswith('"filters","the scoring window"') for a in done)
    assert [p.status_code for p in probes] == [200] * 10
