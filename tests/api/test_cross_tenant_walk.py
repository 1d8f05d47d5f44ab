"""Another organization's ids on every API route answer exactly like ids that do not exist
(RELIABILITY S1; issue 4: "a test that walks every URL pattern with another organization's
ids and expects 404").

The walk is generated, not hand-listed: every URL pattern under /api/v1/ comes from the
URLconf, every method from the view that serves it, every id-naming query parameter from
the OpenAPI schema. Rival Telecom (org A) has one object of every kind, active and
archived, with evaluations and computed scores. Northwind's people (org B: each role with a
token, a manager with a browser session, and a manager who also belongs to Rival but acts
in Northwind) send every method to every detail route with Rival's ids. Each answer must be
the 404 a missing id gets, byte for byte and header for header, so nobody can tell
"another organization's" from "does not exist". Writes are sent without If-Match (the 404
must come before the 428, or a 428 would reveal that the id exists) and with `If-Match: *`
(which would really write if the tenant check were missing). Lists and id filters show none
of Rival's rows, and Rival's data is unchanged at the end.

A URL pattern or id parameter the walk does not know is a failure that says what to add.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from functools import cache
from typing import Any

import pytest
from django.db import connection
from django.db.models import Model
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, resolve, reverse
from django.utils import timezone
from drf_spectacular.generators import SchemaGenerator
from rest_framework.test import APIClient

from accounts.models import AuditEvent, Membership, Organization, Role, User
from alerts import delivery as webhook_delivery
from alerts import services as alert_services
from alerts.models import (
    Action,
    Event,
    Notification,
    NotificationSetting,
    WebhookAttempt,
    WebhookDelivery,
    WebhookEndpoint,
)
from alerts.webhooks import new_secret
from feedback.models import FeedbackLink, FeedbackQuestion, FeedbackResponse, FeedbackSetup
from feedback.services import (
    QuestionInput,
    create_link,
    revoke_link,
    save_questions,
    submit_response,
)
from journeys.models import Journey, JourneyStatus, Stage
from journeys.services import archive_stage
from notify.models import OutboundEmail
from scoring.models import JourneyScore, StaleMark, TouchPointScore, WeeklyScore
from scoring.services import recompute_journey
from team.models import Invitation
from tests.api.conftest import ClientFor
from tests.conftest import Personas, make_personas, rows_for_the_module
from tests.factories import (
    CriterionFactory,
    JourneyFactory,
    MembershipFactory,
    SiteFactory,
    StageFactory,
    TouchPointFactory,
    UserFactory,
)
from touchpoints.models import (
    Answer,
    Criterion,
    CriterionKind,
    CriterionVersion,
    Evaluation,
    Site,
    Source,
    TouchPoint,
)
from touchpoints.services import (
    AnswerInput,
    EvaluationInput,
    archive_criterion,
    archive_site,
    archive_touch_point,
    submit_evaluations,
)

API_PREFIX = "api/v1/"
MISSING = 10**9  # an id no row has
SAFE = ("GET", "HEAD", "OPTIONS")

# --- The URLconf ------------------------------------------------------------------------


@dataclass(frozen=True)
class ApiRoute:
    """One URL pattern under /api/v1/ and the methods its view answers."""

    name: str
    pattern: str  # as the URLconf spells it, for messages
    kwargs: frozenset[str]
    methods: tuple[str, ...]  # GET, POST, PUT, PATCH, DELETE, plus HEAD and OPTIONS
    actions: dict[str, str] = field(default_factory=dict, compare=False, hash=False)


def _methods(callback: Any) -> tuple[dict[str, str], tuple[str, ...]]:
    """What the view answers: a viewset's action map, or an APIView's handler methods.
    HEAD follows GET (Django and DRF both map it) and OPTIONS is DRF's metadata. A plain
    function view (the catch-all 404) answers any method."""
    actions = {m.upper(): a for m, a in (getattr(callback, "actions", None) or {}).items()}
    if not actions and not hasattr(callback, "cls"):
        return {}, ("GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS")  # any method
    if not actions:
        view = callback.cls
        actions = {
            m.upper(): m
            for m in view.http_method_names
            if m not in ("head", "options", "trace") and hasattr(view, m)
        }
    methods = [m for m in ("GET", "POST", "PUT", "PATCH", "DELETE") if m in actions]
    if "GET" in actions:
        methods.append("HEAD")
    methods.append("OPTIONS")
    return actions, tuple(methods)


def _walk(patterns: list[Any], prefix: str, kwargs: frozenset[str]) -> Iterator[ApiRoute]:
    for entry in patterns:
        names = kwargs | frozenset(entry.pattern.regex.groupindex)
        if isinstance(entry, URLResolver):
            yield from _walk(entry.url_patterns, prefix + str(entry.pattern), names)
        elif isinstance(entry, URLPattern):
            pattern = prefix + str(entry.pattern)
            if pattern.startswith(API_PREFIX):
                actions, methods = _methods(entry.callback)
                yield ApiRoute(str(entry.name), pattern, names, methods, actions)


@cache
def api_routes() -> tuple[ApiRoute, ...]:
    """Every URL pattern under /api/v1/, from the project's URLconf."""
    routes = tuple(_walk(get_resolver().url_patterns, "", frozenset()))
    names = [r.name for r in routes]
    assert len(names) == len(set(names)), f"API URL names must be unique to be walked: {names}"
    return routes


