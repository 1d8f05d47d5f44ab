"""Organization settings in real Chromium, by keyboard only: a manager lowers min n and
the page names the two touch points that change status; a second manager with the page
open from before is told, and nothing of theirs overwrites the first's change.
Screenshots at 1280 and 360 px with a 200-character organization name, axe-core on each."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from accounts.models import Organization
from tests.browser.a11y import assert_accessible
from tests.browser.conftest import DESKTOP, PHONE, SCREENSHOTS, assert_fits, needs_chromium, sign_in
from tests.conftest import Personas
from tests.web.test_organization_settings import build_three_touch_points

pytestmark = [pytest.mark.browser, needs_chromium]
LONG_NAME = ('Northwind "<b>Broadband</b>" & Fibre — ' + "Customer Experience Office " * 7)[:200]


def shoot(page: Any, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    for viewport in (DESKTOP, PHONE):
        page.set_viewport_size(viewport)
        assert_fits(page, viewport["width"])
        assert_accessible(page)
        page.screenshot(path=str(SCREENSHOTS / f"{name}-{viewport['width']}.png"), full_page=True)
    page.set_viewport_size(DESKTOP)


def tab_to(page: Any, label: str, *, limit: int = 60) -> None:
    """Press Tab until the field labelled `label` has the focus (a keyboard user's way)."""
    target = page.get_by_label(label, exact=True)
    for _ in range(limit):
        if target.evaluate("el => el === document.activeElement"):
            return
        page.keyboard.press("Tab")
    raise AssertionError(f"Tab never reached {label!r}")


def test_a_manager_changes_the_method_by_keyboard_and_sees_what_changed(
    live_server: Any,
    transactional_db: None,
    personas: Personas,
    recompute_requests: list[list[int]],
    open_page: Callable[..., Any],
) -> None:
    Organization.objects.filter(pk=personas.org.pk).update(name=LONG_NAME)
    build_three_touch_points(personas.org, personas.evaluator)
    base = live_server.url
    first = open_page(DESKTOP)
    sign_in(first, base, personas.manager.email)
    second = open_page(PHONE, device_scale_factor=2, is_mobile=True, has_touch=True)
    sign_in(second, base, personas.manager.email, next_url="/settings/")  # open from before

    first.get_by_role("link", name="Settings", exact=True).focus()
    first.keyboard.press("Enter")
    first.get_by_role("heading", name="Organization settings").wait_for()
    shoot(first, "organization-settings")

    tab_to(first, "Evaluations needed for a status (min n, 1–1000)")
    first.keyboard.press("Control+A")
    first.keyboard.type("3")
    first.keyboard.press("Enter")  # submits the form
    first.get_by_text(
        "2 touch points change status: 1 becomes a weak link, 1 now meets its target."
    ).first.wait_for()
    changed = first.locator(".status-changes li")
    assert changed.count() == 2
    assert "Welcome at the counter" in changed.nth(0).inner_text()
    assert "Weak link" in changed.nth(0).inner_text()
    shoot(first, "organization-settings-saved")

    # The second manager's page was drawn before that save.
    tab_to(second, "Smoothing (k, 0–100)")
    second.keyboard.press("Control+A")
    second.keyboard.type("2")
    second.keyboard.press("Enter")
    second.get_by_text("Another manager saved these settings").wait_for()
    second.get_by_text("Now saved: 3").wait_for()
    shoot(second, "organization-settings-conflict")
    personas.org.refresh_from_db()
    assert (personas.org.min_n, personas.org.smoothing_k) == (3, 5.0)

    # A value out of bounds is named at its field; nothing is stored.
    tab_to(second, "Smoothing (k, 0–100)")
    second.keyboard.press("Control+A")
    second.keyboard.type("250")
    second.keyboard.press("Enter")
    second.get_by_text("Must be a number from 0 to 100.").wait_for()
    assert second.get_by_label("Smoothing (k, 0–100)").get_attribute("aria-invalid") == "true"
    shoot(second, "organization-settings-refused")
    personas.org.refresh_from_db()
    assert personas.org.smoothing_k == 5.0

    first.goto(f"{base}/activity/")
    assert first.get_by_role("cell", name="Organization settings").count() >= 1
    assert not first.console_errors
    # Chromium logs the intended 409 and 400 as console errors; nothing else may be there.
    intended = "Failed to load resource: the server responded with a status of 4"
    assert [e for e in second.console_errors if not e.startswith(intended)] == []
