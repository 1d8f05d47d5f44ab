"""The walls of the browser side, generated from the URLconf (RELIABILITY S1 and S3, the
browser half; issue 7 "Walls").

Every URL pattern outside /admin/ and /api/v1/ is walked; a new one fails here until it is
classified (which kind of object its id names, and who may call it with which method in
tests/web/permissions.py, which docs/permissions.md states in words).

Two organizations with the same shape of data: Rival (org A, every name carrying
RIVAL_MARK) and Northwind (org B), whose viewer, evaluator and manager send the requests.

- Tenancy: every route and method, with each of Rival's ids, answers exactly what an id
  that does not exist gets (status, body and headers; the per-render CSRF mask and the
  request id aside), a 404 where the route takes that method, and nothing in the database
  changes. Ids of Rival's objects in query strings and form fields are answered like
  missing ones too. No response to Northwind's people ever holds RIVAL_MARK.
- Roles: every cell of the table answers each role as the table says: let through, or 403
  with nothing stored; a method the table does not list is 405.
- Admin: staff only; a member without staff status is sent to the admin's login page from
  every admin URL, with none of anyone's data.

The data is built once for the module inside a transaction that is rolled back at the end;
each test runs in a savepoint of its own (pytest-django's `db`), so writes never leak
from one test to the next.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from django.contrib import admin
from django.db import transaction
from django.db.models import F, Model, Value
from django.db.models.functions import Concat
from django.test import Client
from django.test.utils import override_settings
from django.urls import URLPattern, URLResolver, get_resolver, resolve, reverse

from accounts.models import ApiToken, Membership, Organization, Role, User
from accounts.tokens import create_token
from alerts.models import Action, AlertSettings, Event, WebhookEndpoint
from alerts.organization import current_settings
from alerts.organization import version_of as settings_version
from feedback.models import FeedbackLink, FeedbackQuestion
from journeys.models import Journey, Stage
from notify.models import OutboundEmail
from scoring.services import recompute_journey
from team.models import Invitation
from tests.api.test_cross_tenant_walk import Tenant, build_tenant, everything
from tests.factories import PASSWORD, MembershipFactory, OrganizationFactory, UserFactory
from tests.web.permissions import BROWSER_PERMISSIONS
from touchpoints.models import Criterion, Evaluation, Site, TouchPoint
from touchpoints.services import AnswerInput, submit_evaluation
from web.journey_settings import version_of

RIVAL_MARK = "RIVALMARK"  # in every text of org A; never in a response to org B
MISSING = 10**9  # an id no row has
LISTED_METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")
EVERY_METHOD = (*LISTED_METHODS, "HEAD", "OPTIONS")
ROLES = (Role.VIEWER, Role.EVALUATOR, Role.MANAGER)  # the manager last: it may archive
DOCS = Path(__file__).resolve().parents[2] / "docs" / "permissions.md"
# Not the browser: the admin (staff only, tested at the end) and the API (tests/api/).
OTHER_PREFIXES = ("admin/", "api/v1/")
# Load-balancer probes at the site root: no session, no organization, no ids.
PROBES = {"healthz", "readyz"}
# The customer feedback pages: anonymous by design, reached by a link's unguessable token
# (no id, no session), tested in tests/feedback/.
PUBLIC_FEEDBACK = {"feedback-answer", "feedback-thanks"}

# --- The URLconf ------------------------------------------------------------------------


@dataclass(frozen=True)
class WebRoute:
    name: str
    pattern: str  # as the URLconf spells it, for messages
    kwargs: tuple[str, ...]


def _walk(patterns: list[Any], prefix: str) -> Iterator[WebRoute]:
    for entry in patterns:
        if isinstance(entry, URLResolver):
            yield from _walk(entry.url_patterns, prefix + str(entry.pattern))
        elif isinstance(entry, URLPattern):
            pattern = prefix + str(entry.pattern)
            if not pattern.startswith(OTHER_PREFIXES):
                yield WebRoute(str(entry.name), pattern, tuple(entry.pattern.regex.groupindex))


def web_routes() -> list[WebRoute]:
    """Every URL pattern of the browser side, from the project's URLconf."""
    routes = [
        r for r in _walk(get_resolver().url_patterns, "") if r.name not in PROBES | PUBLIC_FEEDBACK
    ]
    names = [r.name for r in routes]
    assert len(names) == len(set(names)), f"web URL names must be unique to be walked: {names}"
    return routes