@cache
def openapi_schema() -> dict[str, Any]:
    """The schema /api/v1/schema/ serves."""
    return dict(SchemaGenerator().get_schema(request=None, public=True))


# --- How to fill each pattern -----------------------------------------------------------

# Detail routes: URL name → the kind of object whose id fills `pk`.
DETAIL_ROUTES: dict[str, str] = {
    "journey-detail": "journey",
    "journey-scores": "journey",
    "stage-detail": "stage",
    "stage-move": "stage",
    "stage-archive": "stage",
    "stage-restore": "stage",
    "touchpoint-detail": "touchpoint",
    "touchpoint-move": "touchpoint",
    "touchpoint-archive": "touchpoint",
    "touchpoint-restore": "touchpoint",
    "touchpoint-scores": "touchpoint",
    "criterion-detail": "criterion",
    "criterion-move": "criterion",
    "criterion-archive": "criterion",
    "criterion-restore": "criterion",
    "site-detail": "site",
    "site-archive": "site",
    "site-restore": "site",
    "evaluation-detail": "evaluation",
    "action-detail": "action",
    "action-done": "action",
    "webhook-endpoint-detail": "endpoint",
    "webhook-endpoint-test": "endpoint",
    "webhook-delivery-detail": "delivery",
    "webhook-delivery-redeliver": "delivery",
    "member-detail": "membership",
    "invitation-detail": "invitation",
    "invitation-resend": "invitation",
    "feedback-link-detail": "feedbacklink",
    "feedback-link-revoke": "feedbacklink",
}
# The retrieve route of each kind, to read the victim's representation for full bodies.
RETRIEVE_ROUTES = {
    "journey": "journey-detail",
    "stage": "stage-detail",
    "touchpoint": "touchpoint-detail",
    "criterion": "criterion-detail",
    "site": "site-detail",
    "evaluation": "evaluation-detail",
    "action": "action-detail",
    "endpoint": "webhook-endpoint-detail",
    "delivery": "webhook-delivery-detail",
    "membership": "member-detail",
    "invitation": "invitation-detail",
    "feedbacklink": "feedback-link-detail",
}
# Collection routes (no kwargs): URL name → the kind of row listed.
COLLECTION_ROUTES: dict[str, str] = {
    "journey-list": "journey",
    "stage-list": "stage",
    "touchpoint-list": "touchpoint",
    "criterion-list": "criterion",
    "site-list": "site",
    "evaluation-list": "evaluation",
    "feedback-link-list": "feedbacklink",
    "weak-links": "weak_link",
    "member-list": "membership",
    "invitation-list": "invitation",
    "action-list": "action",
    "notification-list": "notification",
    "webhook-endpoint-list": "endpoint",
    "webhook-delivery-list": "delivery",
}
# Kinds only managers may read (the team): other roles' lists are 403, not a filtered list.
MANAGERS_READ = {"membership", "invitation", "endpoint", "delivery"}
# Routes only managers may call at all, reads included (webhooks).
MANAGERS_ONLY_ROUTES = {
    "webhook-endpoint-list",
    "webhook-delivery-list",
    "webhook-endpoint-detail",
    "webhook-endpoint-test",
    "webhook-delivery-detail",
    "webhook-delivery-redeliver",
}
# Feeds are per person and filled when an event happens: someone who joined later (the
# member of both) has an empty one, which shows nobody's rows either.
PERSONAL_FEEDS = {"notification-list"}
# Routes that take no ids and list no rows: nothing to fill, no other tenant's row to show.
TENANTLESS_ROUTES = {
    "api-schema": "the OpenAPI document, the same for everyone",
    "api-docs": "Swagger UI, static",
    "api-ping": "the caller's own organization and role",
    "organization": "the acting organization's own settings; no ids in the path",
    "notification-read": "marks the caller's own notifications read; no ids in the path",
    "notification-setting-list": "the caller's own email choices, per journey of the acting organization",
}
# The JSON 404 for any path under /api/v1/ that no other route matches: no ids, no data.
CATCH_ALL_ROUTES = {"api-not-found"}
# Query parameters that name objects: parameter → kind. Integer query parameters that do
# not name objects are listed in NOT_IDS; any other one fails the walk.
ID_PARAMETERS = {
    "journey": "journey",
    "stage": "stage",
    "touch_point": "touchpoint",
    "site": "site",
}
NOT_IDS = {"page", "page_size", "limit"}


