"""An evaluator on a 360×740 phone in real Chromium: signs in, finds a touch point, submits
an evaluation, then a bad one that is refused with everything typed still there."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from tests.browser.a11y import assert_accessible
from tests.browser.conftest import PHONE, SCREENSHOTS, assert_fits, needs_chromium, sign_in
from tests.conftest import Personas
from tests.factories import PASSWORD, CriterionFactory, SiteFactory, TouchPointFactory
from touchpoints.models import Answer, CriterionKind, Evaluation, Source, TouchPoint
from touchpoints.services import create_criterion

MIN_TARGET_PX = 44

pytestmark = [pytest.mark.browser, needs_chromium]


@pytest.fixture
def phone(open_page: Callable[..., Any]) -> Any:
    """A touch phone, drawn at twice its size so the screenshots are sharp."""
    return open_page(PHONE, device_scale_factor=2, is_mobile=True, has_touch=True)


@pytest.fixture
def counter(transactional_db: None, personas: Personas) -> TouchPoint:
    """A touch point with one criterion of each kind, a neighbour, and two sites."""
    touch_point = TouchPointFactory(
        stage__journey__organization=personas.org,
        stage__journey__name="Vet visit",
        stage__name="Arrive",
        name="Welcome at the counter",
    )
    create_criterion(
        actor=personas.manager,
        touch_point=touch_point,
        name="Warmth of the welcome",
        kind=CriterionKind.SCALE,
        scale_size=5,
        scale_labels=["Ignored", "Cold", "Polite", "Warm", "Made my day"],
        description="From the first look to the first words.",
    )
    CriterionFactory(touch_point=touch_point, name="Counter was clean", kind=CriterionKind.YES_NO)
    CriterionFactory(
        touch_point=touch_point,
        name="Time waiting",
        kind=CriterionKind.NUMERIC,
        target_value=60,
        worst_value=600,
        unit="seconds",
    )
    CriterionFactory(
        touch_point=touch_point,
        name="Pet greeted",
        kind=CriterionKind.YES_NO,
        critical=True,
    )
    bill = TouchPointFactory(stage=touch_point.stage, name="Paying the bill")
    CriterionFactory(touch_point=bill)
    SiteFactory(organization=personas.org, name="Oslo central")
    SiteFactory(organization=personas.org, name="Bergen harbour")
    return touch_point


def assert_big_targets(page: Any) -> None:
    for locator in (page.locator("label.choice"), page.locator(".evaluation-form__submit")):
        for i in range(locator.count()):
            box = locator.nth(i).bounding_box()
            assert box["height"] >= MIN_TARGET_PX, f"{locator.nth(i).inner_text()!r} is too small"
            assert box["width"] >= MIN_TARGET_PX, f"{locator.nth(i).inner_text()!r} is too narrow"


def test_evaluator_on_a_phone_submits_then_gets_a_refusal_that_keeps_the_typed_values(
    live_server: Any,
    personas: Personas,
    counter: TouchPoint,
    recompute_requests: list[list[int]],
    phone: Any,
) -> None:
    base = live_server.url
    sign_in(phone, base, personas.evaluator.email, next_url="/evaluate/")

    # Find the touch point by typing: htmx narrows the list without a reload.
    search = phone.get_by_label("Find a touch point")
    search.fill("counter")
    phone.locator("#picker-count").filter(has_text="1 touch point").wait_for()
    assert_accessible(phone)
    assert phone.locator("#touch-point-list").get_by_text("Paying the bill").count() == 0
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    phone.get_by_role("link", name="Welcome at the counter").click()
    phone.wait_for_url(f"{base}/evaluate/?touch_point={counter.pk}")

    # Answer with the thumb: labelled buttons, a toggle, a number, a source, a site.
    phone.locator("label.choice", has_text="Warm").first.click()
    phone.locator("fieldset", has_text="Counter was clean").locator("label", has_text="Yes").click()
    phone.get_by_label("Measured value (seconds)").fill("95")
    phone.locator("fieldset", has_text="Pet greeted").locator("label", has_text="Yes").click()
    phone.locator("label.choice", has_text="Mystery shopper").click()
    phone.get_by_label("Site").select_option(label="Oslo central")
    phone.get_by_label("Comment").fill("Receptionist looked up at once.")
    assert_fits(phone, PHONE["width"])
    assert_big_targets(phone)
    assert_accessible(phone)
    phone.screenshot(path=str(SCREENSHOTS / "evaluate-360.png"), full_page=True)

    phone.get_by_role("button", name="Submit evaluation").click()
    phone.get_by_role("heading", name="Evaluation saved").wait_for()
    evaluation = Evaluation.objects.get()
    assert evaluation.source == Source.MYSTERY_SHOPPER
    assert evaluation.site.name == "Oslo central"
    assert sorted(Answer.objects.values_list("value", flat=True)) == [1.0, 1.0, 4.0, 95.0]
    assert recompute_requests == [[counter.pk]]
    assert_accessible(phone)
    phone.screenshot(path=str(SCREENSHOTS / "evaluate-done-360.png"), full_page=True)

    # Evaluate another: same touch point, the last source and site already chosen.
    phone.get_by_role("link", name="Evaluate another").click()
    phone.wait_for_url(f"{base}/evaluate/?touch_point={counter.pk}")
    assert phone.get_by_label("Mystery shopper").is_checked()
    assert phone.get_by_label("Site").input_value() == str(evaluation.site_id)

    # A bad one: the toggle is skipped; everything else typed must survive the refusal.
    phone.locator("label.choice", has_text="Made my day").click()
    phone.get_by_label("Measured value (seconds)").fill("240")
    phone.locator("label.choice", has_text="Audit").click()
    phone.get_by_label("Comment").fill("Second visit, <b>busy</b> morning")
    phone.locator("fieldset", has_text="Pet greeted").get_by_text("No", exact=True).click()
    phone.get_by_role("button", name="Submit evaluation").click()

    summary = phone.locator(".error-summary")
    summary.wait_for()
    assert summary.evaluate("el => el === document.activeElement"), "summary not focused"
    assert "Counter was clean: Choose an answer, or Not applicable." in summary.inner_text()
    clean = phone.locator("fieldset", has_text="Counter was clean")
    assert (
        clean.locator(".field-error").inner_text().endswith("Choose an answer, or Not applicable.")
    )
    assert phone.get_by_label("Made my day").is_checked()
    assert phone.get_by_label("Measured value (seconds)").input_value() == "240"
    assert phone.get_by_label("Audit").is_checked()
    assert phone.get_by_label("Comment").input_value() == "Second visit, <b>busy</b> morning"
    assert Evaluation.objects.count() == 1
    assert_fits(phone, PHONE["width"])
    assert_accessible(phone)
    phone.screenshot(path=str(SCREENSHOTS / "evaluate-errors-360.png"), full_page=True)

    # The summary's link takes the thumb straight to the field; fixing it goes through.
    summary.get_by_role("link", name="Counter was clean").click()
    clean.get_by_text("No", exact=True).click()
    phone.get_by_role("button", name="Submit evaluation").click()
    phone.get_by_role("heading", name="Evaluation saved").wait_for()
    assert Evaluation.objects.count() == 2

    # Back to the list: what this evaluator used last comes first.
    phone.get_by_role("link", name="Choose a different touch point").click()
    recent = phone.locator("section", has_text="Recently used")
    assert recent.get_by_role("link").first.inner_text().startswith("Welcome at the counter")
    assert_fits(phone, PHONE["width"])
    phone.screenshot(path=str(SCREENSHOTS / "evaluate-pick-360.png"), full_page=True)

    # The refused submission's 400 is the only thing the console reports (no CSP violation).
    assert phone.console_errors == [
        "Failed to load resource: the server responded with a status of 400 (Bad Request)"
    ]


def test_viewer_on_a_phone_sees_the_refusal_and_no_form(
    live_server: Any, personas: Personas, counter: TouchPoint, phone: Any
) -> None:
    sign_in_url = f"{live_server.url}/sign-in/?next=/evaluate/?touch_point={counter.pk}"
    phone.goto(sign_in_url)
    phone.get_by_label("Email address").fill(personas.viewer.email)
    phone.get_by_label("Password").fill(PASSWORD)
    response_holder: list[Any] = []
    phone.on("response", lambda r: response_holder.append(r) if "/evaluate/" in r.url else None)
    phone.get_by_role("button", name="Sign in").click()
    phone.get_by_role("heading", name="Your role cannot submit evaluations").wait_for()

    assert response_holder[-1].status == 403
    assert phone.locator("form.evaluation-form").count() == 0
    assert phone.get_by_role("link", name="Evaluate").count() == 0


def test_without_javascript_the_search_and_the_form_still_work(
    live_server: Any,
    personas: Personas,
    counter: TouchPoint,
    recompute_requests: list[list[int]],
    open_page: Callable[..., Any],
) -> None:
    page = open_page(PHONE, java_script_enabled=False)
    base = live_server.url
    sign_in(page, base, personas.evaluator.email, next_url="/evaluate/")
    page.get_by_label("Find a touch point").fill("bill")
    page.get_by_role("button", name="Search").click()
    page.wait_for_url(f"{base}/evaluate/?q=bill")
    assert page.locator("#touch-point-list").get_by_text("Welcome at the counter").count() == 0
    page.get_by_label("Find a touch point").fill("counter")
    page.get_by_role("button", name="Search").click()
    page.get_by_role("link", name="Welcome at the counter").click()

    page.locator("label.choice", has_text="Polite").click()
    page.locator("fieldset", has_text="Counter was clean").get_by_text("No", exact=True).click()
    page.locator("fieldset", has_text="Time waiting").get_by_text("Not applicable").click()
    page.locator("fieldset", has_text="Pet greeted").get_by_text("Yes", exact=True).click()
    page.locator("label.choice", has_text="Self-check").click()
    page.get_by_role("button", name="Submit evaluation").click()

    page.get_by_role("heading", name="Evaluation saved").wait_for()
    answers = dict(Answer.objects.values_list("criterion__name", "value"))
    assert answers == {
        "Warmth of the welcome": 3.0,
        "Counter was clean": 0.0,
        "Time waiting": None,
        "Pet greeted": 1.0,
    }
    assert Evaluation.objects.get().source == Source.SELF_CHECK