# Routes whose one kwarg names an object: URL name → the kind of object.
OBJECT_ROUTES: dict[str, str] = {
    "journey-map": "journey",
    "journey-map-body": "journey",
    "journey-history": "journey",
    "touch-point": "touchpoint",
    "touch-point-card": "touchpoint",
    "touch-point-scores": "touchpoint",
    "touch-point-csv": "touchpoint",
    "journey-sites": "journey",
    "journey-sites-csv": "journey",
    "journey-map-csv": "journey",
    "token-revoke": "token",
    "evaluate-done": "evaluation",
    "journey-changed": "journey",
    "journey-report": "journey",
    "journey-report-pdf": "journey",
    "editor-archived": "journey",
    "editor-stage-create": "journey",
    "editor-stage-update": "stage",
    "editor-stage-move": "stage",
    "editor-stage-archive": "stage",
    "editor-stage-restore": "stage",
    "editor-touch-point-create": "stage",
    "editor-touch-point": "touchpoint",
    "editor-touch-point-move": "touchpoint",
    "editor-touch-point-archive": "touchpoint",
    "editor-touch-point-restore": "touchpoint",
    "editor-criteria": "touchpoint",
    "editor-criterion": "criterion",
    "editor-criterion-move": "criterion",
    "editor-criterion-archive": "criterion",
    "editor-criterion-restore": "criterion",
    "action-open": "touchpoint",
    "action-done": "action",
    "alerts-webhook": "endpoint",
    "alerts-webhook-test": "endpoint",
    "alerts-webhook-toggle": "endpoint",
    "alerts-webhook-delete": "endpoint",
    "alerts-redeliver": "delivery",
    "feedback-setup": "touchpoint",
    "feedback-link-create": "touchpoint",
    "feedback-link-revoke": "feedbacklink",
    "feedback-poster": "feedbacklink",
    "journey-settings": "journey",
    "site-update": "site",
    "site-archive": "site",
    "site-restore": "site",
    "team-member-role": "membership",
    "team-member-remove": "membership",
    "team-invitation-resend": "invitation",
    "team-invitation-revoke": "invitation",
}
# Routes whose path carries a secret from an email instead of an id: the link is the
# credential, so the role and tenancy walks do not apply (tests/team/ and
# tests/web/test_password_reset.py prove what each link opens). Name → kwargs of a link
# that was never issued.
TOKEN_ROUTES: dict[str, dict[str, str]] = {
    "team-join": {"token": "never-issued"},
    "password_reset_confirm": {"uidb64": "MQ", "token": "never-issued"},
}
# Routes that act on the person (their session, password, own tokens) or the acting
# organization, never on an id in the path.
OWN_ROUTES = {
    "overview",
    "overview-csv",
    "favicon",
    "activity",
    "choose-organization",
    "account",
    "token-create",
    "evaluate",
    "editor-journey-create",
    "team",
    "team-invite",
    "organization-settings",
    "sites",
    "site-create",
    "login",
    "logout",
    "password_change",
    "password_change_done",
    "alerts-feed",
    "alerts-read",
    "alerts-settings",
    "alerts-webhooks",
    "password_reset",
    "password_reset_done",
    "password_reset_complete",
}
# Object routes that answer a missing id with something other than a 404: revoking says
# "already revoked or does not exist" (then another person's token must get just that).
NOT_404 = {"token-revoke"}
# Answer anonymous visitors; every other route sends them to sign in.
PUBLIC_ROUTES = {
    "login",
    "logout",
    "favicon",
    "password_reset",
    "password_reset_done",
    "password_reset_complete",
    *TOKEN_ROUTES,
}


def accepted(route: str) -> tuple[str, ...]:
    return tuple(m for m in LISTED_METHODS if (route, m) in BROWSER_PERMISSIONS)


# --- Two organizations ---------------------------------------------------------------------


@dataclass
class Side:
    """One organization: its data, its people (by role) and each one's own token and
    evaluation (the routes that only take one's own)."""

    tenant: Tenant
    people: dict[Role, User]
    tokens: dict[Role, ApiToken] = field(default_factory=dict)
    evaluations: dict[Role, Evaluation] = field(default_factory=dict)

    def first(self, kind: str) -> Any:
        return self.tenant.first(kind)


@dataclass
class World:
    rival: Side  # org A: the victim, every name marked
    northwind: Side  # org B: whose people send every request