def write_body(action: str, kind: str, representation: dict[str, Any]) -> Any:
    """A body that would be accepted for this action on the victim's object, so only the
    tenant check stands between the caller and a real write."""
    if action == "update":
        return {**representation, "name": "Taken over"}
    if action == "partial_update" and kind == "membership":
        return {"role": "manager"}
    if action == "partial_update":
        return {"name": "Taken over"}
    if action == "move":
        return {"position": 0}
    if action == "restore" and kind != "site":
        return {"position": 0}
    return None  # archive, destroy, restore of a site: no body


# --- Two organizations with data ----------------------------------------------------------


@dataclass
class Tenant:
    """An organization with one object of every kind the API serves, active and archived,
    evaluations of every criterion kind and computed scores with a weak link."""

    org: Organization
    objects: dict[str, list[Model]]  # kind → all its rows (an active one first)

    def ids(self, kind: str) -> list[int]:
        return [int(row.pk) for row in self.objects[kind]]

    def first(self, kind: str) -> Any:
        return self.objects[kind][0]

    def archived(self, kind: str) -> Any:
        return next(row for row in self.objects[kind] if getattr(row, "archived_at", None))


def build_tenant(org: Organization, *, manager: User) -> Tenant:
    """Everything a client of `org` can see, built the way production builds it: structure
    by factories, evaluations through submit_evaluations, scores by recompute_journey."""
    org.min_n = 3
    org.save(update_fields=["min_n"])
    journey = JourneyFactory(organization=org, target=80.0)
    stages = [StageFactory(journey=journey) for _ in range(3)]
    weak = TouchPointFactory(stage=stages[0], importance=5, target=80.0)
    fine = TouchPointFactory(stage=stages[1], importance=2)
    criteria = [
        CriterionFactory(touch_point=weak, kind=CriterionKind.SCALE, scale_size=5),
        CriterionFactory(touch_point=weak, kind=CriterionKind.YES_NO),
        CriterionFactory(
            touch_point=weak, kind=CriterionKind.NUMERIC, target_value=60, worst_value=600
        ),
    ]
    fine_criterion = CriterionFactory(touch_point=fine, kind=CriterionKind.YES_NO)
    site, closed_site = SiteFactory(organization=org), SiteFactory(organization=org)
    now = timezone.now()
    weak_answers = [(1, 0, 600), (2, 0, 480), (1, 1, 540), (2, 0, 300)]
    evaluations = submit_evaluations(
        evaluator=manager,
        organization=org,
        items=[
            *(
                EvaluationInput(
                    touch_point_id=weak.pk,
                    source=source,
                    observed_at=now - timedelta(days=day + 1),
                    site_id=site.pk,
                    answers=[AnswerInput(c.pk, v) for c, v in zip(criteria, values, strict=True)],
                    comment="Slow and unfriendly.",
                )
                for day, (values, source) in enumerate(
                    zip(weak_answers, [Source.SUPERVISOR, Source.CUSTOMER_SURVEY] * 2, strict=True)
                )
            ),
            *(
                EvaluationInput(
                    touch_point_id=fine.pk,
                    source=Source.MYSTERY_SHOPPER,
                    observed_at=now - timedelta(hours=hours),
                    answers=[AnswerInput(fine_criterion.pk, 1)],
                )
                for hours in (2, 3, 4)
            ),
        ],
    )
    # Archived ones of each kind, through the services as a manager archives them.
    archived_stage = archive_stage(actor=manager, stage=stages[2])
    archived_touch_point = archive_touch_point(
        actor=manager, touch_point=TouchPointFactory(stage=stages[1])
    )
    archived_criterion = archive_criterion(
        actor=manager, criterion=CriterionFactory(touch_point=fine)
    )
    archived_site = archive_site(actor=manager, site=closed_site)
    archived_journey = JourneyFactory(organization=org, status=JourneyStatus.ARCHIVED)
    # A member besides the manager (one the manager may demote or remove) and an open
    # invitation, for the team routes.
    member = MembershipFactory(
        user=UserFactory(email=f"member@{org.slug}.test"), organization=org, role=Role.VIEWER
    )
    invitation = Invitation.objects.create(
        organization=org,
        email=f"invited@{org.slug}.test",
        role=Role.VIEWER,
        invited_by=manager,
        nonce="n" * 43,
        sent_at=now,
        expires_at=now + timedelta(days=7),
    )
    # Customer feedback: the weak touch point asks its yes/no criterion through two links,
    # one revoked, and one customer has answered (as a customer answers: via the link).
    save_questions(
        actor=manager,
        touch_point=weak,
        questions=[QuestionInput(criteria[1].pk, "Did we keep our promise?")],
        ask_comment=True,
    )
    link = create_link(actor=manager, touch_point=weak, label="Counter", site_id=site.pk)
    revoked_link = revoke_link(
        actor=manager, link=create_link(actor=manager, touch_point=weak, label="Old receipt")
    )
    customer = submit_response(link=link, answers={criteria[1].pk: 1.0}, comment="Quick.")
    recompute_journey(journey.pk)
    # The loop after the scores: an action on the weak link, a webhook endpoint (written
    # directly: registering one resolves its host) and a test delivery to it.
    action = alert_services.open_action(
        actor=manager,
        touch_point=weak,
        description="Call back within the hour",
        owner_id=manager.pk,
    )
    endpoint = WebhookEndpoint.objects.create(
        organization=org,
        url="https://hooks.example.com/touchstone",
        event_types=["weak_link.entered", "action.verified"],
        secret=new_secret(),
        created_by=manager,
    )
    delivery = webhook_delivery.send_test(actor=manager, endpoint=endpoint)
    return Tenant(
        org=org,
        objects={
            "journey": [journey, archived_journey],
            "stage": [stages[0], stages[1], archived_stage],
            "touchpoint": [weak, fine, archived_touch_point],
            "criterion": [*criteria, fine_criterion, archived_criterion],
            "site": [site, archived_site],
            "evaluation": [*evaluations, customer],
            "weak_link": [weak],
            "action": [action],
            "endpoint": [endpoint],
            "delivery": [delivery],
            "event": list(Event.objects.for_organization(org).order_by("pk")),
            "notification": list(Notification.objects.for_organization(org).order_by("pk")),
            "membership": [member],
            "invitation": [invitation],
            "feedbacklink": [link, revoked_link],
        },
    )


