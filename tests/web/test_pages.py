"""Browser pages: each renders for each role, refuses strangers and other organizations,
escapes what users typed, keeps the strict CSP, and reads a bounded number of queries."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta

import pytest
from django.db import connection
from django.template import loader
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from accounts.models import ApiToken, Organization, Role, User
from accounts.tokens import authenticate_token, create_token
from journeys.models import Journey
from scoring.models import StaleMark
from scoring.services import recompute_journey
from tests.conftest import Personas
from tests.factories import (
    PASSWORD,
    CriterionFactory,
    JourneyFactory,
    MembershipFactory,
    OrganizationFactory,
    StageFactory,
    TouchPointFactory,
)
from touchpoints.models import Criterion, Source, TouchPoint
from touchpoints.services import AnswerInput, EvaluationInput, submit_evaluations

HOSTILE = '<script>alert("pwned")</script>'


@dataclass
class Mapped:
    journey: Journey
    welcome: TouchPoint
    install: TouchPoint
    bill: TouchPoint
    criteria: dict[str, Criterion]
    foreign_journey: Journey
    foreign_touch_point: TouchPoint


def evaluate(
    evaluator: User,
    organization: Organization,
    criterion: Criterion,
    values: Sequence[float],
    *,
    source: str = Source.SUPERVISOR,
    comment: str = "",
) -> None:
    now = timezone.now()
    submit_evaluations(
        evaluator=evaluator,
        organization=organization,
        items=[
            EvaluationInput(
                touch_point_id=criterion.touch_point_id,
                source=source,
                observed_at=now - timedelta(hours=i + 1),
                answers=[AnswerInput(criterion.pk, value)],
                comment=comment,
            )
            for i, value in enumerate(values)
        ],
    )


def build_journey(org: Organization, *, touch_points: int, name: str = "Broadband") -> Journey:
    """A journey of two stages with `touch_points` touch points, one criterion each."""
    journey = JourneyFactory(organization=org, name=name)
    stages = [StageFactory(journey=journey, name=n) for n in ("Sign up", "Install")]
    for i in range(touch_points):
        tp = TouchPointFactory(stage=stages[i % 2], name=f"Touch point {i}")
        CriterionFactory(touch_point=tp)
    return journey


@pytest.fixture
def mapped(personas: Personas) -> Mapped:
    org = personas.org
    journey = JourneyFactory(organization=org, name="New broadband customer", target=80.0)
    sign_up = StageFactory(journey=journey, name="Sign up")
    install = StageFactory(journey=journey, name="Install")
    tps = {
        "welcome": TouchPointFactory(stage=sign_up, name="Welcome call", importance=2),
        "install": TouchPointFactory(stage=install, name="Technician visit", importance=5),
        "bill": TouchPointFactory(stage=install, name="First bill", importance=4),
    }
    criteria = {
        key: CriterionFactory(touch_point=tp, name=f"{tp.name} done well")
        for key, tp in tps.items()
    }
    evaluate(
        personas.evaluator, org, criteria["welcome"], [5, 5, 4, 5, 5, 5], comment="Warm and quick."
    )
    evaluate(personas.evaluator, org, criteria["install"], [2, 1, 2, 2, 1, 2], comment=HOSTILE)
    evaluate(personas.evaluator, org, criteria["bill"], [3])
    recompute_journey(journey.pk)
    foreign = build_journey(personas.other_org, touch_points=1, name="Rival journey")
    return Mapped(
        journey=journey,
        welcome=tps["welcome"],
        install=tps["install"],
        bill=tps["bill"],
        criteria=criteria,
        foreign_journey=foreign,
        foreign_touch_point=TouchPoint.objects.get(journey=foreign),
    )


def signed_in(client: Client, user: User) -> Client:
    client.force_login(user)
    return client


def page_urls(m: Mapped) -> dict[str, str]:
    return {
        "overview": "/",
        "map": f"/journeys/{m.journey.pk}/",
        "map body": f"/journeys/{m.journey.pk}/map/",
        "detail": f"/touch-points/{m.install.pk}/",
        "card": f"/touch-points/{m.install.pk}/card/",
        "scores": f"/touch-points/{m.install.pk}/scores/",
        "account": "/account/",
        "password": "/account/password/",
    }


ROLES = ["manager", "evaluator", "viewer"]
PAGES = ["overview", "map", "map body", "detail", "card", "scores", "account", "password"]


# --- Access -------------------------------------------------------------------------------------


@pytest.mark.parametrize("page", PAGES)
def test_anonymous_visitor_is_sent_to_sign_in(mapped: Mapped, client: Client, page: str) -> None:
    url = page_urls(mapped)[page]
    response = client.get(url)
    assert response.status_code == 302
    assert response["Location"].startswith("/sign-in/?next=")


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("page", PAGES)
def test_every_page_renders_for_every_role(
    personas: Personas, mapped: Mapped, client: Client, role: str, page: str
) -> None:
    signed_in(client, getattr(personas, role))
    response = client.get(page_urls(mapped)[page])
    assert response.status_code == 200, response.content[:500]


@pytest.mark.parametrize("role", ROLES)
def test_map_shows_stages_cards_and_weak_links_for_every_role(
    personas: Personas, mapped: Mapped, client: Client, role: str
) -> None:
    body = signed_in(client, getattr(personas, role)).get(f"/journeys/{mapped.journey.pk}/")
    html = body.content.decode()
    assert html.index("Sign up") < html.index("Install")
    assert html.index("Welcome call") < html.index("Technician visit") < html.index("First bill")
    # Status in words and symbol, not colour alone; the weak link is ranked and called out.
    assert "Weak link" in html
    assert "Weak links, most urgent first" in html
    assert "Blind spot" in html  # First bill has one evaluation
    assert "tp-card--insufficient_data" in html
    assert '<svg viewBox="0 0' in html and "chart-target" in html


def test_detail_page_shows_criteria_splits_trend_and_comments(
    personas: Personas, mapped: Mapped, client: Client
) -> None:
    html = (
        signed_in(client, personas.viewer)
        .get(f"/touch-points/{mapped.install.pk}/")
        .content.decode()
    )
    assert "Technician visit done well" in html
    assert "Drags the score down most" in html
    assert "Last 12 weeks" in html
    assert "Supervisor" in html and "Mystery shopper" in html
    assert "Perception gap" in html
    assert "No site" in html
    assert "Recent evaluations" in html


@pytest.mark.parametrize(
    "url",
    [
        "/journeys/{journey}/",
        "/journeys/{journey}/map/",
        "/touch-points/{tp}/",
        "/touch-points/{tp}/card/",
        "/touch-points/{tp}/scores/",
    ],
)
@pytest.mark.parametrize("role", ROLES)
def test_other_organizations_objects_are_not_found(
    personas: Personas, mapped: Mapped, client: Client, url: str, role: str
) -> None:
    signed_in(client, getattr(personas, role))
    foreign = client.get(
        url.format(journey=mapped.foreign_journey.pk, tp=mapped.foreign_touch_point.pk)
    )
    missing = client.get(url.format(journey=999_999_999, tp=999_999_999))
    assert foreign.status_code == missing.status_code == 404
    assert "We can’t find that page" in foreign.content.decode()
    assert "Rival journey" not in foreign.content.decode()


def test_outsider_cannot_open_our_journey(
    personas: Personas, mapped: Mapped, client: Client
) -> None:
    signed_in(client, personas.outsider)
    assert client.get(f"/journeys/{mapped.journey.pk}/").status_code == 404
    assert client.get(f"/touch-points/{mapped.install.pk}/").status_code == 404
    overview = client.get("/").content.decode()
    assert "New broadband customer" not in overview
    assert "Technician visit" not in overview


def test_user_without_organization_gets_a_friendly_403(db: None, client: Client) -> None:
    lonely = MembershipFactory().user
    lonely.memberships.all().delete()
    response = signed_in(client, lonely).get("/")
    assert response.status_code == 403
    assert "not a member of any organization" in response.content.decode()


@pytest.mark.parametrize(
    ("role", "sees"), [("manager", True), ("evaluator", False), ("viewer", False)]
)
def test_only_managers_get_edit_controls(
    personas: Personas, mapped: Mapped, client: Client, role: str, sees: bool
) -> None:
    signed_in(client, getattr(personas, role))
    for url in ("/", f"/journeys/{mapped.journey.pk}/", f"/touch-points/{mapped.install.pk}/"):
        assert ("data-edit-controls" in client.get(url).content.decode()) is sees, url


@pytest.mark.parametrize(
    ("role", "sees"), [("manager", True), ("evaluator", True), ("viewer", False)]
)
def test_only_those_who_may_evaluate_are_offered_the_form(
    personas: Personas, mapped: Mapped, client: Client, role: str, sees: bool
) -> None:
    html = signed_in(client, getattr(personas, role)).get(f"/touch-points/{mapped.install.pk}/")
    assert ('href="/evaluate/"' in html.content.decode()) is sees
    assert (f"/evaluate/?touch_point={mapped.install.pk}" in html.content.decode()) is sees


# --- Safety: escaping, CSP --------------------------------------------------------------------


def test_hostile_names_and_comments_are_escaped_everywhere(
    personas: Personas, mapped: Mapped, client: Client
) -> None:
    Journey.objects.filter(pk=mapped.journey.pk).update(name=HOSTILE, description=HOSTILE)
    TouchPoint.objects.filter(pk=mapped.install.pk).update(name=HOSTILE)
    Criterion.objects.filter(pk=mapped.criteria["install"].pk).update(name=HOSTILE)
    recompute_journey(mapped.journey.pk)  # snapshots keep names too
    signed_in(client, personas.manager)
    for url in page_urls(mapped).values():
        html = client.get(url).content.decode()
        assert "<script>alert" not in html, url
    map_html = client.get(f"/journeys/{mapped.journey.pk}/").content.decode()
    assert "&lt;script&gt;alert(&quot;pwned&quot;)&lt;/script&gt;" in map_html
    detail = client.get(f"/touch-points/{mapped.install.pk}/").content.decode()
    assert detail.count("&lt;script&gt;") >= 3  # name, criterion, comment


INLINE_SCRIPT = re.compile(r"<script(?![^>]*\bsrc=)[^>]*>", re.IGNORECASE)
INLINE_HANDLER = re.compile(r"\son[a-z]+\s*=", re.IGNORECASE)
INLINE_STYLE = re.compile(r"\sstyle\s*=|<style", re.IGNORECASE)


@pytest.mark.parametrize("page", PAGES)
def test_pages_carry_a_strict_csp_and_need_no_inline_code(
    personas: Personas, mapped: Mapped, client: Client, page: str
) -> None:
    response = signed_in(client, personas.manager).get(page_urls(mapped)[page])
    policy = response["Content-Security-Policy"]
    assert "'unsafe-inline'" not in policy and "'unsafe-eval'" not in policy
    assert "script-src 'self'" in policy and "style-src 'self'" in policy
    assert "object-src 'none'" in policy and "frame-ancestors 'none'" in policy
    html = response.content.decode()
    assert not INLINE_SCRIPT.search(html)
    assert not INLINE_HANDLER.search(html)
    assert not INLINE_STYLE.search(html)


def test_sign_in_and_error_pages_need_no_inline_code(db: None, client: Client) -> None:
    for response in (client.get("/sign-in/"), client.get("/no-such-page/")):
        html = response.content.decode()
        assert "'unsafe-inline'" not in response["Content-Security-Policy"]
        assert not INLINE_SCRIPT.search(html) and not INLINE_STYLE.search(html)


def test_500_page_renders_without_a_request() -> None:
    html = loader.get_template("500.html").render({})
    assert "Something went wrong on our side" in html
    assert not INLINE_SCRIPT.search(html) and not INLINE_STYLE.search(html)


# --- Bounded queries --------------------------------------------------------------------------


def count_queries(client: Client, url: str) -> int:
    with CaptureQueriesContext(connection) as queries:
        assert client.get(url).status_code == 200
    return len(queries)


def test_map_runs_the_same_queries_for_3_and_30_touch_points(
    personas: Personas, client: Client
) -> None:
    small = build_journey(personas.org, touch_points=3, name="Small")
    large = build_journey(personas.org, touch_points=30, name="Large")
    for journey in (small, large):
        for criterion in Criterion.objects.filter(touch_point__journey=journey):
            evaluate(personas.evaluator, personas.org, criterion, [4, 3])
        recompute_journey(journey.pk)
    signed_in(client, personas.viewer)
    client.get("/")  # warm the session
    assert count_queries(client, f"/journeys/{small.pk}/") == count_queries(
        client, f"/journeys/{large.pk}/"
    )
    assert count_queries(client, f"/journeys/{small.pk}/map/") == count_queries(
        client, f"/journeys/{large.pk}/map/"
    )


def test_overview_queries_do_not_grow_with_the_size_of_journeys(
    personas: Personas, client: Client
) -> None:
    journey = build_journey(personas.org, touch_points=3)
    signed_in(client, personas.viewer)
    client.get("/")
    few = count_queries(client, "/")
    for i in range(27):
        tp = TouchPointFactory(stage=journey.stages.first(), name=f"More {i}")
        CriterionFactory(touch_point=tp)
    recompute_journey(journey.pk)
    assert count_queries(client, "/") == few


def test_overview_queries_do_not_grow_with_the_number_of_journeys(
    personas: Personas, client: Client
) -> None:
    build_journey(personas.org, touch_points=3, name="First")
    signed_in(client, personas.viewer)
    client.get("/")
    one = count_queries(client, "/")
    for i in range(5):
        recompute_journey(build_journey(personas.org, touch_points=3, name=f"More {i}").pk)
    assert count_queries(client, "/") == one


def test_map_of_a_journey_never_scored_also_runs_bounded_queries(
    personas: Personas, client: Client
) -> None:
    small = build_journey(personas.org, touch_points=3, name="Small")
    large = build_journey(personas.org, touch_points=30, name="Large")
    signed_in(client, personas.viewer)
    client.get("/")
    assert count_queries(client, f"/journeys/{small.pk}/") == count_queries(
        client, f"/journeys/{large.pk}/"
    )


def test_detail_runs_the_same_queries_for_few_and_many_evaluations(
    personas: Personas, client: Client
) -> None:
    journey = build_journey(personas.org, touch_points=2)
    few, many = Criterion.objects.filter(touch_point__journey=journey).order_by("pk")
    evaluate(personas.evaluator, personas.org, few, [4, 3])
    evaluate(personas.evaluator, personas.org, many, [4, 3, 2, 5] * 10, source=Source.AUDIT)
    recompute_journey(journey.pk)
    signed_in(client, personas.viewer)
    client.get("/")
    assert count_queries(client, f"/touch-points/{few.touch_point_id}/") == count_queries(
        client, f"/touch-points/{many.touch_point_id}/"
    )


# --- Pending recompute ------------------------------------------------------------------------


def test_pending_card_polls_and_stops_once_the_score_lands(
    personas: Personas, mapped: Mapped, client: Client
) -> None:
    signed_in(client, personas.viewer)
    evaluate(personas.evaluator, personas.org, mapped.criteria["bill"], [5, 5, 5, 5])
    assert StaleMark.objects.filter(touch_point=mapped.bill).exists()

    map_html = client.get(f"/journeys/{mapped.journey.pk}/").content.decode()
    card = re.search(rf'<li class="tp-card[^>]*id="tp-{mapped.bill.pk}"[^>]*>', map_html)
    assert card and 'hx-trigger="every 3s"' in card.group(0)
    assert "Recompute pending" in map_html
    polled = client.get(f"/touch-points/{mapped.bill.pk}/card/")
    assert 'hx-trigger="every 3s"' in polled.content.decode()
    assert "HX-Trigger" not in polled

    recompute_journey(mapped.journey.pk)
    landed = client.get(f"/touch-points/{mapped.bill.pk}/card/")
    html = landed.content.decode()
    assert html.lstrip().startswith("<li")
    assert "every 3s" not in html and "Recompute pending" not in html
    assert landed["HX-Trigger"] == "touchstone:scored"  # the map refreshes around it
    # Four more evaluations make five: no longer a blind spot.
    assert "tp-card--insufficient_data" not in html and "Blind spot" not in html


def test_pending_detail_page_polls_its_scores(
    personas: Personas, mapped: Mapped, client: Client
) -> None:
    signed_in(client, personas.evaluator)
    evaluate(personas.evaluator, personas.org, mapped.criteria["install"], [5])
    html = client.get(f"/touch-points/{mapped.install.pk}/").content.decode()
    assert (
        f'hx-get="/touch-points/{mapped.install.pk}/scores/" '
        'hx-trigger="every 3s, touchstone:scored from:body"'
    ) in html
    recompute_journey(mapped.journey.pk)
    part = client.get(f"/touch-points/{mapped.install.pk}/scores/").content.decode()
    assert part.lstrip().startswith('<div id="tp-scores"')
    assert "every 3s" not in part


def test_scored_pages_do_not_poll(personas: Personas, mapped: Mapped, client: Client) -> None:
    signed_in(client, personas.viewer)
    for url in (f"/journeys/{mapped.journey.pk}/", f"/touch-points/{mapped.install.pk}/"):
        assert "every 3s" not in client.get(url).content.decode()


# --- Evaluations list --------------------------------------------------------------------------


def test_evaluations_are_paginated(personas: Personas, mapped: Mapped, client: Client) -> None:
    evaluate(personas.evaluator, personas.org, mapped.criteria["welcome"], [4] * 20, comment="Fine")
    signed_in(client, personas.viewer)
    first = client.get(f"/touch-points/{mapped.welcome.pk}/").content.decode()
    assert "Page 1 of 2" in first and "Older ›" in first
    second = client.get(
        f"/touch-points/{mapped.welcome.pk}/?page=2", headers={"HX-Request": "true"}
    ).content.decode()
    assert second.lstrip().startswith('<section class="section" id="evaluations"')
    assert "Page 2 of 2" in second
    assert second.count('<li class="evaluation">') == 26 - 20  # six before, twenty new


# --- Organizations ----------------------------------------------------------------------------


def test_member_of_two_organizations_switches_between_them(
    personas: Personas, mapped: Mapped, client: Client
) -> None:
    MembershipFactory(user=personas.viewer, organization=personas.other_org, role=Role.MANAGER)
    signed_in(client, personas.viewer)
    html = client.get("/").content.decode()
    assert 'id="org-switcher"' in html and "New broadband customer" in html
    client.post("/organization/", {"organization": personas.other_org.pk, "next": "/"})
    html = client.get("/").content.decode()
    assert "Rival journey" in html and "New broadband customer" not in html
    assert "data-edit-controls" in html  # a manager over there


def test_switching_to_an_organization_you_are_not_in_changes_nothing(
    personas: Personas, mapped: Mapped, client: Client
) -> None:
    signed_in(client, personas.viewer)
    response = client.post("/organization/", {"organization": personas.other_org.pk})
    assert response.status_code == 302
    assert "Rival journey" not in client.get("/").content.decode()


def test_switch_never_redirects_off_site(personas: Personas, client: Client) -> None:
    signed_in(client, personas.viewer)
    response = client.post(
        "/organization/", {"organization": personas.org.pk, "next": "https://evil.test/"}
    )
    assert response["Location"] == "/"


def test_opening_a_journey_of_another_of_your_organizations_acts_in_it(
    personas: Personas, mapped: Mapped, client: Client
) -> None:
    MembershipFactory(user=personas.viewer, organization=personas.other_org, role=Role.VIEWER)
    signed_in(client, personas.viewer)
    assert client.get(f"/journeys/{mapped.foreign_journey.pk}/").status_code == 200
    assert "Rival journey" in client.get("/").content.decode()


# --- Sign in, sign out, password --------------------------------------------------------------


def test_sign_in_page_signs_in_and_out(personas: Personas, client: Client) -> None:
    assert client.get("/sign-in/").status_code == 200
    response = client.post(
        "/sign-in/", {"username": personas.evaluator.email, "password": PASSWORD}
    )
    assert response.status_code == 302 and response["Location"] == "/"
    assert client.get("/").status_code == 200
    assert client.post("/sign-out/").status_code == 302
    assert client.get("/").status_code == 302


def test_wrong_password_is_refused_with_a_message(personas: Personas, client: Client) -> None:
    response = client.post("/sign-in/", {"username": personas.evaluator.email, "password": "nope"})
    assert response.status_code == 200
    assert "correct email address and password" in response.content.decode()


def test_sign_out_needs_a_post(personas: Personas, client: Client) -> None:
    signed_in(client, personas.viewer)
    assert client.get("/sign-out/").status_code == 405
    assert client.get("/").status_code == 200


def test_password_change(personas: Personas, client: Client) -> None:
    signed_in(client, personas.viewer)
    response = client.post(
        "/account/password/",
        {
            "old_password": PASSWORD,
            "new_password1": "a much longer passphrase 42",
            "new_password2": "a much longer passphrase 42",
        },
    )
    assert response.status_code == 302
    personas.viewer.refresh_from_db()
    assert personas.viewer.check_password("a much longer passphrase 42")


# --- API tokens -------------------------------------------------------------------------------


def test_token_created_on_the_page_is_shown_once_and_works(
    personas: Personas, client: Client
) -> None:
    signed_in(client, personas.evaluator)
    response = client.post("/account/tokens/", {"name": "Power BI"})
    assert response.status_code == 201
    assert "no-store" in response["Cache-Control"]
    secret = re.search(r'id="new-token-secret">(tst_[^<]+)<', response.content.decode())
    assert secret
    token = authenticate_token(secret.group(1))
    assert token is not None and token.user == personas.evaluator and token.name == "Power BI"
    assert secret.group(1) not in ApiToken.objects.get(pk=token.pk).key_hash
    again = client.get("/account/").content.decode()
    assert secret.group(1) not in again
    assert "Power BI" in again and f"tst_{token.prefix}…" in again


def test_token_without_a_name_is_refused_and_nothing_stored(
    personas: Personas, client: Client
) -> None:
    signed_in(client, personas.viewer)
    response = client.post("/account/tokens/", {"name": "  "}, headers={"HX-Request": "true"})
    assert response.status_code == 400
    html = response.content.decode()
    assert html.lstrip().startswith('<section class="section" id="tokens"')
    assert "Give the token a name" in html and 'aria-invalid="true"' in html
    assert not ApiToken.objects.filter(user=personas.viewer).exists()


def test_token_revoked_on_the_page_stops_working(personas: Personas, client: Client) -> None:
    token, secret = create_token(user=personas.viewer, name="Old script")
    signed_in(client, personas.viewer)
    response = client.post(f"/account/tokens/{token.pk}/revoke/")
    assert response.status_code == 302
    assert authenticate_token(secret) is None
    assert "Old script" not in client.get("/account/").content.decode()


def test_nobody_revokes_someone_elses_token(personas: Personas, client: Client) -> None:
    token, secret = create_token(user=personas.manager, name="Manager's")
    signed_in(client, personas.viewer)
    response = client.post(f"/account/tokens/{token.pk}/revoke/", headers={"HX-Request": "true"})
    assert response.status_code == 200
    assert "already revoked or does not exist" in response.content.decode()
    assert authenticate_token(secret) is not None


def test_account_lists_organizations_and_roles(db: None, client: Client) -> None:
    user = MembershipFactory(
        organization=OrganizationFactory(name="Vet clinic"), role=Role.VIEWER
    ).user
    MembershipFactory(
        user=user, organization=OrganizationFactory(name="Airline"), role=Role.MANAGER
    )
    html = signed_in(client, user).get("/account/").content.decode()
    assert "Vet clinic" in html and "Airline" in html
    assert "Viewer" in html and "Manager" in html


@pytest.mark.parametrize("page", PAGES)
def test_member_pages_are_never_stored_by_the_browser(
    personas: Personas, mapped: Mapped, client: Client, page: str
) -> None:
    """So the back button after signing out shows no organization data."""
    response = signed_in(client, personas.viewer).get(page_urls(mapped)[page])
    assert "no-store" in response["Cache-Control"]
