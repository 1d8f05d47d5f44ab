"""Journey settings in real Chromium: a manager activates a draft journey from its map,
and its weak link appears in the overview's weakest links. Screenshots at 1280 and 360 px."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from journeys.models import Journey, JourneyStatus
from scoring.services import recompute_journey
from tests.api.test_cross_tenant_walk import build_tenant
from tests.browser.a11y import assert_accessible
from tests.browser.conftest import DESKTOP, PHONE, SCREENSHOTS, assert_fits, needs_chromium, sign_in
from tests.conftest import Personas

pytestmark = [pytest.mark.browser, needs_chromium]


def test_a_journey_activated_in_the_browser_joins_the_weakest_links(
    live_server: Any,
    transactional_db: None,
    personas: Personas,
    recompute_requests: list[list[int]],
    open_page: Callable[..., Any],
) -> None:
    tenant = build_tenant(personas.org, manager=personas.manager)
    journey = tenant.first("journey")
    Journey.objects.filter(pk=journey.pk).update(
        status=JourneyStatus.DRAFT, persona='Customer "<b>moving</b>" house — a very long persona'
    )
    recompute_journey(journey.pk)
    weak = tenant.first("weak_link")
    base = live_server.url
    page = open_page(DESKTOP)
    sign_in(page, base, personas.manager.email)
    weakest = page.locator("section", has=page.get_by_role("heading", name="Weakest links"))
    assert weakest.get_by_role("link", name=weak.name).count() == 0
    page.get_by_text("Draft: not counted on this page until it is active.").wait_for()

    page.goto(f"{base}/journeys/{journey.pk}/")
    page.get_by_role("link", name="Journey settings").click()
    page.get_by_role("heading", name=f"Settings of {journey.name}").wait_for()
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    for viewport in (DESKTOP, PHONE):
        page.set_viewport_size(viewport)
        assert_fits(page, viewport["width"])
        assert_accessible(page)
        page.screenshot(
            path=str(SCREENSHOTS / f"journey-settings-{viewport['width']}.png"), full_page=True
        )
    page.set_viewport_size(DESKTOP)
    page.get_by_label("Active").check()
    page.get_by_role("button", name="Save settings").click()
    page.wait_for_url(f"{base}/journeys/{journey.pk}/")
    page.get_by_text(f"Settings of {journey.name} saved.").wait_for()

    page.goto(f"{base}/")
    weakest.get_by_role("link", name=weak.name).wait_for()
    assert not page.console_errors