# Every row a cross-tenant request could change, of both organizations.
SNAPSHOT_MODELS: tuple[type[Model], ...] = (
    Journey,
    Stage,
    TouchPoint,
    Criterion,
    CriterionVersion,
    Site,
    Evaluation,
    Answer,
    AuditEvent,
    TouchPointScore,
    JourneyScore,
    WeeklyScore,
    StaleMark,
    Action,
    Event,
    Notification,
    NotificationSetting,
    WebhookEndpoint,
    WebhookDelivery,
    WebhookAttempt,
    Membership,
    Invitation,
    OutboundEmail,
    FeedbackSetup,
    FeedbackQuestion,
    FeedbackLink,
    FeedbackResponse,
)


@cache
def _snapshot_reads() -> tuple[tuple[str, tuple[Any, ...]], ...]:
    """Each model's `SELECT … ORDER BY pk` (what `.order_by("pk").values()` sends), compiled
    once: the walks read every table before and after each cell, and compiling these 27
    querysets anew each time cost more CPU than the requests under test."""
    return tuple(
        model.objects.order_by("pk").values().query.sql_with_params() for model in SNAPSHOT_MODELS
    )


def everything() -> list[list[dict[str, Any]]]:
    """Every row a cross-tenant request could change, of both organizations: for each model
    of SNAPSHOT_MODELS, its rows in pk order, column by column as stored."""
    tables = []
    with connection.cursor() as cursor:
        for sql, params in _snapshot_reads():
            cursor.execute(sql, params)
            columns = [column.name for column in cursor.description]
            tables.append([dict(zip(columns, row, strict=True)) for row in cursor.fetchall()])
    return tables