def _mark(tenant: Tenant) -> None:
    """Put RIVAL_MARK into every text org A's people typed, then rescore (the snapshots
    keep names too)."""
    org = tenant.org
    marked = Concat(Value(f"{RIVAL_MARK} "), F("name"))  # names are unique per parent
    Organization.objects.filter(pk=org.pk).update(name=marked)
    journeys = Journey.objects.for_organization(org)
    journeys.update(name=marked, description=f"{RIVAL_MARK} about")
    Stage.objects.filter(journey__in=journeys).update(name=marked)
    TouchPoint.objects.filter(journey__in=journeys).update(
        name=marked, owner_team=f"{RIVAL_MARK} team"
    )
    Criterion.objects.filter(touch_point__journey__in=journeys).update(name=marked)
    Site.objects.for_organization(org).update(name=marked)
    Evaluation.objects.for_organization(org).update(comment=f"{RIVAL_MARK} comment")
    Action.objects.for_organization(org).update(description=f"{RIVAL_MARK} fix")
    Event.objects.for_organization(org).update(
        summary=Concat(Value(f"{RIVAL_MARK} "), F("summary"))
    )
    WebhookEndpoint.objects.for_organization(org).update(description=f"{RIVAL_MARK} hook")
    FeedbackLink.objects.for_organization(org).update(label=f"{RIVAL_MARK} poster")
    FeedbackQuestion.objects.for_organization(org).update(text=f"{RIVAL_MARK} question?")
    for journey in journeys:
        recompute_journey(journey.pk)
    for row in tenant.objects.values():
        for obj in row:
            obj.refresh_from_db()


def _side(org: Organization, *, marked: bool) -> Side:
    domain = "rival.test" if marked else "northwind.test"
    people = {}
    for role in ROLES:
        people[role] = UserFactory(email=f"{role}@{domain}")
        MembershipFactory(user=people[role], organization=org, role=role)
    tenant = build_tenant(org, manager=people[Role.MANAGER])
    side = Side(tenant=tenant, people=people)
    for role, person in people.items():
        token_name = f"{RIVAL_MARK} laptop" if marked else "Laptop"
        side.tokens[role] = create_token(user=person, name=token_name)[0]
    weak = tenant.first("touchpoint")
    side.evaluations[Role.MANAGER] = tenant.first("evaluation")
    side.evaluations[Role.EVALUATOR] = submit_evaluation(
        evaluator=people[Role.EVALUATOR],
        organization=org,
        touch_point_id=weak.pk,
        source="supervisor",
        observed_at=tenant.first("evaluation").observed_at,
        answers=[AnswerInput(c.pk, 1) for c in tenant.objects["criterion"][:2]],
    )
    tenant.objects["evaluation"].append(side.evaluations[Role.EVALUATOR])
    tenant.objects["token"] = list(side.tokens.values())
    if marked:
        _mark(tenant)
    return side


@pytest.fixture(scope="module")
def world(django_db_setup: None, django_db_blocker: Any) -> Iterator[World]:
    """Both organizations, built once; rolled back when the module is done."""
    with (
        django_db_blocker.unblock(),
        transaction.atomic(),
        override_settings(PASSWORD_HASHERS=["django.contrib.auth.hashers.MD5PasswordHasher"]),
    ):
        built = World(
            rival=_side(OrganizationFactory(name="Rival"), marked=True),
            northwind=_side(OrganizationFactory(name="Northwind Broadband"), marked=False),
        )
        yield built
        transaction.set_rollback(True)


def web_state() -> list[list[dict[str, Any]]]:
    """Every row a browser request could change: the API walk's list, plus people,
    memberships, organizations and tokens."""
    models: list[type[Model]] = [
        User,
        Membership,
        Organization,
        ApiToken,
        Invitation,
        OutboundEmail,
        AlertSettings,
    ]
    return [*everything(), *(list(m.objects.order_by("pk").values()) for m in models)]


# --- Requests ------------------------------------------------------------------------------


def signed_in(user: User) -> Client:
    client = Client()
    client.force_login(user)
    client.get(reverse("account"))  # the CSRF cookie is set once, not on the compared answers
    return client


