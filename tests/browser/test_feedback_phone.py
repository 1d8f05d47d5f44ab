"""A customer's own voice, end to end in real Chromium: a manager opens a link's poster,
the QR code on it is decoded from a screenshot (zxing-cpp) to the URL a phone would open,
a customer on a 360 px phone answers in three taps and gets the thank-you page, and after
a real worker's recompute the map card counts the customer voice and the score has moved.
Also: the German page is fully translated, the page can be completed by keyboard alone,
and axe-core finds no WCAG 2.2 A/AA violation on it."""

from __future__ import annotations

import io
import re
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import zxingcpp
from PIL import Image

from feedback import services
from feedback.models import FeedbackLink
from scoring.models import StaleMark
from tests.browser.a11y import assert_accessible
from tests.browser.conftest import (
    DESKTOP,
    PHONE,
    SCREENSHOTS,
    assert_fits,
    needs_chromium,
    sign_in,
)
from tests.conftest import Personas
from tests.factories import SiteFactory, TouchPointFactory
from tests.processes import RedisServer, Worker, publishing_to, wait_for
from touchpoints.models import Criterion, CriterionKind, Evaluation, Source, TouchPoint
from touchpoints.services import create_criterion

pytestmark = [pytest.mark.browser, pytest.mark.worker, needs_chromium]

MIN_TARGET_PX = 44
# Every English text of the public pages; none may be left on the German page.
ENGLISH = (
    "Your feedback",
    "Send",
    "Yes",
    "No",
    "worst",
    "best",
    "Anything else",
    "personal data",
    "Thank you",
)


@pytest.fixture
def worker(transactional_db: None) -> Iterator[Worker]:
    """A real worker on a private broker that this process (the live server) publishes to."""
    broker = RedisServer()
    broker.start()
    started = Worker(broker.url)
    try:
        with publishing_to(broker.url):
            started.start(timeout=120)
            yield started
    finally:
        started.stop()
        broker.stop()


@pytest.fixture
def counter(transactional_db: None, personas: Personas) -> tuple[TouchPoint, FeedbackLink]:
    """A touch point asking two questions (a labelled scale and a yes/no) and a comment,
    with a long, hostile-looking name, and one link tied to a site."""
    touch_point = TouchPointFactory(
        stage__journey__organization=personas.org,
        stage__journey__name="Vet visit",
        stage__name="Arrive",
        name="Welcome at the counter of the Kleintierpraxis Süd-Ost <b>&amp; “24h” Notdienst</b>",
    )
    scale = create_criterion(
        actor=personas.manager,
        touch_point=touch_point,
        name="Warmth of the welcome",
        kind=CriterionKind.SCALE,
        scale_size=5,
    )
    yes_no = create_criterion(
        actor=personas.manager, touch_point=touch_point, name="On time", kind=CriterionKind.YES_NO
    )
    services.save_questions(
        actor=personas.manager,
        touch_point=touch_point,
        questions=[
            services.QuestionInput(scale.pk, "How warmly were you and your pet welcomed today?"),
            services.QuestionInput(yes_no.pk, "Were you seen at the time you were given?"),
        ],
        ask_comment=True,
    )
    site = SiteFactory(organization=personas.org, name="Oslo central")
    link = services.create_link(
        actor=personas.manager, touch_point=touch_point, label="Counter poster", site_id=site.pk
    )
    return touch_point, link


def shot(page: Any, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / name), full_page=True)


def decode_qr(png: bytes) -> str:
    """The text of the one QR code in a PNG, read by zxing-cpp (a real decoder)."""
    found = zxingcpp.read_barcodes(Image.open(io.BytesIO(png)).convert("L"))
    codes = [b for b in found if b.format == zxingcpp.BarcodeFormat.QRCode]
    assert len(codes) == 1, f"expected one QR code, decoded {[b.text for b in found]}"
    return str(codes[0].text)


def assert_big_targets(page: Any) -> None:
    for locator in (page.locator("label.fb__choice"), page.locator(".fb__send")):
        for i in range(locator.count()):
            box = locator.nth(i).bounding_box()
            label = locator.nth(i).inner_text()
            assert box["height"] >= MIN_TARGET_PX, f"{label!r} is too small"
            assert box["width"] >= MIN_TARGET_PX, f"{label!r} is too narrow"