# --- The callers ------------------------------------------------------------------------------


@dataclass
class World:
    victim: Tenant  # org A: Rival Telecom
    attacker: Tenant  # org B: Northwind, whose people send the requests
    callers: dict[str, APIClient | Client]
    victim_manager: APIClient


@dataclass
class Organizations:
    personas: Personas
    victim: Tenant
    attacker: Tenant
    double_agent: User


@pytest.fixture(scope="module")
def organizations(django_db_setup: None, django_db_blocker: Any) -> Iterator[Organizations]:
    """Both organizations, built once for the module (two tenants are most of a test's
    set-up). Each test's own transaction rolls back whatever it did, and each asserts that
    nothing changed anyway."""
    with rows_for_the_module(django_db_blocker):
        personas = make_personas()
        victim = build_tenant(personas.other_org, manager=personas.outsider)
        attacker = build_tenant(personas.org, manager=personas.manager)
        # Manages Northwind and is a viewer at Rival: acting in Northwind, Rival's ids are
        # foreign too, however much the person may see when acting at Rival.
        double_agent = UserFactory(email="both@northwind.test")
        MembershipFactory(user=double_agent, organization=personas.org, role=Role.MANAGER)
        MembershipFactory(user=double_agent, organization=personas.other_org, role=Role.VIEWER)
        yield Organizations(personas, victim, attacker, double_agent)


@pytest.fixture
def personas(organizations: Organizations, db: None) -> Personas:
    return organizations.personas


@pytest.fixture
def world(organizations: Organizations, client_for: ClientFor) -> World:
    personas = organizations.personas
    browser = APIClient()
    browser.force_login(personas.manager)
    return World(
        victim=organizations.victim,
        attacker=organizations.attacker,
        callers={
            "viewer token": client_for(personas.viewer),
            "evaluator token": client_for(personas.evaluator),
            "manager token": client_for(personas.manager),
            "manager session": browser,
            "member of both, acting in Northwind": client_for(
                organizations.double_agent, organization=personas.org.slug
            ),
        },
        victim_manager=client_for(personas.outsider),
    )