def evaluation_form(side: Side, touch_point: TouchPoint | None = None) -> dict[str, str]:
    """A valid POST of the evaluation form for the weak touch point's three criteria."""
    touch_point = touch_point or side.first("touchpoint")
    scale, yes_no, numeric = side.tenant.objects["criterion"][:3]
    return {
        "touch_point": str(touch_point.pk),
        "client_key": "",
        "source": "supervisor",
        "site": str(side.first("site").pk),
        "comment": "Walked in, nobody there.",
        f"answer_{scale.pk}": "3",
        f"answer_{yes_no.pk}": "1",
        f"answer_{numeric.pk}": "120",
    }


def form_body(route: str, side: Side, role: Role) -> dict[str, str]:
    """A body the route would accept from someone allowed, so only the checks under test
    stand between the caller and a change."""
    name = f"Made by the {role}"
    bodies = {
        "choose-organization": {"organization": str(side.tenant.org.pk)},
        "token-create": {"name": name},
        "evaluate": evaluation_form(side),
        "editor-journey-create": {"name": name, "target": "75"},
        "editor-stage-create": {"name": name},
        "editor-stage-update": {"name": name},
        "editor-stage-move": {"position": "0"},
        "editor-touch-point-create": {"name": name, "channel": "phone", "importance": "3"},
        "editor-touch-point": {
            "name": name,
            "description": "",
            "channel": "phone",
            "owner_team": "",
            "importance": "3",
            "target": "",
        },
        "editor-touch-point-move": {"position": "0"},
        "editor-criteria": {"name": name, "kind": "yes_no", "weight": "1"},
        "editor-criterion": {"name": name, "kind": "yes_no", "weight": "1"},
        "editor-criterion-move": {"position": "0"},
        "action-open": {
            "description": name,
            "owner": str(side.people[Role.MANAGER].pk),
            "due": "2030-01-31",
        },
        "alerts-webhooks": {"url": "http://127.0.0.1:9/hook", "event_types": "weak_link.entered"},
        "alerts-settings": {f"journey-{side.first('journey').pk}": "digest"},
        "feedback-setup": {
            "ask": str(side.tenant.objects["criterion"][1].pk),
            f"text_{side.tenant.objects['criterion'][1].pk}": f"Asked by the {role}?",
        },
        "feedback-link-create": {"label": name, "site": str(side.first("site").pk)},
        "team-invite": {"email": f"new.{role}@example.test", "role": "viewer"},
        "team-member-role": {"role": "evaluator"},
        "password_reset": {"email": side.people[role].email},
        "site-create": {"name": f"Site of the {role}", "code": ""},
        "site-update": {"name": name, "code": "X1"},
        "journey-settings": {
            "name": name,
            "target": "75",
            "status": "active",
            "version": version_of(Journey.objects.get(pk=side.first("journey").pk)),
        },
        "organization-settings": {
            **{k: str(v) for k, v in current_settings(side.tenant.org.pk).items()},
            "min_n": "4",
            "version": settings_version(current_settings(side.tenant.org.pk)),
        },
        "login": {"username": side.people[role].email, "password": PASSWORD},
        "password_change": {
            "old_password": PASSWORD,
            "new_password1": "a longer secret, typed twice 42",
            "new_password2": "a longer secret, typed twice 42",
        },
    }
    return bodies.get(route, {})


def own_object(route: str, side: Side, role: Role) -> Any:
    """The object of `side` a route is called on: an archived one to restore, the
    yes/no criterion to edit (its kind stays), the caller's own token and evaluation."""
    kind = OBJECT_ROUTES[route]
    if kind == "token":
        return side.tokens[role]
    if kind == "evaluation":
        return side.evaluations.get(role, side.first("evaluation"))
    if route.endswith("-restore"):
        return side.tenant.archived(kind)
    if route == "editor-criterion":
        return side.tenant.objects["criterion"][1]
    return side.first(kind)


def url_of(route: WebRoute, pk: int | None = None) -> str:
    if route.name in TOKEN_ROUTES:
        return reverse(route.name, kwargs=TOKEN_ROUTES[route.name])
    return reverse(route.name, kwargs={route.kwargs[0]: pk} if route.kwargs else {})


def send(client: Client, method: str, url: str, data: dict[str, str], **headers: str) -> Any:
    if method == "POST":
        return client.post(url, data, **headers)
    return client.generic(method, url, **headers)


CSRF_MASK = re.compile(rb"\b[A-Za-z0-9]{64}\b")  # a fresh mask of the CSRF token each render
# The request id, and never_cache's Expires (the time of the answer, to the second).
PER_REQUEST_HEADERS = {"x-request-id", "expires", "content-length"}


