"""Hostile text in real Chromium (RELIABILITY S6): names and comments carrying script tags,
an `onerror` image, a `javascript:` URL and right-to-left and emoji text are shown as the
very text people typed, on every page that shows them: the map, the touch-point page, the
evaluation form and its confirmation, the overview, the editor's forms and the admin's
lists and change forms (as a staff superuser).

The browser is the judge, not a regex over the HTML: Playwright listens for dialogs
(`alert(1)` would open one), console errors (Chromium reports every CSP violation there),
page errors, and requests for the image `x` that the `<img src=x>` payload would fetch if it
were ever parsed as markup. Every HTML response, full page or htmx part, carries the CSP
with object-src 'none', base-uri 'none' and frame-ancestors.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest
from django.urls import reverse
from django.utils import timezone

from journeys.models import Journey
from scoring.services import recompute_journey
from tests.browser.a11y import assert_accessible
from tests.browser.conftest import DESKTOP, needs_chromium, sign_in
from tests.conftest import Personas
from tests.factories import (
    CriterionFactory,
    JourneyFactory,
    MembershipFactory,
    SiteFactory,
    StageFactory,
    TouchPointFactory,
    UserFactory,
)
from touchpoints.models import Criterion, CriterionKind, Evaluation, Site, TouchPoint
from touchpoints.services import AnswerInput, EvaluationInput, submit_evaluations

pytestmark = [pytest.mark.browser, needs_chromium]

SCRIPT = "<script>alert(1)</script>"
IMG = '"><img src=x onerror=alert(1)>'
JS_URL = "javascript:alert(1)"
RTL = "مرحبا \u202eevil\u202c שלום 🎉👍🏽"
PAYLOADS = (SCRIPT, IMG, JS_URL, RTL)
CSP_MUST_HAVE = ("object-src 'none'", "base-uri 'none'", "frame-ancestors")


@dataclass
class Hostile:
    journey: Journey
    touch_point: TouchPoint  # named SCRIPT, its criterion IMG, four hostile comments
    criterion: Criterion
    site: Site
    evaluation: Evaluation


@pytest.fixture
def hostile(transactional_db: None, personas: Personas, recompute_requests: Any) -> Hostile:
    org = personas.org
    journey = JourneyFactory(organization=org, name=SCRIPT, description=IMG, target=80.0)
    first = StageFactory(journey=journey, name=IMG)
    second = StageFactory(journey=journey, name=JS_URL)
    touch_point = TouchPointFactory(
        stage=first, name=SCRIPT, description=RTL, owner_team=JS_URL, importance=5
    )
    TouchPointFactory(stage=first, name=RTL)
    TouchPointFactory(stage=second, name=IMG)
    criterion = CriterionFactory(
        touch_point=touch_point, name=IMG, kind=CriterionKind.YES_NO, description=SCRIPT
    )
    sites = [SiteFactory(organization=org, name=text) for text in PAYLOADS]
    evaluations = submit_evaluations(
        evaluator=personas.evaluator,
        organization=org,
        items=[
            EvaluationInput(
                touch_point_id=touch_point.pk,
                source="supervisor",
                observed_at=timezone.now() - timedelta(hours=i + 1),
                site_id=site.pk,
                answers=[AnswerInput(criterion.pk, 0)],
                comment=text,
            )
            for i, (site, text) in enumerate(zip(sites, PAYLOADS, strict=True))
        ],
    )
    recompute_journey(journey.pk)
    return Hostile(journey, touch_point, criterion, sites[1], evaluations[0])


@dataclass
class Watched:
    """A page with every listener a hostile payload could trip."""

    page: Any
    dialogs: list[str]
    html_responses: list[Any]
    payload_fetches: list[str]


def watched(open_page: Callable[..., Any]) -> Watched:
    page = open_page(DESKTOP)
    dialogs: list[str] = []
    html: list[Any] = []
    fetches: list[str] = []

    def on_dialog(dialog: Any) -> None:
        dialogs.append(f"{dialog.type}: {dialog.message} on {page.url}")
        dialog.dismiss()

    def on_response(response: Any) -> None:
        if "text/html" in (response.headers.get("content-type") or ""):
            html.append(response)

    def on_request(request: Any) -> None:
        if request.url.rstrip("/").endswith("/x"):
            fetches.append(f"{request.url} from {page.url}")

    page.on("dialog", on_dialog)
    page.on("response", on_response)
    page.on("request", on_request)
    return Watched(page, dialogs, html, fetches)


def visit(w: Watched, url: str, *shown: str) -> None:
    """Open `url` and check each of `shown` is on the page as the literal text."""
    w.page.goto(url)
    w.page.wait_for_load_state("load")
    text = w.page.locator("body").inner_text()
    missing = [s for s in shown if s not in text]
    assert not missing, f"{url} does not show {missing} as text"
    assert w.page.locator("a[href^='javascript:' i], [src^='javascript:' i]").count() == 0, url
    assert w.page.locator("img[src='x'], img[onerror]").count() == 0, url


def assert_nothing_ran(w: Watched) -> None:
    assert w.dialogs == [], w.dialogs
    assert w.page.console_errors == [], w.page.console_errors  # CSP violations land here
    assert w.payload_fetches == [], w.payload_fetches
    assert w.html_responses, "no HTML response was seen"
    for response in w.html_responses:
        policy = response.all_headers().get("content-security-policy", "")
        lacking = [d for d in CSP_MUST_HAVE if d not in policy]
        assert not lacking, f"{response.url}: CSP lacks {lacking} ({policy!r})"


def test_hostile_names_and_comments_are_shown_as_text_to_members(
    live_server: Any, personas: Personas, hostile: Hostile, open_page: Callable[..., Any]
) -> None:
    base = live_server.url
    w = watched(open_page)
    tp = hostile.touch_point
    sign_in(w.page, base, personas.manager.email)

    visit(w, f"{base}/", SCRIPT)
    assert_accessible(w.page)
    visit(w, f"{base}/journeys/{hostile.journey.pk}/", SCRIPT, IMG, JS_URL, RTL)
    assert_accessible(w.page)
    visit(w, f"{base}/touch-points/{tp.pk}/", SCRIPT, IMG, JS_URL, RTL)
    assert_accessible(w.page)
    # The card and score parts htmx polls, and the editor's forms, with the names as values.
    w.page.goto(f"{base}/edit/touch-points/{tp.pk}/")
    assert w.page.get_by_label("Name").first.input_value() == SCRIPT
    w.page.goto(f"{base}/edit/touch-points/{tp.pk}/criteria/")
    assert w.page.locator(f"input[value='{IMG}']").count() >= 1
    visit(w, f"{base}/journeys/{hostile.journey.pk}/history/")
    assert_accessible(w.page)
    # The evaluation form: names in its headings, sites in its list, a search echoed back.
    visit(w, f"{base}/evaluate/?touch_point={tp.pk}", SCRIPT, IMG)
    options = w.page.get_by_label("Site").locator("option").all_inner_texts()
    assert set(PAYLOADS) <= {o.strip() for o in options}
    visit(w, f"{base}/evaluate/?q={SCRIPT}", SCRIPT)

    assert_nothing_ran(w)


def test_a_hostile_comment_typed_into_the_form_is_stored_and_shown_as_text(
    live_server: Any, personas: Personas, hostile: Hostile, open_page: Callable[..., Any]
) -> None:
    base = live_server.url
    w = watched(open_page)
    tp = hostile.touch_point
    sign_in(w.page, base, personas.evaluator.email, next_url=f"/evaluate/?touch_point={tp.pk}")
    typed = f"{IMG} {SCRIPT} {JS_URL} {RTL}"

    w.page.locator("fieldset", has_text=IMG).locator("label", has_text="Yes").click()
    w.page.locator("label.choice", has_text="Mystery shopper").click()
    w.page.get_by_label("Site").select_option(label=IMG)
    w.page.get_by_label("Comment").fill(typed)
    w.page.get_by_role("button", name="Submit evaluation").click()
    w.page.get_by_role("heading", name="Evaluation saved").wait_for()

    assert Evaluation.objects.filter(comment=typed, site__name=IMG).count() == 1
    assert f"See how {SCRIPT} scores" in w.page.locator("body").inner_text()
    visit(w, f"{base}/touch-points/{tp.pk}/", typed)
    assert_nothing_ran(w)


def test_hostile_text_is_shown_as_text_in_the_admin(
    live_server: Any, personas: Personas, hostile: Hostile, open_page: Callable[..., Any]
) -> None:
    staff = UserFactory(email="support@northwind.test", is_staff=True, is_superuser=True)
    MembershipFactory(user=staff, organization=personas.org, role="manager")
    base = live_server.url
    w = watched(open_page)
    sign_in(w.page, base, staff.email)
    tp = hostile.touch_point

    def admin(name: str, *args: Any) -> str:
        return base + reverse(f"admin:{name}", args=args)

    visit(w, admin("journeys_journey_changelist"), SCRIPT)
    visit(w, admin("journeys_stage_changelist"), IMG, JS_URL)
    visit(w, admin("touchpoints_touchpoint_changelist"), SCRIPT, RTL, IMG)
    visit(w, admin("touchpoints_criterion_changelist"), IMG)
    visit(w, admin("touchpoints_site_changelist"), *PAYLOADS)
    visit(w, admin("touchpoints_evaluation_changelist") + f"?q={SCRIPT}", SCRIPT)
    visit(w, admin("touchpoints_evaluation_change", hostile.evaluation.pk), SCRIPT)
    visit(w, admin("touchpoints_touchpoint_change", tp.pk))
    assert w.page.locator("input[name='name']").input_value() == SCRIPT
    visit(w, admin("journeys_journey_change", hostile.journey.pk))
    assert w.page.locator("textarea[name='description']").input_value() == IMG
    visit(w, admin("touchpoints_criterion_change", hostile.criterion.pk))
    visit(w, admin("touchpoints_site_change", hostile.site.pk))
    assert w.page.locator("input[name='name']").input_value() == IMG

    assert_nothing_ran(w)
