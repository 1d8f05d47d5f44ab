"""Criteria from the map (issue 17 item 6), in real Chromium under the strict CSP: a
manager opens a touch point's editor on the journey map and adds, edits and reorders its
criteria -- by mouse (clicks, a drag) and by keyboard (Enter in the form, the move buttons)
-- without leaving the page. After each change every section the change touches shows it:
the criteria list, the card's criteria line, the "No criteria yet" texts gone; after the
editor is closed the map's held refresh runs and the touch point page agrees. The database
holds the order the page shows. Screenshots at 1280 and 360 px with 200-character names."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from journeys.models import Journey
from tests.browser.a11y import assert_accessible
from tests.browser.conftest import DESKTOP, PHONE, SCREENSHOTS, assert_fits, needs_chromium, sign_in
from tests.conftest import Personas
from tests.factories import StageFactory, TouchPointFactory
from touchpoints.models import Criterion, TouchPoint

pytestmark = [pytest.mark.browser, pytest.mark.slow, needs_chromium]

LONG = ("Unbreakablecriterionnamewithoutanyspace" * 6)[:200]


def build(personas: Personas, name: str = "Welcome") -> TouchPoint:
    stage = StageFactory(journey__organization=personas.org, journey__name="Vet visit")
    return TouchPointFactory(stage=stage, name=name)


def listed(page: Any) -> list[str]:
    return page.locator("#criteria-editor .criterion-item strong").all_inner_texts()


def in_db(touch_point: TouchPoint) -> list[str]:
    return list(
        Criterion.objects.filter(touch_point=touch_point, archived_at__isnull=True)
        .order_by("position")
        .values_list("name", flat=True)
    )


def card_line(page: Any, touch_point: TouchPoint) -> Any:
    return page.locator(f"#tp-{touch_point.pk}-criteria-count")


def open_criteria(page: Any, touch_point: TouchPoint) -> None:
    page.locator(f"#tp-{touch_point.pk} details.editor > summary").click()
    page.get_by_role("link", name=f"Criteria of {touch_point.name}").click()
    page.locator("#criteria-editor h2", has_text="Edit what evaluators check").wait_for()


def test_a_manager_adds_edits_and_reorders_criteria_on_the_map_by_mouse_and_keyboard(
    live_server: Any,
    personas: Personas,
    recompute_requests: list[list[int]],
    open_page: Callable[..., Any],
) -> None:
    touch_point = build(personas)
    base = live_server.url
    page = open_page(DESKTOP)
    sign_in(page, base, personas.manager.email)
    map_url = f"{base}/journeys/{touch_point.journey_id}/"
    page.goto(map_url)
    page.evaluate("window.__samePage = true")  # gone if anything navigates
    assert card_line(page, touch_point).inner_text() == (
        "No criteria yet: evaluators have nothing to check"
    )

    open_criteria(page, touch_point)
    editor = page.locator("#criteria-editor")
    assert editor.get_by_text("No criteria yet").is_visible()

    # Add by mouse: the list, the card's line, and the "No criteria yet" text follow.
    page.get_by_text("Add a criterion").click()
    form = page.locator("#new-criterion")
    form.get_by_label("Criterion").fill("Greeted")
    form.locator("input[name='kind'][value='scale']").check()
    form.get_by_role("button", name="Add criterion").click()
    editor.locator(".criterion-item strong", has_text="Greeted").wait_for()
    assert listed(page) == ["Greeted"]
    assert editor.get_by_text("No criteria yet").count() == 0
    assert card_line(page, touch_point).inner_text() == "1 criterion"

    # Add by keyboard: focus the summary, Enter opens it, type, Enter submits.
    page.locator("#criteria-editor summary", has_text="Add a criterion").focus()
    page.keyboard.press("Enter")
    page.locator("#new-criterion-name").focus()
    page.keyboard.type("Name asked")
    page.keyboard.press("Enter")
    editor.locator(".criterion-item strong", has_text="Name asked").wait_for()
    assert listed(page) == ["Greeted", "Name asked"]
    assert card_line(page, touch_point).inner_text() == "2 criteria"
    assert page.locator("#editor-status").inner_text() != ""  # announced to screen readers

    # Edit by mouse: the list shows the new name; the card's count stays.
    item = editor.locator(".criterion-item", has_text="Greeted")
    item.locator("summary").click()
    item.get_by_label("Criterion").fill("Greeted warmly")
    item.get_by_role("button", name="Save Greeted").click()
    editor.locator(".criterion-item strong", has_text="Greeted warmly").wait_for()
    assert listed(page) == ["Greeted warmly", "Name asked"]
    assert in_db(touch_point) == ["Greeted warmly", "Name asked"]

    # Reorder by keyboard: Enter on "Move Name asked up"; focus stays with the item.
    page.get_by_role("button", name="Move Name asked up").focus()
    page.keyboard.press("Enter")
    page.wait_for_function(
        "() => document.querySelector('#criteria-editor .criterion-item strong')"
        ".textContent === 'Name asked'"
    )
    assert listed(page) == ["Name asked", "Greeted warmly"]
    assert in_db(touch_point) == ["Name asked", "Greeted warmly"]
    focused = page.evaluate("document.activeElement.textContent")
    assert "Name asked" in focused, focused

    # Reorder by mouse: drag "Greeted warmly" by its handle above "Name asked".
    handle = editor.locator(".criterion-item", has_text="Greeted warmly").locator(".drag-handle")
    start = handle.bounding_box()
    end = editor.locator(".criterion-item", has_text="Name asked").bounding_box()
    with page.expect_response(lambda r: "/move/" in r.url and r.request.method == "POST"):
        page.mouse.move(start["x"] + start["width"] / 2, start["y"] + start["height"] / 2)
        page.mouse.down()
        for step in range(1, 11):  # SortableJS in fallback mode: plain mouse events
            page.mouse.move(
                start["x"] + (end["x"] + 20 - start["x"]) * step / 10,
                start["y"] + (end["y"] + 8 - start["y"]) * step / 10,
            )
        page.mouse.up()
    page.wait_for_load_state("networkidle")
    assert listed(page) == ["Greeted warmly", "Name asked"]
    assert in_db(touch_point) == ["Greeted warmly", "Name asked"]
    assert card_line(page, touch_point).inner_text() == "2 criteria"

    assert_accessible(page)
    assert page.evaluate("window.__samePage") is True  # never left the page
    assert page.url == map_url

    # Closing the editor lets the held map refresh run: the map from the server agrees.
    page.locator(f"#tp-{touch_point.pk} details.editor > summary").first.click()
    page.wait_for_load_state("networkidle")
    assert card_line(page, touch_point).inner_text() == "2 criteria"
    assert page.evaluate("window.__samePage") is True

    # The touch point page lists them in the map's order, with no "No criteria yet".
    page.goto(f"{base}/touch-points/{touch_point.pk}/")
    criteria = page.locator("section", has=page.locator("h2", has_text="Criteria")).first
    assert criteria.get_by_text("No criteria yet").count() == 0
    names = page.locator("table td:first-child").all_inner_texts()
    assert [n.splitlines()[0] for n in names[:2]] == ["Greeted warmly", "Name asked"]
    assert page.console_errors == []


@pytest.mark.parametrize("size", ["1280", "360"])
def test_the_maps_criteria_editor_fits_with_200_character_names(
    live_server: Any,
    personas: Personas,
    recompute_requests: list[list[int]],
    open_page: Callable[..., Any],
    size: str,
) -> None:
    touch_point = build(personas, name=LONG.replace("criterion", "touchpoint")[:200])
    Journey.objects.filter(pk=touch_point.journey_id).update(name=LONG[::-1])
    viewport = DESKTOP if size == "1280" else PHONE
    page = open_page(viewport, is_mobile=viewport is PHONE)
    sign_in(page, live_server.url, personas.manager.email)
    page.goto(f"{live_server.url}/journeys/{touch_point.journey_id}/")
    open_criteria(page, touch_point)
    page.get_by_text("Add a criterion").click()
    page.locator("#new-criterion").get_by_label("Criterion").fill(LONG)
    page.locator("#new-criterion").get_by_role("button", name="Add criterion").click()
    page.locator("#criteria-editor .criterion-item strong", has_text=LONG).wait_for()
    assert card_line(page, touch_point).inner_text() == "1 criterion"
    assert_fits(page, viewport["width"])
    assert_accessible(page)
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"map-criteria-long-{size}.png"), full_page=True)
    assert page.console_errors == []