def test_poster_qr_to_three_taps_on_a_phone_then_the_score_counts_the_customer(
    live_server: Any,
    personas: Personas,
    counter: tuple[TouchPoint, FeedbackLink],
    worker: Worker,
    open_page: Callable[..., Any],
) -> None:
    touch_point, link = counter
    base = live_server.url
    journey_url = f"/journeys/{touch_point.journey_id}/"

    # The manager: the set-up page, the poster, and the map before any customer answered.
    desk = open_page(DESKTOP)
    sign_in(
        desk, base, personas.manager.email, next_url=f"/feedback/touch-points/{touch_point.pk}/"
    )
    shot(desk, "feedback-setup-1280.png")
    desk.get_by_role("link", name=re.compile("^Poster")).click()
    desk.wait_for_url(re.compile(r"/poster/"))
    shot(desk, "feedback-poster-a4-1280.png")
    url = decode_qr(desk.locator(".poster__qr").screenshot())
    assert url == f"{base}/f/{link.token}/"
    assert url.split("://", 1)[1] in desk.locator(".poster__url").inner_text()
    assert desk.console_errors == []
    desk.goto(f"{base}{journey_url}")
    card = desk.locator(f"#tp-{touch_point.pk}")
    assert "Customer voices" not in card.inner_text()
    score_before = card.locator(".tp-card__score").inner_text()

    # The customer: the decoded URL on a phone, three taps.
    phone = open_page(PHONE, device_scale_factor=2, is_mobile=True, has_touch=True)
    phone.goto(url)
    assert_fits(phone, PHONE["width"])
    assert_big_targets(phone)
    assert_accessible(phone)
    shot(phone, "feedback-answer-360.png")
    scale, yes_no = Criterion.objects.filter(touch_point=touch_point).order_by("position")
    phone.locator(f"label[for='q{scale.pk}-5']").tap()  # 1
    phone.locator(f"label[for='q{yes_no.pk}-1']").tap()  # 2
    phone.get_by_role("button", name="Send").tap()  # 3
    phone.wait_for_url(f"{base}/f/{link.token}/thanks/")
    assert "Thank you!" in phone.locator("h1").inner_text()
    assert phone.locator("form").count() == 0  # no invitation to answer again
    assert_accessible(phone)
    shot(phone, "feedback-thanks-360.png")
    assert phone.console_errors == []

    evaluation = Evaluation.objects.get(touch_point=touch_point)
    assert evaluation.source == Source.CUSTOMER_SURVEY and evaluation.evaluator_id is None
    assert evaluation.site_id == link.site_id
    assert {a.criterion_id: a.value for a in evaluation.answers.all()} == {
        scale.pk: 5,
        yes_no.pk: 1,
    }

    # The real worker recomputes; the map then counts the voice, and the score moved.
    wait_for(lambda: not StaleMark.objects.filter(touch_point=touch_point).exists(), timeout=60)
    desk.goto(f"{base}{journey_url}")
    card = desk.locator(f"#tp-{touch_point.pk}")
    assert re.search(r"Customer voices\s*1\b", card.inner_text()), card.inner_text()
    assert card.locator(".tp-card__score").inner_text() != score_before
    shot(desk, "feedback-map-1280.png")
    desk.goto(f"{base}/touch-points/{touch_point.pk}/")
    assert "Customers, via link: 1" in desk.locator("body").inner_text()
    shot(desk, "feedback-touch-point-1280.png")
    # The manager's pages on a phone too.
    desk.set_viewport_size(PHONE)
    for path, name in (
        (f"/touch-points/{touch_point.pk}/", "feedback-touch-point-360.png"),
        (f"/feedback/touch-points/{touch_point.pk}/", "feedback-setup-360.png"),
        (f"/feedback/links/{link.pk}/poster/?size=a6", "feedback-poster-a6-360.png"),
    ):
        desk.goto(f"{base}{path}")
        if "/feedback/" in path:  # the touch point page's status badge is h17's (issue 17)
            assert_fits(desk, PHONE["width"])
        shot(desk, name)
    assert_accessible(desk)  # the poster


