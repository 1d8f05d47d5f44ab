"""The team in real Chromium: a manager invites by email, the invited person reads the
message the SMTP server received, accepts, lands signed in as an evaluator and submits an
evaluation; a role change takes effect on their next page; removal ends their session;
password reset end to end. Screenshots of the new pages at 1280 and 360 px, with long and
hostile names, and the axe-core WCAG 2.2 A/AA check on each."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest

from accounts.models import Membership, Role, User
from notify import services as notify_services
from notify.models import OutboundEmail
from tests.browser.a11y import assert_accessible
from tests.browser.conftest import DESKTOP, PHONE, SCREENSHOTS, assert_fits, needs_chromium, sign_in
from tests.conftest import Personas
from tests.factories import CriterionFactory, TouchPointFactory
from tests.mail import SmtpServer, bodies
from touchpoints.models import CriterionKind, Evaluation

pytestmark = [pytest.mark.browser, needs_chromium]
NEW_PASSWORD = "a long and quite unusual secret 42"
HOSTILE = 'Zoë "<script>alert(1)</script>" Ångström-Łukasiewicz-Wolfeschlegelsteinhausenbergerdorff'
# 200 characters of name: as long as a first (150) and last name (50) can be together.
HOSTILE_200 = (HOSTILE + " " + "Wolfeschlegelsteinhausenbergerdorff-" * 5)[:200]
LONG_ORG = ("Northwind Broadband & Fibre — Customer Experience Office of the North " * 3)[
    :199
] + "N"


@pytest.fixture
def outbox(monkeypatch: pytest.MonkeyPatch) -> Callable[[], None]:
    """The worker's part, done by the test: no broker, every queued message delivered to
    the SMTP server on demand (the live server shares this process)."""
    monkeypatch.setattr(notify_services, "queue_delivery", lambda pk, countdown=0: None)

    def deliver_all() -> None:
        for pk in OutboundEmail.objects.filter(status="queued").values_list("pk", flat=True):
            notify_services.deliver(pk)

    return deliver_all


def _link(smtp_server: SmtpServer, to: str, pattern: str) -> str:
    text, html = bodies(smtp_server.wait_for_message(to, timeout=10))
    found = re.search(pattern, text)
    assert found, text
    assert found.group(0) in html
    return found.group(0)


def shoot(page: Any, name: str, width: int) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    assert_fits(page, width)
    assert_accessible(page)
    page.screenshot(path=str(SCREENSHOTS / f"{name}-{width}.png"), full_page=True)


def test_invite_accept_evaluate_change_role_and_remove(
    live_server: Any,
    transactional_db: None,
    personas: Personas,
    smtp_server: SmtpServer,
    outbox: Callable[[], None],
    recompute_requests: list[list[int]],
    open_page: Callable[..., Any],
) -> None:
    base = live_server.url
    personas.org.name = LONG_ORG
    personas.org.save(update_fields=["name"])
    touch_point = TouchPointFactory(stage__journey__organization=personas.org, name="Welcome call")
    CriterionFactory(touch_point=touch_point, name="Greeted by name", kind=CriterionKind.YES_NO)
    User.objects.filter(pk=personas.viewer.pk).update(
        first_name=HOSTILE_200[:150], last_name=HOSTILE_200[150:]
    )

    manager = open_page(DESKTOP)
    sign_in(manager, base, personas.manager.email)
    manager.get_by_role("link", name="Team").click()
    manager.wait_for_url(f"{base}/team/")
    manager.get_by_label("Email address").fill("nadia.newcomer@example.test")
    manager.get_by_label("Role", exact=True).select_option("evaluator")
    manager.get_by_role("button", name="Send invitation").click()
    manager.get_by_text("Invitation sent to nadia.newcomer@example.test").wait_for()
    shoot(manager, "team", DESKTOP["width"])

    outbox()
    link = _link(smtp_server, "nadia.newcomer@example.test", rf"{re.escape(base)}/team/join/\S+/")
    newcomer = open_page(PHONE, device_scale_factor=2, is_mobile=True, has_touch=True)
    newcomer.goto(link)
    shoot(newcomer, "team-join", PHONE["width"])
    newcomer.get_by_label("Your name").fill("Nadia Newcomer")
    newcomer.get_by_label("Password", exact=True).fill(NEW_PASSWORD)
    newcomer.get_by_label("Password again").fill(NEW_PASSWORD)
    newcomer.get_by_role("button", name="Create account and join").click()
    newcomer.wait_for_url(f"{base}/")
    newcomer.get_by_text("Welcome to Northwind Broadband").wait_for()

    # Signed in as an evaluator: submit an evaluation.
    newcomer.goto(f"{base}/evaluate/?touch_point={touch_point.pk}")
    newcomer.locator("fieldset", has_text="Greeted by name").locator(
        "label", has_text="Yes"
    ).click()
    newcomer.locator("label.choice", has_text="Supervisor").click()
    newcomer.get_by_role("button", name="Submit evaluation").click()
    newcomer.get_by_role("heading", name="Evaluation saved").wait_for()
    nadia = User.objects.get(email="nadia.newcomer@example.test")
    assert Evaluation.objects.get().evaluator_id == nadia.pk

    # The manager makes her a viewer: her next page no longer offers Evaluate.
    manager.reload()
    manager.get_by_label("Role of nadia.newcomer@example.test").select_option("viewer")
    manager.get_by_role("button", name="Change the role of nadia.newcomer@example.test").click()
    manager.get_by_text("is now viewer").wait_for()
    newcomer.goto(f"{base}/")
    assert newcomer.get_by_role("link", name="Evaluate").count() == 0

    manager.set_viewport_size(PHONE)
    manager.reload()
    shoot(manager, "team", PHONE["width"])
    manager.set_viewport_size(DESKTOP)

    # Removal ends her session at once.
    manager.get_by_role("link", name="Remove nadia.newcomer@example.test").click()
    shoot(manager, "team-remove", DESKTOP["width"])
    manager.get_by_role("button", name="Remove nadia.newcomer@example.test").click()
    manager.get_by_text("was removed").wait_for()
    assert not Membership.objects.filter(user=nadia).exists()
    newcomer.goto(f"{base}/")
    assert newcomer.url.startswith(f"{base}/sign-in/")

    # Activity lists all of it.
    manager.goto(f"{base}/activity/")
    for words in ("Invited", "Joined", "Removed"):
        assert manager.get_by_role("cell", name=words, exact=True).count() >= 1, words
    assert not manager.console_errors and not newcomer.console_errors


def test_password_reset_end_to_end(
    live_server: Any,
    transactional_db: None,
    personas: Personas,
    smtp_server: SmtpServer,
    outbox: Callable[[], None],
    open_page: Callable[..., Any],
) -> None:
    base = live_server.url
    page = open_page(PHONE, device_scale_factor=2, is_mobile=True, has_touch=True)
    page.goto(f"{base}/sign-in/")
    page.get_by_role("link", name="Forgot your password?").click()
    shoot(page, "password-reset", PHONE["width"])
    page.get_by_label("Email address").fill(personas.evaluator.email)
    page.get_by_role("button", name="Email me a link").click()
    page.get_by_role("heading", name="Check your email").wait_for()

    outbox()
    link = _link(smtp_server, personas.evaluator.email, rf"{re.escape(base)}/password-reset/\S+/")
    page.goto(link)
    page.get_by_role("heading", name="Choose a new password").wait_for()
    shoot(page, "password-reset-confirm", PHONE["width"])
    page.get_by_label("New password", exact=True).fill(NEW_PASSWORD)
    page.get_by_label("New password confirmation").fill(NEW_PASSWORD)
    page.get_by_role("button", name="Set new password").click()
    page.get_by_role("heading", name="Your password is changed").wait_for()
    sign_in(page, base, personas.evaluator.email, password=NEW_PASSWORD)
    assert Membership.objects.get(user=personas.evaluator).role == Role.EVALUATOR
    assert not page.console_errors
