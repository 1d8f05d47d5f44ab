"""Exports in real Chromium under the strict CSP (issue 17 item 7, RELIABILITY S13): a
manager's big evaluations CSV streams with a progress bar counting up to the announced
number of records, then downloads whole; the PDF shows "Preparing the PDF…" and
downloads; past the organization's allowance the link says when to try again (429 with
Retry-After) instead of failing silently. A viewer sees no export links. Screenshots at
1280 and 360 px with 200-character names."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.utils import timezone

from tests.browser.a11y import assert_accessible
from tests.browser.conftest import DESKTOP, PHONE, SCREENSHOTS, assert_fits, needs_chromium, sign_in
from tests.conftest import Personas
from tests.factories import CriterionFactory, StageFactory, TouchPointFactory
from touchpoints.models import Source, TouchPoint
from touchpoints.services import AnswerInput, EvaluationInput, submit_evaluations

pytestmark = [pytest.mark.browser, pytest.mark.slow, needs_chromium]

LONG = ("Unbreakabletouchpointnamewithoutanyspace" * 6)[:200]
EVALUATIONS = 1500

# Every text the export's status takes, in order (the progress bar's steps included).
RECORD_STATUS = """() => {
  window.__statuses = [];
  const seen = (text) => { if (window.__statuses.at(-1) !== text) window.__statuses.push(text); };
  new MutationObserver(() => document.querySelectorAll('.export-status').forEach(
    (s) => seen(s.textContent.trim() + (s.querySelector('progress') ? ' [bar]' : ''))
  )).observe(document.body, {subtree: true, childList: true, characterData: true});
}"""


def refused_loads_aside(errors: list[str]) -> list[str]:
    """The console errors but Chromium's own note of the 429s this test asks for."""
    return [e for e in errors if "status of 429" not in e]


def build(personas: Personas, *, name: str, evaluations: int) -> TouchPoint:
    stage = StageFactory(journey__organization=personas.org, journey__name="Vet visit")
    touch_point = TouchPointFactory(stage=stage, name=name)
    criterion = CriterionFactory(touch_point=touch_point, name="Greeted")
    now = timezone.now()
    items = [
        EvaluationInput(
            touch_point_id=touch_point.pk,
            source=Source.AUDIT,
            observed_at=now - timedelta(hours=1 + i % 500),
            answers=[AnswerInput(criterion.pk, 1 + i % 5)],
        )
        for i in range(evaluations)
    ]
    for start in range(0, len(items), 500):
        submit_evaluations(
            evaluator=personas.evaluator, organization=personas.org, items=items[start:][:500]
        )
    return touch_point