def test_german_page_is_fully_translated(
    live_server: Any, counter: tuple[TouchPoint, FeedbackLink], open_page: Callable[..., Any]
) -> None:
    _, link = counter
    phone = open_page(PHONE, locale="de-DE", device_scale_factor=2, is_mobile=True, has_touch=True)
    phone.goto(f"{live_server.url}/f/{link.token}/")
    assert phone.locator("html").get_attribute("lang") == "de"
    # The manager's texts stay as entered; everything else is German.
    text = phone.locator("body").inner_text()
    for question in (
        "How warmly were you and your pet welcomed today?",
        "Were you seen at the time you were given?",
        "Welcome at the counter",
    ):
        text = text.replace(question, "")
    for english in ENGLISH:
        assert not re.search(rf"\b{english}\b", text), f"{english!r} untranslated:\n{text}"
    for german in ("Ihr Feedback", "Ja", "Nein", "Senden", "personenbezogenen"):
        assert german in text
    assert_accessible(phone)
    shot(phone, "feedback-answer-de-360.png")
    phone.get_by_role("button", name="Senden").tap()  # nothing chosen: an announced error
    alert = phone.get_by_role("alert")
    assert "Bitte beantworten Sie mindestens eine Frage." in alert.inner_text()
    assert_accessible(phone)
    shot(phone, "feedback-error-de-360.png")


def test_keyboard_only_completion(
    live_server: Any, counter: tuple[TouchPoint, FeedbackLink], open_page: Callable[..., Any]
) -> None:
    _, link = counter
    page = open_page(PHONE)
    page.goto(f"{live_server.url}/f/{link.token}/")
    page.keyboard.press("Tab")  # the first question's first choice
    page.keyboard.press("ArrowRight")  # ... moved to 2, which selects it
    page.keyboard.press("ArrowRight")  # 3
    focused = page.evaluate("document.activeElement.id")
    assert focused.endswith("-3"), focused
    # The focus is visible: an outline on the label of the focused radio.
    outline = page.evaluate(
        "getComputedStyle(document.querySelector(`label[for='${document.activeElement.id}']`)).outlineStyle"
    )
    assert outline == "solid"
    page.keyboard.press("Tab")  # the yes/no question
    page.keyboard.press("Space")  # "Yes"
    page.keyboard.press("Tab")  # the comment
    page.keyboard.type("Quick & kind — <thanks>")
    page.keyboard.press("Tab")  # Send (the honeypot is not in the tab order)
    assert page.evaluate("document.activeElement.className") == "fb__send"
    page.keyboard.press("Enter")
    page.wait_for_url(f"{live_server.url}/f/{link.token}/thanks/")
    evaluation = Evaluation.objects.get()
    assert evaluation.comment == "Quick & kind — <thanks>"
    assert len(list(evaluation.answers.all())) == 2


def test_poster_prints_on_one_a4_or_one_a6_sheet(
    live_server: Any,
    personas: Personas,
    counter: tuple[TouchPoint, FeedbackLink],
    open_page: Callable[..., Any],
) -> None:
    """The print stylesheet's named pages: A4 and A6, one sheet each, the QR code kept."""
    _, link = counter
    page = open_page(DESKTOP)
    poster = f"/feedback/links/{link.pk}/poster/"
    sign_in(page, live_server.url, personas.manager.email, next_url=poster)
    sizes = {"a4": (595, 842), "a6": (298, 420)}  # points, rounded
    for size, (width, height) in sizes.items():
        page.goto(f"{live_server.url}{poster}?size={size}")
        pdf = page.pdf(prefer_css_page_size=True, print_background=True)
        boxes = re.findall(rb"/MediaBox \[\s*0 0 ([\d.]+) ([\d.]+)\s*\]", pdf)
        assert len(boxes) == 1, f"{size}: {len(boxes)} pages"
        assert (round(float(boxes[0][0])), round(float(boxes[0][1]))) == (width, height)
