"""A manager maps a journey in real Chromium without a reload, an evaluator on a phone
evaluates it, and the manager's open map shows the new score and the weak link by itself.

Real parts throughout: the live server, a Celery worker on a private redis-server (the live
server publishes there too), and the test database. The map's refresh waits while an edit
is open, and runs once it is closed.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from journeys.models import Journey, Stage
from scoring.models import TouchPointScore
from tests.browser.conftest import DESKTOP, PHONE, SCREENSHOTS, needs_chromium, sign_in
from tests.conftest import Personas
from tests.processes import RedisServer, Worker, publishing_to, wait_for
from touchpoints.models import Criterion, Evaluation, TouchPoint

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.worker, needs_chromium]

WAIT_MS = 30_000


@pytest.fixture
def worker(transactional_db: None) -> Iterator[Worker]:
    """A real worker on a private broker that this process (the live server) publishes to."""
    broker = RedisServer()
    broker.start()
    started = Worker(broker.url)
    try:
        with publishing_to(broker.url):
            started.start()
            yield started
    finally:
        started.stop()
        broker.stop()


def stage_names(page: Any) -> list[str]:
    return [
        text.split(": ", 1)[-1] for text in page.locator("#map-body li.stage h2").all_inner_texts()
    ]


def card_names(page: Any, stage: Stage) -> list[str]:
    column = page.locator("#map-body li.stage").filter(
        has=page.locator(f"[data-stage='{stage.pk}']")
    )
    return column.locator(".tp-card h3").all_inner_texts()


def db_order(stage: Stage) -> list[str]:
    return list(
        TouchPoint.objects.filter(stage=stage, archived_at__isnull=True)
        .order_by("position")
        .values_list("name", flat=True)
    )


def add_stage(page: Any, name: str) -> Stage:
    page.get_by_label("New stage name").fill(name)
    page.get_by_role("button", name="Add stage").click()
    page.locator("#map-body li.stage h2", has_text=name).wait_for()
    return Stage.objects.get(name=name)


def add_touch_point(page: Any, stage: Stage, name: str, channel: str, importance: str) -> None:
    page.locator("summary", has_text=f"Add a touch point to {stage.name}").click()
    form = page.locator(f"#stage-{stage.pk}-add")
    form.get_by_label("Name").fill(name)
    form.get_by_label("Channel").select_option(label=channel)
    form.get_by_label("Importance (1–5)").select_option(importance)
    form.get_by_role("button", name="Add touch point").click()
    page.locator(".tp-card h3", has_text=name).wait_for()


def add_criterion(page: Any, name: str, kind: str, **fields: str) -> None:
    page.get_by_text("Add a criterion").click()
    form = page.locator("#new-criterion")
    form.get_by_label("Criterion").fill(name)
    form.locator(f"input[name='kind'][value='{kind}']").check()
    for label, value in fields.items():
        if label == "critical":
            form.get_by_label("Critical", exact=False).check()
        else:
            form.get_by_label(label).fill(value)
    form.get_by_role("button", name="Add criterion").click()
    page.locator("#criteria-editor .criterion-item strong", has_text=name).wait_for()


def until(page: Any, expression: str, timeout: float = 10) -> None:
    """Wait until a JavaScript expression holds. (wait_for_function evaluates its predicate
    through eval, which the strict CSP forbids on our pages; evaluate does not.)"""
    wait_for(lambda: page.evaluate(expression), timeout=timeout, interval=0.1)


def drag(
    page: Any, handle: Any, target: Any, placed: str, held: Callable[[], None] | None = None
) -> None:
    """Drag by the handle onto the upper part of `target`, and let go once `placed` (a
    JavaScript expression) holds: the held item has moved in the page. SortableJS runs in
    fallback mode (plain mouse events, the same on touch screens) and only reacts to the
    pointer on a 50 ms timer, so a drop released before that timer has seen the pointer over
    the target moves nothing; under load the timer lags far behind the mouse events."""
    # Grab a quiet map: every list bound to Sortable, no recompute pending (its card polls,
    # then the whole map refreshes), no request in flight that would redraw it.
    until(
        page,
        "!document.querySelector('ol.cards:not([data-sortable]), #map-body .pending,"
        " .htmx-request')",
        timeout=30,
    )
    start = handle.bounding_box()
    end = target.bounding_box()
    page.mouse.move(start["x"] + start["width"] / 2, start["y"] + start["height"] / 2)
    page.mouse.down()
    for step in range(1, 11):
        page.mouse.move(
            start["x"] + (end["x"] + 20 - start["x"]) * step / 10,
            start["y"] + (end["y"] + 8 - start["y"]) * step / 10,
        )
    until(page, placed)
    if held is not None:
        held()
    page.mouse.up()


def evaluate_badly(phone: Any, base: str, touch_point: TouchPoint) -> None:
    phone.goto(f"{base}/evaluate/?touch_point={touch_point.pk}")
    phone.locator("label.choice", has_text="Cold").first.click()
    phone.locator("fieldset", has_text="Pet greeted").get_by_text("No", exact=True).click()
    phone.get_by_label("Measured value (seconds)").fill("600")
    phone.locator("label.choice", has_text="Mystery shopper").click()
    phone.get_by_role("button", name="Submit evaluation").click()
    phone.get_by_role("heading", name="Evaluation saved").wait_for()


def test_manager_maps_reorders_and_sees_the_weak_link_land_without_a_reload(
    live_server: Any, personas: Personas, worker: Worker, open_page: Callable[..., Any]
) -> None:
    base = live_server.url
    personas.org.min_n = 2  # two evaluations give a status, so the test stays short
    personas.org.save(update_fields=["min_n"])
    page = open_page(DESKTOP)
    sign_in(page, base, personas.manager.email)

    # A new journey from the overview, then its stages and touch points on the map.
    page.get_by_text("New journey").click()
    page.get_by_label("Journey name").fill("Vet visit")
    page.get_by_role("button", name="Create journey").click()
    page.wait_for_url(re.compile(r"/journeys/\d+/$"))
    journey = Journey.objects.get(name="Vet visit")
    assert page.url == f"{base}/journeys/{journey.pk}/"
    page.evaluate("window.touchstoneMarker = 'same page'")
    arrive = add_stage(page, "Arrive")
    pay = add_stage(page, "Pay")
    add_touch_point(page, arrive, "Welcome", "In person", "5")
    add_touch_point(page, arrive, "Waiting room", "Physical environment", "3")
    add_touch_point(page, pay, "Bill", "In person", "4")

    # A refused name is shown beside its field, and nothing is stored.
    page.locator("summary", has_text="Add a touch point to Pay").click()
    page.locator(f"#stage-{pay.pk}-add").get_by_role("button", name="Add touch point").click()
    error = page.locator(f"#add-tp-{pay.pk}-name-error")
    error.wait_for()
    assert "This field is required." in error.inner_text()
    assert TouchPoint.objects.count() == 3
    page.locator("summary", has_text="Add a touch point to Pay").click()  # close it again

    # Drag and drop: Waiting room above Welcome.
    welcome = TouchPoint.objects.get(name="Welcome")
    waiting = TouchPoint.objects.get(name="Waiting room")

    # A score landing while the card is held must not redraw the map under the pointer (that
    # lost the drop): the refresh waits, and runs once the drop's answer is in.
    def score_lands() -> None:
        asked = page.evaluate(
            "htmx.trigger(document.body, 'touchstone:scored'),"
            " document.getElementById('map-body').classList.contains('htmx-request')"
        )
        assert not asked, "the map refreshed while a card was held"

    map_url = f"{base}/journeys/{journey.pk}/map/"
    with (
        page.expect_response(lambda r: r.url.startswith(map_url)),
        page.expect_response(lambda r: r.url.endswith(f"/edit/touch-points/{waiting.pk}/move/")),
    ):
        drag(
            page,
            page.locator(f"#tp-{waiting.pk} .drag-handle"),
            page.locator(f"#tp-{welcome.pk}"),
            # The held card, not the ghost that follows the pointer (same id, appended last).
            f"document.querySelector('#tp-{waiting.pk}.sortable-chosen:not(.sortable-fallback)')"
            f"?.nextElementSibling?.id === 'tp-{welcome.pk}'",
            held=score_lands,
        )
    until(page, "document.querySelector('.htmx-request') === null")  # the refresh is swapped in
    until(
        page,
        f"document.querySelector('#tp-{waiting.pk}').nextElementSibling?.id === 'tp-{welcome.pk}'",
    )
    assert db_order(arrive) == ["Waiting room", "Welcome"]
    assert card_names(page, arrive) == ["Waiting room", "Welcome"]

    # Keyboard: Welcome to the next stage, then up above Bill; focus stays on the item.
    page.locator(f"#tp-{welcome.pk} summary").focus()
    page.keyboard.press("Enter")
    page.get_by_role("button", name="Move Welcome to the next stage").focus()
    with page.expect_response(lambda r: "/move/" in r.url):
        page.keyboard.press("Enter")
    # Now last of the last stage: focus falls back to the move still possible, "up".
    focus_on_welcome = (
        f"document.activeElement?.dataset?.focusKey?.startsWith('/edit/touch-points/{welcome.pk}/')"
    )
    until(page, focus_on_welcome)
    assert page.evaluate("document.activeElement.textContent").split() == [
        "↑",
        "Move",
        "Welcome",
        "up",
    ]
    with page.expect_response(lambda r: "/move/" in r.url):
        page.keyboard.press("Enter")
    until(
        page,
        f"document.querySelector('#tp-{welcome.pk}').nextElementSibling?.id === 'tp-{TouchPoint.objects.get(name='Bill').pk}'",
    )
    assert db_order(arrive) == ["Waiting room"] and db_order(pay) == ["Welcome", "Bill"]
    assert card_names(page, pay) == ["Welcome", "Bill"]
    until(page, focus_on_welcome)

    # The map in edit mode, for people to look at.
    page.get_by_role("link", name="Edit details of Welcome").click()
    page.locator(f"#tp-{welcome.pk}-edit").wait_for()
    page.locator(f"[data-stage='{pay.pk}'] summary").click()
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / "map-editing-1280.png"), full_page=True)
    page.locator(f"[data-stage='{pay.pk}'] summary").click()

    # Criteria of each kind, on the touch point's page.
    page.goto(f"{base}/touch-points/{welcome.pk}/")
    page.locator("#criteria-editor h2", has_text="Edit what evaluators check").wait_for()
    add_criterion(
        page,
        "Warmth",
        "scale",
        **{"Number of points (2–11)": "3", "Labels, one per line (optional)": "Cold\nPolite\nWarm"},
    )
    add_criterion(page, "Pet greeted", "yes_no", critical="1")
    add_criterion(
        page,
        "Time waiting",
        "numeric",
        **{
            "Target value (full marks)": "60",
            "Worst value (no marks)": "600",
            "Unit (e.g. seconds)": "seconds",
        },
    )
    kinds = [
        c.rubric.kind for c in Criterion.objects.filter(touch_point=welcome).order_by("position")
    ]
    assert kinds == ["scale", "yes_no", "numeric"]
    assert Criterion.objects.get(name="Pet greeted").rubric.critical
    # The refused touch point's 400 is the only thing the console reports (no CSP violation).
    assert page.console_errors == [
        "Failed to load resource: the server responded with a status of 400 (Bad Request)"
    ]

    # Back on the map, with an edit open: the refresh must wait for it.
    page.goto(f"{base}/journeys/{journey.pk}/")
    page.evaluate("window.touchstoneMarker = 'same page'")
    page.locator(f"#tp-{welcome.pk} summary").click()

    phone = open_page(PHONE, is_mobile=True, has_touch=True)
    sign_in(phone, base, personas.evaluator.email, next_url="/evaluate/")
    evaluate_badly(phone, base, welcome)
    evaluate_badly(phone, base, welcome)
    assert Evaluation.objects.filter(touch_point=welcome).count() == 2

    # Scored by the worker, but the open edit keeps the map as it was.
    wait_for(lambda: TouchPointScore.objects.filter(touch_point=welcome, n=2).exists(), timeout=30)
    page.wait_for_timeout(6_000)  # longer than the watcher's and the cards' poll intervals
    assert page.locator(".callout--weak").count() == 0
    assert page.locator(f"#tp-{welcome.pk} details.editor").get_attribute("open") is not None

    # Closing the edit lets the refresh run: the new score and the weak link, no reload.
    page.locator(f"#tp-{welcome.pk} summary").click()
    page.locator(".callout--weak").get_by_role("link", name="Welcome").wait_for(timeout=WAIT_MS)
    card = page.locator(f"#tp-{welcome.pk}")
    assert "Weak link" in card.inner_text()
    assert "—" not in card.locator(".tp-card__score").inner_text()
    assert page.evaluate("window.touchstoneMarker") == "same page"
    assert len(page.console_errors) == 1
    assert phone.console_errors == []

    # A viewer sees the same map with no edit controls.
    viewer = open_page(DESKTOP)
    sign_in(viewer, base, personas.viewer.email, next_url=f"/journeys/{journey.pk}/")
    viewer.locator(".callout--weak").wait_for()
    assert viewer.locator("[data-edit-controls]").count() == 0
    assert viewer.locator(".drag-handle, details.editor, #add-stage").count() == 0
    assert viewer.get_by_role("button", name="Move Welcome up").count() == 0
