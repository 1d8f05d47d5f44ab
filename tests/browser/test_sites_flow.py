"""Sites in real Chromium: a manager adds a site on the Sites page and an evaluator picks
it on the evaluation form. Screenshots of the Sites page at 1280 and 360 px."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from tests.browser.a11y import assert_accessible
from tests.browser.conftest import DESKTOP, PHONE, SCREENSHOTS, assert_fits, needs_chromium, sign_in
from tests.conftest import Personas
from tests.factories import CriterionFactory, SiteFactory, TouchPointFactory
from touchpoints.models import CriterionKind, Evaluation

pytestmark = [pytest.mark.browser, needs_chromium]


def test_a_site_added_in_the_browser_is_used_in_an_evaluation(
    live_server: Any,
    transactional_db: None,
    personas: Personas,
    recompute_requests: list[list[int]],
    open_page: Callable[..., Any],
) -> None:
    touch_point = TouchPointFactory(stage__journey__organization=personas.org, name="Welcome call")
    CriterionFactory(touch_point=touch_point, name="Greeted by name", kind=CriterionKind.YES_NO)
    SiteFactory(
        organization=personas.org, name='Bergen "<i>harbour</i>" — the very long waterfront branch'
    )
    base = live_server.url
    manager = open_page(DESKTOP)
    sign_in(manager, base, personas.manager.email)
    manager.get_by_role("link", name="Sites").click()
    manager.get_by_label("Name", exact=True).first.fill("Oslo central")
    manager.get_by_label("Code (optional)").fill("OSL")
    manager.get_by_role("button", name="Add site").click()
    manager.get_by_text("Site Oslo central added.").wait_for()
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    for viewport in (DESKTOP, PHONE):
        manager.set_viewport_size(viewport)
        assert_fits(manager, viewport["width"])
        assert_accessible(manager)
        manager.screenshot(path=str(SCREENSHOTS / f"sites-{viewport['width']}.png"), full_page=True)

    evaluator = open_page(PHONE, device_scale_factor=2, is_mobile=True, has_touch=True)
    sign_in(evaluator, base, personas.evaluator.email, next_url="/evaluate/")
    evaluator.goto(f"{base}/evaluate/?touch_point={touch_point.pk}")
    evaluator.locator("fieldset", has_text="Greeted by name").locator(
        "label", has_text="Yes"
    ).click()
    evaluator.locator("label.choice", has_text="Supervisor").click()
    evaluator.get_by_label("Site").select_option(label="Oslo central")
    evaluator.get_by_role("button", name="Submit evaluation").click()
    evaluator.get_by_role("heading", name="Evaluation saved").wait_for()
    assert Evaluation.objects.get().site.name == "Oslo central"
    assert not manager.console_errors and not evaluator.console_errors