def send(
    client: APIClient | Client, method: str, url: str, body: Any = None, **headers: str
) -> Any:
    data = "" if body is None else json.dumps(body)
    return client.generic(method, url, data, content_type="application/json", **headers)


# Headers that differ between any two requests, whatever they name.
PER_REQUEST_HEADERS = {"x-request-id"}


def answer(response: Any) -> tuple[int, bytes, dict[str, str]]:
    """Everything a caller can observe of a response, bar what differs per request."""
    headers = {
        name: value
        for name, value in response.headers.items()
        if name.lower() not in PER_REQUEST_HEADERS
    }
    return response.status_code, response.content, headers


# --- Tests --------------------------------------------------------------------------------------


def test_every_api_url_pattern_is_in_the_walk() -> None:
    """A new route must be added to one of the maps above before it can ship untested."""
    known = (
        DETAIL_ROUTES.keys()
        | COLLECTION_ROUTES.keys()
        | TENANTLESS_ROUTES.keys()
        | CATCH_ALL_ROUTES
    )
    routes = {route.name: route for route in api_routes()}
    unknown = sorted(f"{r.pattern} ({name})" for name, r in routes.items() if name not in known)
    stale = sorted(known - routes.keys())

    assert not unknown, (
        f"URL patterns under /{API_PREFIX} that the cross-tenant walk does not cover: "
        f"{unknown}. Add each to DETAIL_ROUTES (which kind of id fills its kwargs), "
        "COLLECTION_ROUTES, TENANTLESS_ROUTES or CATCH_ALL_ROUTES in "
        "tests/api/test_cross_tenant_walk.py."
    )
    assert not stale, f"Walk entries for URL names that no longer exist: {stale}"
    for name in DETAIL_ROUTES:
        assert routes[name].kwargs == {"pk"}, f"{routes[name].pattern}: fill {routes[name].kwargs}"
    for name in (*COLLECTION_ROUTES, *TENANTLESS_ROUTES):
        assert not routes[name].kwargs, f"{routes[name].pattern} has kwargs {routes[name].kwargs}"


@pytest.mark.parametrize(
    "route",
    [r for r in api_routes() if r.kwargs and r.name not in CATCH_ALL_ROUTES],
    ids=lambda r: r.name,
)
def test_another_organizations_ids_answer_exactly_like_missing_ids(
    world: World, route: ApiRoute
) -> None:
    if route.name not in DETAIL_ROUTES:
        pytest.fail(
            f"{route.pattern} ({route.name}) takes {sorted(route.kwargs)} but the walk does "
            "not know how to fill them: add it to DETAIL_ROUTES."
        )
    kind = DETAIL_ROUTES[route.name]
    before = everything()
    missing_url = reverse(route.name, kwargs={"pk": MISSING})
    leaks: list[str] = []

    for victim_row in world.victim.objects[kind]:
        url = reverse(route.name, kwargs={"pk": victim_row.pk})
        detail = reverse(RETRIEVE_ROUTES[kind], kwargs={"pk": victim_row.pk})
        representation = world.victim_manager.get(detail).json()
        for method in route.methods:
            body = write_body(route.actions.get(method, ""), kind, representation)
            preconditions: list[dict[str, str]] = [{}]
            if method not in SAFE:
                preconditions.append({"HTTP_IF_MATCH": "*"})
            for who, client in world.callers.items():
                for headers in preconditions:
                    theirs = answer(send(client, method, url, body, **headers))
                    missing = answer(send(client, method, missing_url, body, **headers))
                    request = f"{who}: {method} {url} {headers or ''}"
                    expected_status = 200 if method == "OPTIONS" else 404
                    if theirs[0] != expected_status:
                        leaks.append(f"{request} → {theirs[0]} {theirs[1][:200]!r}")
                    elif theirs != missing:
                        leaks.append(f"{request} → {theirs} differs from a missing id's {missing}")

    assert not leaks, "Another organization's id is told apart from a missing one:\n" + (
        "\n".join(leaks)
    )
    assert everything() == before


