"""CSRF (RELIABILITY S8), the browser side: every state-changing request made with a session
needs the CSRF token and a same-origin Origin, or it gets 403 and changes nothing; and no
GET to any browser route changes anything. (The API: a session POST without the token is
tests/api/test_auth.py; token clients need none, same file.)"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest
from django.apps import apps
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, reverse
from django.utils import timezone
from rest_framework.test import APIClient

from accounts.models import ApiToken, Membership
from accounts.tokens import create_token
from journeys.models import Journey, Stage
from team.models import Invitation
from team.services import link_token
from tests.conftest import Personas
from tests.factories import (
    CriterionFactory,
    JourneyFactory,
    StageFactory,
    TouchPointFactory,
)
from touchpoints.models import Criterion, Evaluation, TouchPoint
from touchpoints.services import AnswerInput, EvaluationInput, submit_evaluations

# The backend sign-in uses (config/settings.py): a session made with another is refused.
MODEL_BACKEND = "accounts.backends.EmailBackend"
# Per-user state that a page view may legitimately touch (the acting organization is kept
# in the session; axes and the idempotency store are not reached by GETs, but are state).
NOT_DOMAIN_STATE = {"sessions.Session"}


@dataclass
class Site:
    journey: Journey
    stage: Stage
    touch_point: TouchPoint
    criterion: Criterion
    evaluation: Evaluation
    token: ApiToken
    membership: Membership
    invitation: Invitation


@pytest.fixture
def site(personas: Personas) -> Site:
    journey = JourneyFactory(organization=personas.org, name="Broadband")
    stage = StageFactory(journey=journey, name="Sign up")
    StageFactory(journey=journey, name="Install")
    touch_point = TouchPointFactory(stage=stage, name="Welcome call")
    TouchPointFactory(stage=stage, name="Contract")
    criterion = CriterionFactory(touch_point=touch_point, name="Greeted by name")
    CriterionFactory(touch_point=touch_point, name="Explained the bill")
    evaluation = submit_evaluations(
        evaluator=personas.manager,
        organization=personas.org,
        items=[
            EvaluationInput(
                touch_point_id=touch_point.pk,
                source="supervisor",
                observed_at=timezone.now(),
                answers=[AnswerInput(criterion.pk, 4)],
            )
        ],
    )[0]
    token, _ = create_token(user=personas.manager, name="laptop")
    invitation = Invitation.objects.create(
        organization=personas.org,
        email="invited@example.test",
        role="viewer",
        nonce="n" * 43,
        sent_at=timezone.now(),
        expires_at=timezone.now() + timedelta(days=7),
    )
    membership = personas.membership(personas.viewer)
    return Site(journey, stage, touch_point, criterion, evaluation, token, membership, invitation)


def state() -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every model but sessions, in full: a change anywhere shows."""
    return {
        model._meta.label: sorted(model._default_manager.values_list(), key=repr)
        for model in apps.get_models()
        if model._meta.label not in NOT_DOMAIN_STATE and not model._meta.proxy
    }


def posts(s: Site, personas: Personas) -> list[tuple[str, dict[str, Any]]]:
    """Every browser POST a manager can make, with a body the view would accept."""
    return [
        (reverse("editor-journey-create"), {"name": "Moving house"}),
        (reverse("editor-stage-create", args=[s.journey.pk]), {"name": "Renew"}),
        (reverse("editor-stage-update", args=[s.stage.pk]), {"name": "Order"}),
        (reverse("editor-stage-move", args=[s.stage.pk]), {"position": "1"}),
        (reverse("editor-stage-archive", args=[s.stage.pk]), {}),
        (reverse("editor-stage-restore", args=[s.stage.pk]), {}),
        (
            reverse("editor-touch-point-create", args=[s.stage.pk]),
            {"name": "Bill", "channel": "mail", "importance": "3"},
        ),
        (reverse("editor-touch-point", args=[s.touch_point.pk]), {"name": "Hello call"}),
        (reverse("editor-touch-point-move", args=[s.touch_point.pk]), {"position": "1"}),
        (reverse("editor-touch-point-archive", args=[s.touch_point.pk]), {}),
        (reverse("editor-touch-point-restore", args=[s.touch_point.pk]), {}),
        (reverse("editor-criteria", args=[s.touch_point.pk]), {"name": "Smiled", "kind": "yes_no"}),
        (reverse("editor-criterion", args=[s.criterion.pk]), {"name": "Used their name"}),
        (reverse("editor-criterion-move", args=[s.criterion.pk]), {"position": "1"}),
        (reverse("editor-criterion-archive", args=[s.criterion.pk]), {}),
        (reverse("editor-criterion-restore", args=[s.criterion.pk]), {}),
        (
            reverse("evaluate"),
            {"touch_point": s.touch_point.pk, f"criterion_{s.criterion.pk}": "5"},
        ),
        (reverse("token-create"), {"name": "stolen"}),
        (reverse("token-revoke", args=[s.token.pk]), {}),
        (reverse("choose-organization"), {"organization": personas.other_org.pk}),
        (
            reverse("password_change"),
            {
                "old_password": "x",
                "new_password1": "p4ssphrase-long-enough",
                "new_password2": "p4ssphrase-long-enough",
            },
        ),
        (reverse("team-invite"), {"email": "new@example.test", "role": "viewer"}),
        (reverse("team-invitation-resend", args=[s.invitation.pk]), {}),
        (reverse("team-invitation-revoke", args=[s.invitation.pk]), {}),
        (reverse("team-member-role", args=[s.membership.pk]), {"role": "evaluator"}),
        (reverse("team-member-remove", args=[s.membership.pk]), {}),
        (reverse("team-join", args=[link_token(s.invitation)]), {"name": "Mallory"}),
        (reverse("password_reset"), {"email": "viewer@northwind.test"}),
        (reverse("site-create"), {"name": "Hijacked"}),
        (reverse("journey-settings", args=[s.journey.pk]), {"name": "Hijacked"}),
        (reverse("logout"), {}),
    ]


