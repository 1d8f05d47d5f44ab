"""Every page fits a 360 px phone and a 1280 px desktop when every name is 200 characters
with no space to break at: nothing makes the page scroll sideways (wide tables and charts
scroll inside their own box). Also the favicon and the character counters."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from journeys.models import Journey
from scoring.services import recompute_journey
from tests.browser.a11y import assert_accessible
from tests.browser.conftest import (
    DESKTOP,
    PHONE,
    SCREENSHOTS,
    assert_fits,
    needs_chromium,
    overflowing,
    sign_in,
)
from tests.conftest import Personas
from tests.factories import (
    CriterionFactory,
    JourneyFactory,
    SiteFactory,
    StageFactory,
    TouchPointFactory,
)
from touchpoints.models import CriterionKind, Evaluation, TouchPoint
from touchpoints.services import AnswerInput, EvaluationInput, submit_evaluations

pytestmark = [pytest.mark.browser, needs_chromium]

LONG = ("Unbreakablecustomerjourneyname" * 7)[:200]
SIZES = {"1280": DESKTOP, "360": PHONE}


@dataclass
class LongNames:
    journey: Journey
    touch_point: TouchPoint
    evaluation: Evaluation


@pytest.fixture
def long_names(transactional_db: None, personas: Personas, recompute_requests: Any) -> LongNames:
    org = personas.org
    org.name = LONG
    org.save(update_fields=["name"])
    journey = JourneyFactory(organization=org, name=LONG, persona=LONG, description=LONG)
    stage = StageFactory(journey=journey, name=LONG)
    touch_point = TouchPointFactory(stage=stage, name=LONG, owner_team=LONG[:120], importance=5)
    TouchPointFactory(stage=StageFactory(journey=journey, name="B" + LONG[1:]), name="C" + LONG[1:])
    criterion = CriterionFactory(touch_point=touch_point, name=LONG, kind=CriterionKind.YES_NO)
    site = SiteFactory(organization=org, name=LONG)
    evaluations = submit_evaluations(
        evaluator=personas.evaluator,
        organization=org,
        items=[
            EvaluationInput(
                touch_point_id=touch_point.pk,
                source="supervisor",
                observed_at=timezone.now() - timedelta(hours=i + 1),
                site_id=site.pk,
                answers=[AnswerInput(criterion.pk, i % 2)],
                comment=LONG,
            )
            for i in range(6)
        ],
    )
    recompute_journey(journey.pk)
    return LongNames(journey, touch_point, evaluations[0])


def pages(names: LongNames) -> dict[str, str]:
    """Every page a member opens, by a short name for the screenshots."""
    tp = names.touch_point.pk
    journey = names.journey.pk
    return {
        "overview": "/",
        "map": f"/journeys/{journey}/",
        "touch-point": f"/touch-points/{tp}/",
        "history": f"/journeys/{journey}/history/",
        "activity": "/activity/",
        "account": "/account/",
        "evaluate-pick": "/evaluate/",
        "evaluate": f"/evaluate/?touch_point={tp}",
        "evaluate-done": f"/evaluate/done/{names.evaluation.pk}/",
        "edit-touch-point": f"/edit/touch-points/{tp}/",
        "edit-criteria": f"/edit/touch-points/{tp}/criteria/",
        "sites": f"/journeys/{journey}/sites/?period=365",
        "report": f"/journeys/{journey}/report/?compare=1",
        "team": "/team/",
    }


@pytest.mark.parametrize("size", SIZES)
def test_no_page_scrolls_sideways_with_200_character_names(
    live_server: Any,
    personas: Personas,
    long_names: LongNames,
    open_page: Callable[..., Any],
    size: str,
) -> None:
    viewport = SIZES[size]
    page = open_page(viewport, is_mobile=viewport is PHONE)
    # The manager evaluated too, so the confirmation page is theirs to open.
    Evaluation.objects.filter(pk=long_names.evaluation.pk).update(evaluator=personas.manager)
    sign_in(page, live_server.url, personas.manager.email)
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    too_wide = []
    for name, path in pages(long_names).items():
        response = page.goto(live_server.url + path)
        assert response is not None and response.status == 200, path
        width = page.evaluate("document.documentElement.scrollWidth")
        if width > viewport["width"]:
            too_wide.append(f"{path}: {width}px {overflowing(page, viewport['width'])}")
        if name in {"overview", "map", "touch-point", "sites", "report"}:
            page.screenshot(path=str(SCREENSHOTS / f"long-{name}-{size}.png"), full_page=True)
    assert not too_wide, f"pages wider than {viewport['width']}px: {too_wide}"
    assert page.console_errors == []


def test_the_favicon_answers_and_is_linked(
    live_server: Any, personas: Personas, open_page: Callable[..., Any]
) -> None:
    page = open_page(DESKTOP)
    response = page.goto(f"{live_server.url}/favicon.ico")
    assert response is not None and response.status == 200
    assert response.headers["content-type"] == "image/x-icon"
    page.goto(f"{live_server.url}/sign-in/")
    assert page.locator("link[rel='icon']").count() == 2
    for href in page.locator("link[rel='icon']").evaluate_all("els => els.map(e => e.href)"):
        assert page.request.get(href).status == 200, href


def test_a_pasted_name_too_long_is_counted_not_cut(
    live_server: Any, personas: Personas, open_page: Callable[..., Any]
) -> None:
    """The field keeps everything pasted, the counter says how far over it is, and the
    server refuses it with a message beside the field (nothing silently shortened)."""
    page = open_page(PHONE, is_mobile=True)
    sign_in(page, live_server.url, personas.manager.email)
    page.get_by_text("New journey").click()
    field = page.get_by_label("Journey name")
    field.fill(LONG + "XYZ")
    assert field.input_value() == LONG + "XYZ"
    counter = page.locator("#new-journey-name-count")
    assert counter.inner_text() == "203 / 200 characters: 3 too many"
    assert_fits(page, PHONE["width"])
    assert_accessible(page)
    page.screenshot(path=str(SCREENSHOTS / "counter-360.png"), full_page=True)
    page.get_by_role("button", name="Create journey").click()
    page.locator("#new-journey-name-error").wait_for()
    assert "200" in page.locator("#new-journey-name-error").inner_text()
    assert not Journey.objects.filter(name__startswith=LONG[:20]).exists()
    field = page.get_by_label("Journey name")
    assert field.input_value() == LONG + "XYZ"  # given back whole, to shorten
    field.fill("Vet visit")
    assert page.locator("#new-journey-name-count").inner_text() == "9 / 200 characters"
