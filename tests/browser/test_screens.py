"""Screenshots of the overview, the journey map and the touch-point page on the demo organization, at
desktop and phone widths, in real Chromium; written to test-artifacts/screenshots/ for
people to look at. Along the way: no console errors (so no CSP violation) and no
sideways scrolling on a 360 px phone."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from django.conf import settings
from django.utils import timezone

from demo.loader import MANAGER, load_demo
from journeys.models import Journey
from scoring import selectors
from scoring.services import recompute_all, recompute_journey
from tests.browser.a11y import assert_accessible
from tests.browser.conftest import DESKTOP, PHONE, SCREENSHOTS, assert_fits, needs_chromium, sign_in
from tests.conftest import Personas
from tests.factories import CriterionFactory, TouchPointFactory
from touchpoints.models import Source
from touchpoints.services import AnswerInput, EvaluationInput, submit_evaluations

pytestmark = [pytest.mark.browser, pytest.mark.slow, needs_chromium]

SIZES = {"1280": DESKTOP, "360": PHONE}


@pytest.fixture
def demo(transactional_db: None, recompute_requests: list[list[int]]) -> Journey:
    """The demo organization, scored; its journey with the most touch points."""
    organization = load_demo()
    assert organization is not None
    recompute_all(organization_id=organization.pk)
    journeys = Journey.objects.for_organization(organization)
    return max(journeys, key=lambda j: j.touch_points.count())


@pytest.mark.parametrize("size", SIZES)
def test_screenshots_of_map_and_detail(
    live_server: Any, demo: Journey, open_page: Callable[..., Any], size: str
) -> None:
    viewport = SIZES[size]
    page = open_page(viewport, device_scale_factor=1, is_mobile=viewport is PHONE)
    page.goto(f"{live_server.url}/sign-in/")
    assert_accessible(page)
    sign_in(page, live_server.url, MANAGER, password=settings.DEMO_PASSWORD)
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)

    page.goto(f"{live_server.url}/")
    page.get_by_role("heading", name="Weakest links across all journeys").wait_for()
    assert_fits(page, viewport["width"])
    assert_accessible(page)
    page.screenshot(path=str(SCREENSHOTS / f"overview-{size}.png"), full_page=True)

    page.goto(f"{live_server.url}/journeys/{demo.pk}/")
    page.get_by_role("heading", name=demo.name, level=1).wait_for()
    assert (
        page.locator(".tp-card").count()
        == demo.touch_points.filter(archived_at__isnull=True).count()
    )
    assert_fits(page, viewport["width"])
    assert_accessible(page)
    page.screenshot(path=str(SCREENSHOTS / f"map-{size}.png"), full_page=True)
    # The manager's editor, opened on the map's first card.
    first = demo.touch_points.filter(archived_at__isnull=True).order_by(
        "stage__position", "position"
    )[0]
    page.locator(f"#tp-{first.pk} summary").first.click()
    page.get_by_role("link", name=f"Edit details of {first.name}").click()
    page.locator(f"#tp-{first.pk}-edit").wait_for()
    assert_accessible(page)

    scores = selectors.journey_scores(demo)
    weakest = (
        scores.weak_links[0].touch_point_id if scores.weak_links else scores.touch_points[0].id
    )
    page.goto(f"{live_server.url}/touch-points/{weakest}/")
    page.get_by_role("heading", name="Criteria").wait_for()
    assert_fits(page, viewport["width"])
    assert_accessible(page)
    page.screenshot(path=str(SCREENSHOTS / f"detail-{size}.png"), full_page=True)

    assert page.console_errors == []


def test_map_updates_itself_when_a_pending_score_lands(
    live_server: Any,
    personas: Personas,
    recompute_requests: list[list[int]],
    open_page: Callable[..., Any],
) -> None:
    """htmx polls a pending card under the strict CSP; once the recompute commits, the card
    and the rest of the map (weak links, line) refresh without a reload."""
    touch_point = TouchPointFactory(
        stage__journey__organization=personas.org, stage__journey__name="Vet visit", name="Paying"
    )
    criterion = CriterionFactory(touch_point=touch_point)
    submit_evaluations(
        evaluator=personas.evaluator,
        organization=personas.org,
        items=[
            EvaluationInput(
                touch_point_id=touch_point.pk,
                source=Source.AUDIT,
                observed_at=timezone.now() - timedelta(hours=1),
                answers=[AnswerInput(criterion.pk, 1)],
            )
            for _ in range(6)
        ],
    )
    page = open_page(DESKTOP)
    sign_in(page, live_server.url, personas.viewer.email)
    page.goto(f"{live_server.url}/journeys/{touch_point.journey_id}/")
    card = page.locator(f"#tp-{touch_point.pk}")
    assert "Recompute pending" in card.inner_text()
    page.evaluate("window.touchstoneMarker = 'same page'")

    recompute_journey(touch_point.journey_id)

    page.locator(".callout--weak").get_by_role("link", name="Paying").wait_for(timeout=15_000)
    assert "Recompute pending" not in page.locator(f"#tp-{touch_point.pk}").inner_text()
    assert "Weak link" in page.locator(f"#tp-{touch_point.pk}").inner_text()
    assert page.evaluate("window.touchstoneMarker") == "same page"  # no reload happened
    assert page.console_errors == []