def body_of(response: Any) -> bytes:
    """The body, streamed (the evaluations download) or not; read once, kept for later looks."""
    if not getattr(response, "streaming", False):
        return bytes(response.content)
    if not hasattr(response, "read_body"):
        response.read_body = b"".join(response.streaming_content)
    return bytes(response.read_body)


def observed(response: Any) -> tuple[int, bytes, dict[str, str]]:
    """Everything a caller can observe of a response, bar what differs on every request."""
    body = CSRF_MASK.sub(b"<csrf>", body_of(response))
    headers = {
        name: value
        for name, value in response.headers.items()
        if name.lower() not in PER_REQUEST_HEADERS
    }
    return response.status_code, body, headers


def rival_leaks(response: Any) -> bool:
    return RIVAL_MARK.encode() in body_of(response)


# --- Classification ---------------------------------------------------------------------------


def test_every_web_url_pattern_is_classified() -> None:
    """A new browser route must be placed in the walk and the permissions table first."""
    routes = {r.name: r for r in web_routes()}
    known = OBJECT_ROUTES.keys() | OWN_ROUTES | TOKEN_ROUTES.keys()
    unknown = sorted(f"/{r.pattern} ({name})" for name, r in routes.items() if name not in known)
    untabled = sorted(f"/{r.pattern} ({name})" for name, r in routes.items() if not accepted(name))
    assert not unknown, (
        f"Browser routes the tenancy walk does not know: {unknown}. Add each to OBJECT_ROUTES "
        "(the kind of object its id names) or OWN_ROUTES in tests/web/test_web_walls.py."
    )
    assert not untabled, (
        f"Browser routes with no row in tests/web/permissions.py: {untabled}. Decide who may "
        "call them with which method, and say so in docs/permissions.md."
    )
    stale = sorted(known - routes.keys()) + sorted(
        {name for name, _ in BROWSER_PERMISSIONS} - routes.keys()
    )
    assert not stale, f"Entries for URL names that no longer exist: {stale}"
    for name, route in routes.items():
        expected = len(TOKEN_ROUTES[name]) if name in TOKEN_ROUTES else int(name in OBJECT_ROUTES)
        assert len(route.kwargs) == expected, f"/{route.pattern}: fill {route.kwargs}"


DOC_ROW = re.compile(r"^\| (GET|POST|PUT|PATCH|DELETE) \| `(/[^`]*)` \| (.+) \| (.+) \| (.+) \|$")


def test_docs_permissions_md_states_the_same_browser_table() -> None:
    """The page people read and the table the tests enforce are one and the same."""
    documented: dict[tuple[str, str], frozenset[Role]] = {}
    text = DOCS.read_text()
    section = text[text.index("## The browser, route by route") :]
    for line in section.splitlines():
        match = DOC_ROW.match(line)
        if match:
            method, path, *marks = match.groups()
            name = resolve(path.replace("{id}", "1")).url_name
            roles = (Role.MANAGER, Role.EVALUATOR, Role.VIEWER)
            documented[str(name), method] = frozenset(
                role for role, mark in zip(roles, marks, strict=True) if mark.strip() == "✓"
            )
    assert documented == BROWSER_PERMISSIONS


# --- Tenancy (S1) --------------------------------------------------------------------------------


def _tenancy_cases() -> list[Any]:
    return [
        pytest.param(r, id=r.name)
        for r in web_routes()
        if r.name in OBJECT_ROUTES
        or (r.name not in OWN_ROUTES and r.name not in TOKEN_ROUTES)  # unknown ones fail inside
    ]