def _ids_in(body: Any, kind: str) -> set[int]:
    """The ids of the rows a list or weak-links answer shows."""
    if kind == "weak_link":
        return {int(row["touch_point_id"]) for row in body["weak_links"]}
    return {int(row["id"]) for row in body["results"]}


@pytest.mark.parametrize("route", [r for r in api_routes() if not r.kwargs], ids=lambda r: r.name)
def test_lists_show_none_of_another_organizations_rows(world: World, route: ApiRoute) -> None:
    if route.name in TENANTLESS_ROUTES:
        pytest.skip(f"{route.name}: {TENANTLESS_ROUTES[route.name]}")
    if route.name not in COLLECTION_ROUTES:
        pytest.fail(f"{route.pattern} ({route.name}) is not in COLLECTION_ROUTES.")
    kind = COLLECTION_ROUTES[route.name]
    url = reverse(route.name)
    theirs = set(world.victim.ids(kind))
    ours = set(world.attacker.ids(kind))
    if kind == "membership":  # every member is listed, the callers' own memberships too
        theirs, ours = (
            set(Membership.objects.filter(organization=t.org).values_list("pk", flat=True))
            for t in (world.victim, world.attacker)
        )
    problems: list[str] = []

    for who, client in world.callers.items():
        for query in ("", "?include_archived=true", "?page_size=500"):
            response = client.get(url + query)
            if kind in MANAGERS_READ and who in ("viewer token", "evaluator token"):
                assert response.status_code == 403, (who, query, response.content)
                continue  # the role refusal says nothing about any organization's rows
            assert response.status_code == 200, (who, query, response.content)
            shown = _ids_in(response.json(), kind)
            if shown & theirs:
                problems.append(f"{who}: GET {url}{query} shows {sorted(shown & theirs)}")
            if route.name in PERSONAL_FEEDS and not shown:
                continue
            if not shown or not shown <= ours:
                problems.append(f"{who}: GET {url}{query} shows {sorted(shown)}, not ours")
            if "count" in response.json() and response.json()["count"] != len(shown):
                problems.append(f"{who}: GET {url}{query} counts {response.json()['count']}")

    assert not problems, "\n".join(problems)


def _id_parameters(path: str, operation: dict[str, Any]) -> list[str]:
    """The query parameters of a GET operation that name objects (fails on unknown ones)."""
    names = []
    for parameter in operation.get("parameters", []):
        if parameter["in"] != "query" or parameter.get("schema", {}).get("type") != "integer":
            continue
        name = parameter["name"]
        assert name in ID_PARAMETERS or name in NOT_IDS, (
            f"GET {path}: integer query parameter {name!r} is unknown to the walk. Add it to "
            "ID_PARAMETERS (the kind of object it names) or NOT_IDS."
        )
        if name in ID_PARAMETERS:
            names.append(name)
    return names


def _schema_reads() -> list[tuple[str, str]]:
    """(schema path, URL name) of every GET operation with an id-naming query parameter."""
    reads = []
    for path, operations in openapi_schema()["paths"].items():
        if "get" in operations and _id_parameters(path, operations["get"]):
            reads.append((path, resolve(path.replace("{id}", "1")).url_name))
    return reads


def test_every_get_in_the_schema_is_checked_for_id_parameters() -> None:
    """The filter walk below is generated from the schema; this pins that it found them."""
    found = {name for _, name in _schema_reads()}
    assert found >= {
        "stage-list",
        "touchpoint-list",
        "criterion-list",
        "evaluation-list",
        "journey-scores",
        "touchpoint-scores",
        "weak-links",
    }