def csrf_client(personas: Personas) -> Client:
    """A signed-in browser that enforces CSRF, holding its CSRF cookie (as a victim's would)."""
    client = Client(enforce_csrf_checks=True)
    client.force_login(personas.manager, backend=MODEL_BACKEND)
    client.get("/account/")  # the page sets the CSRF cookie
    assert "csrftoken" in client.cookies
    return client


def test_every_browser_post_without_the_csrf_token_is_403_and_changes_nothing(
    personas: Personas, site: Site
) -> None:
    client = csrf_client(personas)
    before = state()

    cases = posts(site, personas)  # once: an invitation link is signed with the time
    refused = {url: client.post(url, data).status_code for url, data in cases}

    assert refused == {url: 403 for url, _ in cases}
    assert state() == before
    assert client.get("/").status_code == 200  # still signed in: even sign-out was refused


def test_a_post_from_a_foreign_origin_is_403_even_with_the_token(
    personas: Personas, site: Site
) -> None:
    client = csrf_client(personas)
    token = client.cookies["csrftoken"].value
    url = reverse("editor-stage-update", args=[site.stage.pk])

    foreign = client.post(
        url, {"name": "Hijacked"}, HTTP_X_CSRFTOKEN=token, HTTP_ORIGIN="https://evil.test"
    )
    same_site = client.post(
        url, {"name": "Order"}, HTTP_X_CSRFTOKEN=token, HTTP_ORIGIN="http://testserver"
    )

    assert foreign.status_code == 403
    assert same_site.status_code == 302  # the control: the same request from our own pages
    site.stage.refresh_from_db()
    assert site.stage.name == "Order"


@pytest.mark.parametrize("method", ["patch", "put", "delete"])
def test_session_api_writes_without_the_token_are_403_and_change_nothing(
    personas: Personas, site: Site, method: str
) -> None:
    browser = APIClient(enforce_csrf_checks=True)
    browser.force_login(personas.manager, backend=MODEL_BACKEND)
    url = f"/api/v1/journeys/{site.journey.pk}/"
    etag = browser.get(url)["ETag"]
    before = state()

    response = getattr(browser, method)(
        url,
        {"name": "Hijacked"},
        format="json",
        HTTP_IF_MATCH=etag,
        HTTP_ORIGIN="https://evil.test",
    )

    assert response.status_code == 403
    assert "CSRF" in response.json()["detail"]
    assert state() == before


# --- No state change over GET ---------------------------------------------------------------


def web_patterns(patterns: list[Any], prefix: str = "") -> Iterator[tuple[str, URLPattern]]:
    for entry in patterns:
        if isinstance(entry, URLResolver):
            yield from web_patterns(entry.url_patterns, prefix + str(entry.pattern))
        elif isinstance(entry, URLPattern):
            yield prefix + str(entry.pattern), entry


def browser_routes() -> list[str]:
    """The names of every browser route: the URLconf minus the API, the admin and the probes."""
    return sorted(
        str(entry.name)
        for pattern, entry in web_patterns(get_resolver().url_patterns)
        if not pattern.startswith(("api/", "admin/")) and entry.name not in ("healthz", "readyz")
    )


def kwargs_for(name: str, site: Site) -> dict[str, Any]:
    ids: dict[str, Any] = {
        "membership_id": site.membership.pk,
        "invitation_id": site.invitation.pk,
        "token": link_token(site.invitation),
        "uidb64": "MQ",
        "site_id": 10**9,  # no such site: a GET must change nothing
        "link_id": 10**9,  # a feedback link that does not exist: a GET must change nothing
        "journey_id": site.journey.pk,
        "stage_id": site.stage.pk,
        "touch_point_id": site.touch_point.pk,
        "criterion_id": site.criterion.pk,
        "token_id": site.token.pk,
        "pk": site.evaluation.pk,
    }
    entry = next(e for _, e in web_patterns(get_resolver().url_patterns) if e.name == name)
    return {key: ids[key] for key in entry.pattern.regex.groupindex}


@pytest.mark.parametrize("role", ["manager", "viewer"])
def test_no_get_to_any_browser_route_changes_anything(
    personas: Personas, site: Site, client: Client, role: str
) -> None:
    client.force_login(getattr(personas, role), backend=MODEL_BACKEND)
    before = state()
    answered = {}

    for name in browser_routes():
        url = reverse(name, kwargs=kwargs_for(name, site))
        answered[name] = client.get(url, {"position": "0", "name": "x", "page": "2"}).status_code

    assert state() == before
    assert answered["logout"] == 405  # signing out takes a POST
    assert all(status < 500 for status in answered.values()), answered
