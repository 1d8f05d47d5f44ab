"""Every role's open pages follow the scores without a reload (web/live.py): a viewer's map
and an evaluator's touch point page, opened before anything was evaluated, show the new
score once a recompute lands, in real Chromium under the strict CSP."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from scoring.services import recompute_journey
from tests.browser.a11y import assert_accessible
from tests.browser.conftest import DESKTOP, SCREENSHOTS, needs_chromium, sign_in
from tests.conftest import Personas
from tests.factories import CriterionFactory, TouchPointFactory
from touchpoints.models import Source
from touchpoints.services import AnswerInput, EvaluationInput, submit_evaluations

pytestmark = [pytest.mark.browser, pytest.mark.slow, needs_chromium]


def test_viewer_map_and_evaluator_touch_point_page_update_after_a_recompute(
    live_server: Any,
    personas: Personas,
    recompute_requests: list[list[int]],
    open_page: Callable[..., Any],
) -> None:
    touch_point = TouchPointFactory(
        stage__journey__organization=personas.org, stage__journey__name="Vet visit", name="Paying"
    )
    criterion = CriterionFactory(touch_point=touch_point)
    viewer = open_page(DESKTOP)
    sign_in(viewer, live_server.url, personas.viewer.email)
    viewer.goto(f"{live_server.url}/journeys/{touch_point.journey_id}/")
    evaluator = open_page(DESKTOP)
    sign_in(evaluator, live_server.url, personas.evaluator.email)
    evaluator.goto(f"{live_server.url}/touch-points/{touch_point.pk}/")
    for page in (viewer, evaluator):
        page.evaluate("window.touchstoneMarker = 'same page'")
    card = viewer.locator(f"#tp-{touch_point.pk} .tp-card__score")
    assert card.inner_text().startswith("—")

    submit_evaluations(
        evaluator=personas.evaluator,
        organization=personas.org,
        items=[
            EvaluationInput(
                touch_point_id=touch_point.pk,
                source=Source.AUDIT,
                observed_at=timezone.now() - timedelta(hours=1),
                answers=[AnswerInput(criterion.pk, 5)],
            )
            for _ in range(6)
        ],
    )
    recompute_journey(touch_point.journey_id)

    viewer.locator(f"#tp-{touch_point.pk} .tp-card__score", has_text="100.0").wait_for(
        timeout=20_000
    )
    evaluator.locator("#tp-scores .figure dd", has_text="100.0").first.wait_for(timeout=20_000)
    for page in (viewer, evaluator):
        assert page.evaluate("window.touchstoneMarker") == "same page"  # no reload
        assert page.console_errors == []


def test_manager_adds_a_criterion_from_the_map_without_leaving_it(
    live_server: Any,
    personas: Personas,
    recompute_requests: list[list[int]],
    open_page: Callable[..., Any],
) -> None:
    touch_point = TouchPointFactory(
        stage__journey__organization=personas.org, stage__journey__name="Vet visit", name="Paying"
    )
    other = TouchPointFactory(stage=touch_point.stage, name="Waiting")
    page = open_page(DESKTOP)
    sign_in(page, live_server.url, personas.manager.email)
    map_url = f"{live_server.url}/journeys/{touch_point.journey_id}/"
    page.goto(map_url)
    page.evaluate("window.touchstoneMarker = 'same page'")

    page.locator(f"#tp-{touch_point.pk} summary").click()
    page.get_by_role("link", name="Criteria of Paying").click()
    editor = page.locator(f"#tp-{touch_point.pk}-criteria-slot #criteria-editor")
    editor.wait_for()
    editor.get_by_text("Add a criterion").click()
    form = editor.locator("#new-criterion")
    form.get_by_label("Criterion").fill("Bill explained")
    form.locator("input[name='kind'][value='yes_no']").check()
    form.get_by_role("button", name="Add criterion").click()
    editor.locator(".criterion-item strong", has_text="Bill explained").wait_for()
    assert touch_point.criteria.filter(name="Bill explained").exists()
    assert_accessible(page, include=f"#tp-{touch_point.pk}")
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / "map-criteria-1280.png"), full_page=True)

    # Another card's criteria: the first editor goes back to its button (one at a time).
    page.locator(f"#tp-{other.pk} summary").click()
    page.get_by_role("link", name="Criteria of Waiting").click()
    page.locator(f"#tp-{other.pk}-criteria-slot #criteria-editor").wait_for()
    assert page.locator("#criteria-editor").count() == 1
    assert page.evaluate("window.touchstoneMarker") == "same page"
    assert page.url == map_url
    assert page.console_errors == []
