"""The dashboard in real Chromium on the demo organization, at 1280 and 360 px: filters
chosen in the form land in the URL (and the back button brings the previous ones back),
the comparison shows changes, the sites benchmark sorts, the map's first card is above the
fold at 1280×800, every page passes axe-core and fits its screen. Screenshots for people
to look at in test-artifacts/screenshots/."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django.conf import settings

from demo.loader import MANAGER, load_demo
from journeys.models import Journey
from scoring.services import recompute_all
from tests.browser.a11y import assert_accessible
from tests.browser.conftest import DESKTOP, PHONE, SCREENSHOTS, assert_fits, needs_chromium, sign_in

pytestmark = [pytest.mark.browser, pytest.mark.slow, needs_chromium]

SIZES = {"1280": DESKTOP, "360": PHONE}


@pytest.fixture
def demo(transactional_db: None, recompute_requests: list[list[int]]) -> Journey:
    organization = load_demo()
    assert organization is not None
    recompute_all(organization_id=organization.pk)
    journeys = Journey.objects.for_organization(organization)
    return max(journeys, key=lambda j: j.touch_points.count())


def shoot(page: Any, name: str, size: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}-{size}.png"), full_page=True)


@pytest.mark.parametrize("size", SIZES)
def test_filters_comparison_and_sites_benchmark_on_every_screen(
    live_server: Any, demo: Journey, open_page: Callable[..., Any], size: str
) -> None:
    viewport = SIZES[size]
    base = live_server.url
    page = open_page(viewport, is_mobile=viewport is PHONE)
    sign_in(page, base, MANAGER, password=settings.DEMO_PASSWORD)

    # The overview: sparklines, colours against target, the priority sentence.
    page.get_by_role("heading", name="Journeys", exact=True).wait_for()
    assert page.locator("svg.spark").count() >= 1
    assert page.get_by_text("Priority = points below target").count() >= 1
    assert_fits(page, viewport["width"])
    assert_accessible(page)
    shoot(page, "dash-overview", size)

    # The map unfiltered: at 1280×800 the first card is above the fold.
    page.goto(f"{base}/journeys/{demo.pk}/")
    shoot(page, "dash-map", size)
    if viewport is DESKTOP:
        top = page.locator(".tp-card").first.bounding_box()["y"]
        assert top < viewport["height"], f"the first card starts at {top}px"
    # The score line fits, or scrolls with its cue and the weakest point in view.
    box = page.locator(".score-line__scroll")
    if box.evaluate("b => b.scrollWidth > b.clientWidth + 1"):
        assert page.locator("[data-scroll-cue]").is_visible()
        assert box.evaluate("b => b.scrollLeft") > 0 or box.evaluate(
            "b => Number(b.dataset.scrollTo) < b.clientWidth"
        )
    assert_fits(page, viewport["width"])

    # Filters through the form: the last 30 days, compared with the 30 before.
    page.get_by_label("Period", exact=True).select_option(label="Last 30 days")
    page.get_by_label("Compare with the previous period").check()
    page.get_by_role("button", name="Apply").click()
    page.wait_for_url(lambda url: "period=30" in url and "compare=1" in url)
    assert page.get_by_text("vs previous period").count() >= 1
    assert page.get_by_label("Period", exact=True).input_value() == "30"
    assert_fits(page, viewport["width"])
    assert_accessible(page)
    shoot(page, "dash-map-compare", size)

    # The back button brings the unfiltered map back.
    page.go_back()
    page.wait_for_url(f"{base}/journeys/{demo.pk}/")
    assert page.get_by_label("Period", exact=True).input_value() == ""

    # The sites benchmark, sorted by a site's weakest touch points.
    page.goto(f"{base}/journeys/{demo.pk}/sites/?period=365")
    page.get_by_role("heading", name=f"Sites benchmark: {demo.name}").wait_for()
    first_site = page.locator("th.heat__site a").first
    if first_site.count():
        first_site.click()
        page.wait_for_url(lambda url: "sort=site-" in url and "period=365" in url)
        assert page.locator("th[aria-sort='ascending'].heat__site").count() == 1
    assert_fits(page, viewport["width"])
    assert_accessible(page)
    shoot(page, "dash-sites", size)

    # The journey report to print (and as PDF), with the filters.
    page.goto(f"{base}/journeys/{demo.pk}/report/?period=90&compare=1")
    page.get_by_role("heading", name="The map").wait_for()
    assert_fits(page, viewport["width"])
    assert_accessible(page)
    shoot(page, "dash-report", size)
    if viewport is DESKTOP:
        page.emulate_media(media="print")
        shoot(page, "dash-report-print", size)
        page.emulate_media(media="screen")

    # The touch point page, filtered by source, comparing.
    page.goto(f"{base}/journeys/{demo.pk}/")
    page.locator(".tp-card h3 a").first.click()
    page.get_by_label("Source", exact=True).select_option(label="Mystery shopper")
    page.get_by_label("Period", exact=True).select_option(label="Last 90 days")
    page.get_by_role("button", name="Apply").click()
    page.wait_for_url(lambda url: "source=mystery_shopper" in url)
    assert page.get_by_text("Showing").first.is_visible()
    assert_fits(page, viewport["width"])
    assert_accessible(page)
    shoot(page, "dash-touch-point", size)
    assert page.console_errors == []
