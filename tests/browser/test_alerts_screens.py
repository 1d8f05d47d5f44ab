"""The loop in real Chromium: the notification feed with its unread count, an action on
the map card and the before/after chart on the touch point page, at 1280 and 360 px,
with long and hostile text; screenshots in test-artifacts/screenshots/ (alerts-*.png)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from accounts.models import Role
from alerts import services
from alerts.models import Action
from journeys.models import Journey
from tests.alerts.helpers import make_spot, rescore, submit
from tests.browser.a11y import assert_accessible
from tests.browser.conftest import DESKTOP, PHONE, SCREENSHOTS, assert_fits, needs_chromium, sign_in
from tests.factories import PASSWORD, MembershipFactory, OrganizationFactory, UserFactory

pytestmark = [pytest.mark.browser, pytest.mark.slow, needs_chromium]

SIZES = {"1280": DESKTOP, "360": PHONE}
HOSTILE = '<script>alert(1)</script>"><img src=x onerror=alert(2)> Überprüfung der Begrüßung am Empfangsschalter'


@pytest.fixture
def loop(transactional_db: None, recompute_requests: list[list[int]]):  # type: ignore[no-untyped-def]
    org = OrganizationFactory(name="Northwind Veterinary Clinics of the Greater Metropolitan Area")
    manager = UserFactory(
        email="manager@northwind.test", first_name="Maximiliane", last_name="Oberhuber-Wolkenstein"
    )
    MembershipFactory(user=manager, organization=org, role=Role.MANAGER)
    owner = UserFactory(email="owner@northwind.test", first_name="Ana")
    MembershipFactory(user=owner, organization=org, role=Role.EVALUATOR)
    spot = make_spot(org, name=f"Welcome at the reception desk {HOSTILE}", critical=True)
    week_ago = timezone.now() - timedelta(days=7)
    submit(spot, manager, [1, 1], at=week_ago)
    rescore(spot)
    submit(spot, manager, [1, 1, 2, 1], at=week_ago)  # six: a blind spot becomes a weak link
    rescore(spot)
    action = services.open_action(
        actor=manager,
        touch_point=spot.touch_point,
        description=f"Greet every returning pet owner by name and offer water for the dog {HOSTILE}",
        owner_id=owner.pk,
        due=timezone.now().date() + timedelta(days=14),
    )
    services.mark_action_done(actor=owner, action=action)
    Action.objects.filter(pk=action.pk).update(done_at=timezone.now() - timedelta(days=3))
    submit(spot, owner, [5, 4, 5], at=timezone.now() - timedelta(days=1))
    submit(spot, owner, [5], at=timezone.now() - timedelta(days=1), critical_value=0)
    rescore(spot)
    services.judge_action(action.pk)
    services.drain_outboxes()
    return spot, manager


@pytest.mark.parametrize("size", SIZES)
def test_feed_card_and_before_after_chart(
    live_server: Any, loop, open_page: Callable[..., Any], size: str
) -> None:  # type: ignore[no-untyped-def]
    spot, manager = loop
    viewport = SIZES[size]
    page = open_page(viewport, device_scale_factor=1, is_mobile=viewport is PHONE)
    page.on("dialog", lambda dialog: pytest.fail(f"a dialog opened: {dialog.message}"))
    sign_in(page, live_server.url, manager.email, password=PASSWORD)
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)

    # The navigation counts what is unread; the feed lists it.
    count = page.locator(".site-nav .nav-count")
    assert count.inner_text().startswith("6")
    page.get_by_role("link", name="Notifications").click()
    page.get_by_role("heading", name="Notifications", level=1).wait_for()
    page.screenshot(path=str(SCREENSHOTS / f"alerts-feed-{size}.png"), full_page=True)
    assert page.locator(".feed > li").count() == 6
    assert page.locator(".feed > li", has_text="became a weak link").count() == 1
    assert_fits(page, viewport["width"])
    assert_accessible(page)
    page.locator(".feed > li").first.get_by_role("button", name="Mark as read").click()
    page.get_by_role("heading", name="Notifications", level=1).wait_for()
    assert page.locator(".site-nav .nav-count").inner_text().startswith("5")

    # The card says where the action stands.
    page.goto(f"{live_server.url}/journeys/{spot.journey.pk}/")
    card = page.locator(f"#tp-{spot.touch_point.pk}")
    assert "Action: verifying, 4 of 5 evaluations" in " ".join(
        card.locator(".tp-card__action").inner_text().split()
    )
    assert_fits(page, viewport["width"])
    page.screenshot(path=str(SCREENSHOTS / f"alerts-map-{size}.png"), full_page=True)

    # The touch point page: the action and its before/after chart.
    page.goto(f"{live_server.url}/touch-points/{spot.touch_point.pk}/#actions")
    page.get_by_role("heading", name="Actions").wait_for()
    chart = page.get_by_role("img", name="Before and after the action was done")
    assert chart.count() == 1
    assert page.locator(".before-after circle").count() == 2
    assert_fits(page, viewport["width"])
    assert_accessible(page)
    page.locator("#actions").screenshot(path=str(SCREENSHOTS / f"alerts-action-{size}.png"))
    page.screenshot(path=str(SCREENSHOTS / f"alerts-touch-point-{size}.png"), full_page=True)

    # Notification settings: a manager's digest time is shown and set on Settings only.
    Journey.objects.filter(pk=spot.journey.pk).update(name=f"Vet visit for the family {HOSTILE}")
    page.goto(f"{live_server.url}/notifications/settings/")
    page.get_by_label(f"Vet visit for the family {HOSTILE}").wait_for()  # its email select
    page.get_by_role("link", name="settings", exact=True).wait_for()
    assert page.locator('input[name="digest_time"]').count() == 0
    assert_fits(page, viewport["width"])
    assert_accessible(page)
    page.screenshot(path=str(SCREENSHOTS / f"alerts-settings-{size}.png"), full_page=True)
    assert page.console_errors == []