@pytest.mark.parametrize("route", _tenancy_cases())
def test_another_organizations_ids_answer_exactly_like_missing_ids(
    world: World, db: None, route: WebRoute
) -> None:
    if route.name not in OBJECT_ROUTES:
        pytest.fail(f"/{route.pattern} ({route.name}) is not in OBJECT_ROUTES")
    kind = OBJECT_ROUTES[route.name]
    callers = {role: signed_in(world.northwind.people[role]) for role in ROLES}
    before = web_state()
    leaks: list[str] = []

    for role, client in callers.items():
        for method in EVERY_METHOD:
            allowed = role in BROWSER_PERMISSIONS.get((route.name, method), frozenset())
            victims = world.rival.tenant.objects[kind]
            variants: list[dict[str, str]] = [{}]
            if method in accepted(route.name):
                variants.append({"HTTP_HX_REQUEST": "true"})  # htmx gets a part, not a page
            elif role != Role.VIEWER:
                continue  # refused by method before any lookup: one role and id will do
            else:
                victims = victims[:1]
            for headers in variants:
                data = form_body(route.name, world.northwind, role)
                missing = observed(send(client, method, url_of(route, MISSING), data, **headers))
                for victim in victims:
                    url = url_of(route, victim.pk)
                    response = send(client, method, url, data, **headers)
                    request = f"{role}: {method} {url} {headers or ''}"
                    if rival_leaks(response):
                        leaks.append(f"{request} shows {RIVAL_MARK}")
                    if (
                        method in accepted(route.name)
                        and allowed
                        and route.name not in NOT_404
                        and response.status_code != 404
                    ):
                        leaks.append(f"{request} → {response.status_code}, not 404")
                    if observed(response) != missing:
                        leaks.append(
                            f"{request} → {response.status_code} {body_of(response)[:300]!r}; "
                            f"a missing id → {missing[0]} {missing[1][:300]!r}"
                        )

    assert not leaks, "Another organization's id is told apart from a missing one:\n" + (
        "\n".join(leaks)
    )
    assert web_state() == before


def test_ids_of_another_organization_in_queries_and_forms_answer_like_missing_ids(
    world: World, db: None
) -> None:
    """Ids that ride in a query string or a form field, not the path: the touch point to
    evaluate (to open, and to post), the site of an evaluation, the stage to move a touch
    point into, the organization to switch to."""
    ours, theirs = world.northwind, world.rival
    cases: list[tuple[str, str, dict[str, str], dict[str, str]]] = []
    for victim in theirs.tenant.objects["touchpoint"]:
        cases.append(("GET", f"/evaluate/?touch_point={victim.pk}", {}, {}))
        posted = evaluation_form(theirs, victim)  # their criteria too
        cases.append(("POST", "/evaluate/", posted, {**posted, "touch_point": str(MISSING)}))
    for victim in theirs.tenant.objects["site"]:
        form = evaluation_form(ours)
        cases.append(("POST", "/evaluate/", {**form, "site": str(victim.pk)}, {}))
    move = reverse("editor-touch-point-move", args=[ours.first("touchpoint").pk])
    cases.extend(
        ("POST", move, {"stage": str(victim.pk), "position": "0"}, {})
        for victim in theirs.tenant.objects["stage"]
    )
    switch = reverse("choose-organization")
    cases.append(("POST", switch, {"organization": str(theirs.tenant.org.pk)}, {}))
    callers = {role: signed_in(ours.people[role]) for role in ROLES}
    before = web_state()
    leaks: list[str] = []

    for role, client in callers.items():
        for method, url, data, missing_data in cases:
            if method == "GET":
                missing_url = re.sub(r"=\d+$", f"={MISSING}", url)
                response, missing = client.get(url), client.get(missing_url)
            else:
                if not missing_data:
                    missing_data = {
                        k: str(MISSING) if k in ("site", "stage", "organization") else v
                        for k, v in data.items()
                    }
                response, missing = client.post(url, data), client.post(url, missing_data)
            request = f"{role}: {method} {url} {data}"
            if rival_leaks(response):
                leaks.append(f"{request} shows {RIVAL_MARK}")
            if observed(response) != observed(missing):
                leaks.append(
                    f"{request} → {response.status_code} {body_of(response)[:300]!r}; a missing "
                    f"id → {missing.status_code} {body_of(missing)[:300]!r}"
                )
        after_switch = client.get("/")
        if rival_leaks(after_switch):
            leaks.append(f"{role}: the overview after switching shows {RIVAL_MARK}")

    assert not leaks, "\n".join(leaks)
    assert web_state() == before


# --- Roles (S3) ----------------------------------------------------------------------------------


def cells() -> list[Any]:
    return [
        pytest.param(route, method, id=f"{method} {route.name}")
        for route in web_routes()
        for method in (accepted(route.name) or ("GET",))  # an untabled route fails inside
    ]


def call(client: Client, route: WebRoute, method: str, side: Side, role: Role) -> Any:
    pk = own_object(route.name, side, role).pk if route.kwargs else None
    url = url_of(route, pk)
    if route.name == "evaluate" and method == "GET":
        url += f"?touch_point={side.first('touchpoint').pk}"
    return send(client, method, url, form_body(route.name, side, role))