@pytest.mark.parametrize(("path", "name"), _schema_reads(), ids=[n for _, n in _schema_reads()])
def test_filtering_by_another_organizations_ids_answers_like_missing_ids(
    world: World, path: str, name: str
) -> None:
    """`?site=<Rival's site>` on our own journey's scores, `?journey=<Rival's journey>` on
    our stages: the answer is the one a missing id gets (an empty list, or the same 400)."""
    operation = openapi_schema()["paths"][path]["get"]
    kwargs = {"pk": world.attacker.first(DETAIL_ROUTES[name]).pk} if name in DETAIL_ROUTES else {}
    url = reverse(name, kwargs=kwargs)
    leaks: list[str] = []

    for parameter in _id_parameters(path, operation):
        for victim_id in world.victim.ids(ID_PARAMETERS[parameter]):
            for who, client in world.callers.items():
                theirs = client.get(url, {parameter: victim_id})
                missing = client.get(url, {parameter: MISSING})
                if answer(theirs) != answer(missing):
                    leaks.append(
                        f"{who}: GET {url}?{parameter}={victim_id} → {theirs.status_code} "
                        f"{theirs.content[:300]!r}; a missing id → {missing.status_code} "
                        f"{missing.content[:300]!r}"
                    )
                elif name in COLLECTION_ROUTES and theirs.status_code == 200:
                    shown = _ids_in(theirs.json(), COLLECTION_ROUTES[name])
                    if shown:
                        leaks.append(f"{who}: GET {url}?{parameter}={victim_id} shows {shown}")

    assert not leaks, "\n".join(leaks)


def test_the_walk_would_see_the_victims_rows(world: World, client_for: ClientFor) -> None:
    """The walk proves something only if the ids are real: Rival's own manager reaches every
    one of them, with a 200 on each detail and scores route."""
    for name, kind in DETAIL_ROUTES.items():
        if name.endswith("-detail") or name.endswith("-scores"):
            for row in world.victim.objects[kind]:
                if name == "touchpoint-scores" and row.archived_at is not None:
                    continue  # an archived touch point is not scored: 404 for everyone
                response = world.victim_manager.get(reverse(name, kwargs={"pk": row.pk}))
                assert response.status_code == 200, (name, row.pk, response.content)
    weak_links = world.victim_manager.get(reverse("weak-links")).json()["weak_links"]
    assert [w["touch_point_id"] for w in weak_links] == world.victim.ids("weak_link")


def _answer_without(response: Any, echoed: str) -> tuple[int, bytes, dict[str, str]]:
    """The answer with the caller's own input, echoed back in a message, blanked out."""
    status, body, headers = answer(response)
    body = body.replace(echoed.encode(), b"<ref>")
    return status, body, {**headers, "Content-Length": str(len(body))}


@pytest.mark.parametrize(
    "route",
    [r for r in api_routes() if r.name not in TENANTLESS_ROUTES.keys() | CATCH_ALL_ROUTES],
    ids=lambda r: r.name,
)
def test_naming_another_organization_in_x_organization_answers_like_an_unknown_one(
    world: World, route: ApiRoute
) -> None:
    """Acting in Rival without belonging to it: the answer a made-up organization gets,
    on every route and method, for each of Northwind's callers that is not Rival's."""
    kind = DETAIL_ROUTES.get(route.name)
    url = reverse(route.name, kwargs={"pk": world.attacker.first(kind).pk} if kind else {})
    victim = world.victim.org
    leaks = []
    for who, client in world.callers.items():
        if who.startswith("member of both"):
            continue  # Rival's member may act in Rival: that is not a leak
        for method in route.methods:
            for theirs_ref, missing_ref in (
                (victim.slug, "no-such-org"),
                (str(victim.pk), "999999999"),
            ):
                theirs = send(client, method, url, HTTP_X_ORGANIZATION=theirs_ref)
                missing = send(client, method, url, HTTP_X_ORGANIZATION=missing_ref)
                if theirs.status_code != 404 or _answer_without(
                    theirs, theirs_ref
                ) != _answer_without(missing, missing_ref):
                    leaks.append(
                        f"{who}: {method} {url} X-Organization: {theirs_ref} → "
                        f"{theirs.status_code} {theirs.content[:200]!r}; unknown → "
                        f"{missing.status_code} {missing.content[:200]!r}"
                    )
    assert not leaks, "\n".join(leaks)