def test_a_big_csv_streams_with_progress_the_pdf_prepares_and_the_allowance_is_told(
    live_server: Any,
    personas: Personas,
    recompute_requests: list[list[int]],
    open_page: Callable[..., Any],
    settings: Any,
) -> None:
    settings.EXPORTS_PER_ORGANIZATION = 2
    settings.EXPORTS_WINDOW_SECONDS = 600
    touch_point = build(personas, name="Welcome", evaluations=EVALUATIONS)
    base = live_server.url
    page = open_page(DESKTOP, accept_downloads=True)
    sign_in(page, base, personas.manager.email)
    page.goto(f"{base}/touch-points/{touch_point.pk}/?period=365")
    page.evaluate(RECORD_STATUS)

    link = page.get_by_role("link", name=re.compile(r"Download these 1500 evaluations"))
    with page.expect_download() as caught:
        link.click()
    download = caught.value
    status = page.locator(".export-status").first
    status.get_by_text("Downloaded 1,500 evaluations.").wait_for()
    statuses = [s for s in page.evaluate("window.__statuses") if s]
    assert statuses[0] == "Preparing… [bar]", statuses
    counted = [s for s in statuses if re.fullmatch(r"[\d,]+ of 1,500 evaluations \[bar\]", s)]
    assert counted, statuses  # the bar counted up to the announced number
    assert counted[-1] == "1,500 of 1,500 evaluations [bar]"
    assert download.suggested_filename == "welcome-evaluations.csv"
    rows = list(csv.reader(io.StringIO(Path(download.path()).read_text())))
    assert rows[1][0] == "evaluation_id" and len(rows) == 2 + EVALUATIONS
    assert_accessible(page)

    # The PDF: "Preparing the PDF…" until it arrives, then the browser saves it.
    page.goto(f"{base}/journeys/{touch_point.journey_id}/report/")
    page.evaluate(RECORD_STATUS)
    with page.expect_download() as caught:
        page.get_by_role("link", name="Download as PDF").click()
    page.locator(".export-status").get_by_text("Downloaded.").wait_for()
    assert next(s for s in page.evaluate("window.__statuses") if s) == "Preparing the PDF… [bar]"
    assert Path(caught.value.path()).read_bytes().startswith(b"%PDF-")

    # The third export in the window: the link says when to try again.
    page.goto(f"{base}/journeys/{touch_point.journey_id}/")
    page.get_by_role("link", name="Download the scores (CSV)").click()
    refusal = page.locator(".export-status--error")
    refusal.wait_for()
    text = refusal.inner_text()
    assert re.fullmatch(
        r"Your organization has used its exports for now: try again in \d+ seconds\.", text
    ), text
    assert_accessible(page)
    # Without JavaScript's help (a plain navigation) the refusal is a page that says so.
    response = page.goto(f"{base}/overview.csv")
    assert response is not None and response.status == 429
    assert int(response.headers["retry-after"]) > 0
    page.get_by_role("heading", name="Too many exports just now").wait_for()
    assert_accessible(page)
    assert refused_loads_aside(page.console_errors) == []


def test_a_viewer_sees_no_export_links(
    live_server: Any,
    personas: Personas,
    recompute_requests: list[list[int]],
    open_page: Callable[..., Any],
) -> None:
    touch_point = build(personas, name="Welcome", evaluations=3)
    page = open_page(DESKTOP)
    sign_in(page, live_server.url, personas.viewer.email)
    for url in (
        "/",
        f"/journeys/{touch_point.journey_id}/",
        f"/journeys/{touch_point.journey_id}/sites/",
        f"/journeys/{touch_point.journey_id}/report/",
        f"/touch-points/{touch_point.pk}/",
    ):
        page.goto(f"{live_server.url}{url}")
        assert page.locator("a[data-export]").count() == 0, url
        assert page.get_by_text(re.compile(r"^Download")).count() == 0, url


@pytest.mark.parametrize("size", ["1280", "360"])
def test_export_states_fit_with_200_character_names(
    live_server: Any,
    personas: Personas,
    recompute_requests: list[list[int]],
    open_page: Callable[..., Any],
    settings: Any,
    size: str,
) -> None:
    settings.EXPORTS_PER_ORGANIZATION = 1
    touch_point = build(personas, name=LONG, evaluations=40)
    viewport = DESKTOP if size == "1280" else PHONE
    page = open_page(viewport, is_mobile=viewport is PHONE, accept_downloads=True)
    sign_in(page, live_server.url, personas.manager.email)
    page.goto(f"{live_server.url}/touch-points/{touch_point.pk}/")
    with page.expect_download():
        page.get_by_role("link", name=re.compile(r"Download these 40 evaluations")).click()
    page.locator(".export-status").get_by_text("Downloaded 40 evaluations.").wait_for()
    assert_fits(page, viewport["width"])
    assert_accessible(page)
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"export-done-long-{size}.png"), full_page=True)

    page.goto(f"{live_server.url}/journeys/{touch_point.journey_id}/")
    page.get_by_role("link", name="Download the scores (CSV)").click()
    page.locator(".export-status--error").wait_for()
    assert_fits(page, viewport["width"])
    assert_accessible(page)
    page.screenshot(path=str(SCREENSHOTS / f"export-refused-long-{size}.png"), full_page=True)

    page.goto(f"{live_server.url}/overview.csv")
    page.get_by_role("heading", name="Too many exports just now").wait_for()
    assert_fits(page, viewport["width"])
    assert_accessible(page)
    page.screenshot(path=str(SCREENSHOTS / f"export-429-page-{size}.png"), full_page=True)
    assert refused_loads_aside(page.console_errors) == []