@pytest.mark.parametrize(("route", "method"), cells())
def test_each_role_gets_what_the_permissions_table_says(
    world: World, db: None, route: WebRoute, method: str
) -> None:
    if (route.name, method) not in BROWSER_PERMISSIONS:
        pytest.fail(
            f"{method} /{route.pattern} ({route.name}) is not in tests/web/permissions.py: "
            "decide which roles may call it, and say so in docs/permissions.md."
        )
    if route.name in TOKEN_ROUTES:
        pytest.skip("the emailed link is the credential, not the role (tests/team/)")
    allowed = BROWSER_PERMISSIONS[route.name, method]
    wrong: list[str] = []

    for role in ROLES:
        client = signed_in(world.northwind.people[role])
        before = None if role in allowed else web_state()
        response = call(client, route, method, world.northwind, role)
        seen = f"{role}: {method} {route.name} → {response.status_code} {body_of(response)[:300]!r}"
        if rival_leaks(response):
            wrong.append(f"{seen}; shows {RIVAL_MARK}")
        if role in allowed:
            location = response.headers.get("Location", "")
            if not 200 <= response.status_code < 400 or location.startswith("/sign-in/?next="):
                wrong.append(f"{seen}; the table lets the {role} through")
        elif response.status_code != 403:
            wrong.append(f"{seen}; the table says 403")
        elif web_state() != before:
            wrong.append(f"{seen}, but something was stored")

    assert not wrong, "\n".join(wrong)


@pytest.mark.parametrize("route", web_routes(), ids=lambda r: r.name)
def test_methods_the_table_does_not_list_are_405(world: World, db: None, route: WebRoute) -> None:
    """The table lists every method a route takes; any other changes nothing. The sign-in
    page sends a signed-in person on whatever the method, so it is asked anonymously."""
    person = world.northwind.people[Role.MANAGER]
    client = Client() if route.name == "login" else signed_in(person)
    pk = (
        own_object(route.name, world.northwind, Role.MANAGER).pk
        if route.kwargs and route.name not in TOKEN_ROUTES
        else None
    )
    before = web_state()
    for method in LISTED_METHODS:
        if method in accepted(route.name):
            continue
        response = send(client, method, url_of(route, pk), {})
        assert response.status_code == 405, (method, route.name, response.status_code)
    assert web_state() == before


@pytest.mark.parametrize("route", web_routes(), ids=lambda r: r.name)
def test_anonymous_visitors_are_sent_to_sign_in(world: World, db: None, route: WebRoute) -> None:
    if route.name in PUBLIC_ROUTES:
        pytest.skip("sign-in, sign-out and the favicon answer anonymous visitors")
    pk = own_object(route.name, world.rival, Role.MANAGER).pk if route.kwargs else None
    before = web_state()
    for method in accepted(route.name):
        response = send(Client(), method, url_of(route, pk), {})
        assert response.status_code == 302, (method, route.name, response.status_code)
        assert response["Location"].startswith("/sign-in/?next="), response["Location"]
    assert web_state() == before


# --- The admin ------------------------------------------------------------------------------------


def admin_urls(world: World) -> list[str]:
    """The admin's index and, for every registered model, its list, add page and the change,
    history and delete pages of its newest row."""
    urls = [reverse("admin:index")]
    for model in admin.site._registry:
        meta = model._meta
        prefix = f"admin:{meta.app_label}_{meta.model_name}"
        urls += [reverse(f"{prefix}_changelist"), reverse(f"{prefix}_add")]
        row = model._default_manager.order_by("-pk").first()
        if row is not None:
            for page in ("change", "history", "delete"):
                urls.append(reverse(f"{prefix}_{page}", args=[row.pk]))
    return urls


def test_members_without_staff_status_get_no_admin_data(world: World, db: None) -> None:
    """Even a manager: the admin shows every organization's rows, so it is for staff only."""
    client = signed_in(world.northwind.people[Role.MANAGER])
    before = web_state()
    for url in admin_urls(world):
        for method in ("GET", "POST"):
            response = send(client, method, url, {"name": "Taken over"})
            assert response.status_code == 302, (method, url, response.status_code)
            assert response["Location"].startswith(reverse("admin:login")), url
            assert not rival_leaks(response), url
    assert web_state() == before
