"""API authentication and the request limits around it (RELIABILITY S8, S9, S10, S13).

The building blocks in core/api/ (authentication, tenancy) are exercised through two tiny
views that run on the project's default REST framework settings (authentication, permissions, parser,
pagination, exception handler), so what is proven here holds for every API view.
"""

from __future__ import annotations

import hashlib
import json
import logging
import secrets

import pytest
from django.db import connection
from django.urls import include, path
from django.utils import timezone
from rest_framework.generics import GenericAPIView
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.test import APIClient
from rest_framework.views import APIView

from accounts.models import ApiToken, Organization, Role
from accounts.tokens import create_token
from core.api.tenancy import request_membership
from journeys.models import Journey
from tests.api.conftest import ClientFor
from tests.conftest import Personas
from tests.factories import JourneyFactory, MembershipFactory, OrganizationFactory
from touchpoints.models import Evaluation

pytestmark = pytest.mark.urls(__name__)

# The backend sign-in uses (config/settings.py): a session made with another is refused.
MODEL_BACKEND = "accounts.backends.EmailBackend"


class OrganizationView(APIView):
    """GET: the organization the request acts in. POST (managers): rename it."""

    def get(self, request: Request) -> Response:
        membership = request_membership(request)
        return Response({"organization": membership.organization.slug, "role": membership.role})

    def post(self, request: Request) -> Response:
        membership = request_membership(request)
        Organization.objects.filter(pk=membership.organization_id).update(name=request.data["name"])
        return Response({"name": request.data["name"]}, status=201)


class NumbersView(GenericAPIView):  # type: ignore[type-arg]
    """A list long enough to need clamping, paginated by the default pagination class."""

    def get(self, request: Request) -> Response:
        return self.get_paginated_response(self.paginate_queryset(list(range(1_200))))


urlpatterns = [
    path("org/", OrganizationView.as_view()),
    path("numbers/", NumbersView.as_view()),
    path("", include("config.urls")),  # and the real routes, for the checks at the end
]


def bearer(raw: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    return client


def random_token() -> str:
    return f"tst_{secrets.token_hex(4)}_{secrets.token_urlsafe(32)}"


def secret_of(raw: str) -> str:
    """The secret part of `tst_<prefix>_<secret>` (the secret may contain "_" itself)."""
    return raw.removeprefix("tst_").partition("_")[2]


# --- Token lifecycle (S10) ------------------------------------------------------------


def test_valid_token_is_answered(personas: Personas) -> None:
    _, raw = create_token(user=personas.viewer, name="BI tool")

    response = bearer(raw).get("/org/")

    assert response.status_code == 200
    assert response.json() == {"organization": personas.org.slug, "role": Role.VIEWER}


@pytest.mark.parametrize(
    "header",
    [
        "Bearer tst_00000000_not-a-real-secret",
        "Bearer tst_",
        "Bearer ",
        "Token nonsense",
    ],
)
def test_unknown_or_malformed_token_gets_401_with_bearer_challenge(db: None, header: str) -> None:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=header)

    response = client.get("/org/")

    assert response.status_code == 401
    assert response["WWW-Authenticate"] == 'Bearer realm="api"'
    assert response.json() == {"detail": "Invalid or revoked token."}


def test_token_with_right_prefix_and_wrong_secret_gets_401(personas: Personas) -> None:
    token, raw = create_token(user=personas.manager, name="script")
    forged = f"tst_{token.prefix}_{secrets.token_urlsafe(32)}"

    assert bearer(raw).get("/org/").status_code == 200
    assert bearer(forged).get("/org/").status_code == 401


def test_revoked_token_gets_401_on_the_next_request(personas: Personas) -> None:
    token, raw = create_token(user=personas.manager, name="script")
    client = bearer(raw)
    assert client.get("/org/").status_code == 200

    ApiToken.objects.filter(pk=token.pk).update(revoked_at=timezone.now())

    assert client.get("/org/").status_code == 401


def test_deactivated_user_gets_401_on_the_next_request_by_token_and_session(
    personas: Personas,
) -> None:
    _, raw = create_token(user=personas.evaluator, name="phone")
    by_token = bearer(raw)
    by_session = APIClient()
    by_session.force_login(personas.evaluator, backend=MODEL_BACKEND)
    assert by_token.get("/org/").status_code == 200
    assert by_session.get("/org/").status_code == 200

    personas.evaluator.is_active = False
    personas.evaluator.save(update_fields=["is_active"])

    assert by_token.get("/org/").status_code == 401
    assert by_session.get("/org/").status_code == 401


def test_token_table_holds_only_a_hash_of_the_secret(personas: Personas) -> None:
    token, raw = create_token(user=personas.manager, name="nightly export")
    secret = secret_of(raw)

    with connection.cursor() as cursor:
        cursor.execute("SELECT * FROM accounts_apitoken WHERE id = %s", [token.pk])
        row = cursor.fetchone()
    dumped = " ".join(str(value) for value in row)

    assert secret not in dumped
    assert raw not in dumped
    assert hashlib.sha256(secret.encode()).hexdigest() in dumped


# --- Guessing tokens (S9) ---------------------------------------------------------------


@pytest.mark.slow  # 1,000 requests: make test, not test-fast
def test_guessing_1000_tokens_is_throttled_after_the_limit(
    db: None, settings: pytest.FixtureRequest, caplog: pytest.LogCaptureFixture
) -> None:
    settings.AUTH_FAILURE_RATE = "20/min"
    guesses = [random_token() for _ in range(1_000)]

    with caplog.at_level(logging.WARNING, logger="touchstone.security"):
        responses = [bearer(raw).get("/org/") for raw in guesses]

    statuses = [r.status_code for r in responses]
    assert statuses[:20] == [401] * 20
    assert statuses[20:] == [429] * 980
    retry_after = int(responses[-1]["Retry-After"])
    assert 1 <= retry_after <= 60
    assert "Too many failed authentication attempts" in responses[-1].json()["detail"]
    # Every refusal is logged with the address and the public prefix, never the secret.
    records = [r for r in caplog.records if r.name == "touchstone.security"]
    assert len(records) == 1_000
    assert {r.event for r in records} == {"api_token_rejected", "api_token_throttled"}  # type: ignore[attr-defined]
    assert all(r.ip == "127.0.0.1" for r in records)  # type: ignore[attr-defined]
    assert [r.token_prefix for r in records] == [g[4:12] for g in guesses]  # type: ignore[attr-defined]
    logged = "\n".join(r.getMessage() + str(r.__dict__) for r in records)
    assert not any(secret_of(raw) in logged for raw in guesses)


def test_a_throttled_address_guesses_unchecked(
    personas: Personas, settings: pytest.FixtureRequest, django_assert_num_queries: object
) -> None:
    """While throttled, a token that never worked from this address (a guess) is refused
    before any lookup, so a right guess shows nothing and guessing stays as slow as the
    limit. A token that did work from here is still served (tests/api/test_auth_throttle.py)."""
    settings.AUTH_FAILURE_RATE = "3/min"
    _, raw = create_token(user=personas.manager, name="script")
    for _ in range(3):
        assert bearer(random_token()).get("/org/").status_code == 401

    with django_assert_num_queries(0):  # type: ignore[operator]
        response = bearer(raw).get("/org/")

    assert response.status_code == 429
    assert int(response["Retry-After"]) >= 1


def test_other_addresses_and_valid_tokens_do_not_count_as_failures(
    personas: Personas, settings: pytest.FixtureRequest
) -> None:
    settings.AUTH_FAILURE_RATE = "3/min"
    _, raw = create_token(user=personas.manager, name="script")
    for _ in range(10):
        assert bearer(raw).get("/org/").status_code == 200
    for _ in range(3):
        bearer(random_token()).get("/org/", REMOTE_ADDR="203.0.113.7")

    assert bearer(random_token()).get("/org/", REMOTE_ADDR="203.0.113.7").status_code == 429
    assert bearer(raw).get("/org/").status_code == 200  # 127.0.0.1 is not throttled


def test_a_forged_forwarded_for_header_does_not_escape_the_throttle(
    db: None, settings: pytest.FixtureRequest
) -> None:
    settings.AUTH_FAILURE_RATE = "3/min"
    statuses = [
        bearer(random_token()).get("/org/", HTTP_X_FORWARDED_FOR=f"198.51.100.{i}").status_code
        for i in range(6)
    ]

    assert statuses == [401, 401, 401, 429, 429, 429]


# --- Request limits (S5, S13) ---------------------------------------------------------------


def test_body_over_1_mb_gets_413_json_and_stores_nothing(
    personas: Personas, manager_api: APIClient
) -> None:
    body = json.dumps({"name": "x" * 1_048_576})

    response = manager_api.post("/org/", body, content_type="application/json")

    assert response.status_code == 413
    assert response["Content-Type"].startswith("application/json")
    assert response.json() == {"detail": "The request body is too large (limit 1 MB)."}
    personas.org.refresh_from_db()
    assert personas.org.name == "Northwind Broadband"


@pytest.mark.parametrize(
    ("query", "expected"),
    [("", 50), ("?page_size=10", 10), ("?page_size=500", 500), ("?page_size=1000000", 500)],
)
def test_page_size_is_clamped_to_500(viewer_api: APIClient, query: str, expected: int) -> None:
    response = viewer_api.get(f"/numbers/{query}")

    assert response.status_code == 200
    assert response.json()["count"] == 1_200
    assert len(response.json()["results"]) == expected


# --- CSRF for the browser's session (S8) -----------------------------------------------------


def test_session_write_without_csrf_token_gets_403_and_changes_nothing(
    personas: Personas,
) -> None:
    browser = APIClient(enforce_csrf_checks=True)
    browser.force_login(personas.manager, backend=MODEL_BACKEND)

    read = browser.get("/org/")
    write = browser.post(
        "/org/", {"name": "Hijacked"}, format="json", HTTP_ORIGIN="https://evil.test"
    )

    assert read.status_code == 200
    assert write.status_code == 403
    assert "CSRF" in write.json()["detail"]
    personas.org.refresh_from_db()
    assert personas.org.name == "Northwind Broadband"


def test_token_write_needs_no_csrf_token(personas: Personas, client_for: ClientFor) -> None:
    client = client_for(personas.manager)
    client.handler.enforce_csrf_checks = True

    response = client.post("/org/", {"name": "Northwind Fibre"}, format="json")

    assert response.status_code == 201
    personas.org.refresh_from_db()
    assert personas.org.name == "Northwind Fibre"


# --- Which organization a request acts in -----------------------------------------------------


@pytest.fixture
def member_of_two(personas: Personas) -> Personas:
    """The manager of org is also a viewer of other_org."""
    MembershipFactory(user=personas.manager, organization=personas.other_org, role=Role.VIEWER)
    return personas


def test_member_of_two_organizations_without_header_gets_400_naming_the_header(
    member_of_two: Personas, client_for: ClientFor
) -> None:
    response = client_for(member_of_two.manager).get("/org/")

    assert response.status_code == 400
    assert "send the X-Organization header" in response.json()["X-Organization"][0]


@pytest.mark.parametrize("by", ["slug", "id"])
def test_member_of_two_organizations_acts_in_the_one_named_by_the_header(
    member_of_two: Personas, client_for: ClientFor, by: str
) -> None:
    other = member_of_two.other_org
    ref = other.slug if by == "slug" else str(other.pk)

    response = client_for(member_of_two.manager, organization=ref).get("/org/")

    assert response.status_code == 200
    assert response.json() == {"organization": other.slug, "role": Role.VIEWER}


def test_role_follows_the_organization_named_by_the_header(
    member_of_two: Personas, client_for: ClientFor
) -> None:
    as_viewer = client_for(member_of_two.manager, organization=member_of_two.other_org.slug)
    as_manager = client_for(member_of_two.manager, organization=member_of_two.org.slug)

    assert as_viewer.post("/org/", {"name": "Mine now"}, format="json").status_code == 403
    assert as_manager.post("/org/", {"name": "Northwind"}, format="json").status_code == 201
    member_of_two.other_org.refresh_from_db()
    assert member_of_two.other_org.name == "Rival Telecom"


def test_header_naming_an_organization_you_are_not_in_gets_404(
    member_of_two: Personas, client_for: ClientFor
) -> None:
    stranger = OrganizationFactory(name="Someone Else")

    for ref in (stranger.slug, str(stranger.pk), "no-such-org"):
        response = client_for(member_of_two.manager, organization=ref).get("/org/")
        assert response.status_code == 404, ref
        assert "not a member" in response.json()["detail"]


def test_outsider_naming_our_organization_gets_404(
    personas: Personas, client_for: ClientFor
) -> None:
    response = client_for(personas.outsider, organization=personas.org.slug).get("/org/")

    assert response.status_code == 404


# --- The same on the real routes ----------------------------------------------------------------


def test_journey_list_clamps_page_size_to_500(personas: Personas, viewer_api: APIClient) -> None:
    Journey.objects.bulk_create(
        Journey(organization=personas.org, name=f"Journey {i:03}") for i in range(501)
    )

    response = viewer_api.get("/api/v1/journeys/?page_size=1000000")

    assert response.status_code == 200
    assert response.json()["count"] == 501
    assert len(response.json()["results"]) == 500


def test_journey_list_follows_the_organization_header(
    member_of_two: Personas, client_for: ClientFor
) -> None:
    JourneyFactory(organization=member_of_two.org, name="Ours")
    JourneyFactory(organization=member_of_two.other_org, name="Theirs")
    user = member_of_two.manager

    def names(organization: str) -> list[str]:
        response = client_for(user, organization=organization).get("/api/v1/journeys/")
        assert response.status_code == 200
        return [journey["name"] for journey in response.json()["results"]]

    assert names(member_of_two.org.slug) == ["Ours"]
    assert names(member_of_two.other_org.slug) == ["Theirs"]
    assert client_for(user).get("/api/v1/journeys/").status_code == 400


def test_evaluation_batch_over_1_mb_gets_413_json_and_stores_nothing(
    evaluator_api: APIClient,
) -> None:
    body = json.dumps([{"comment": "x" * 1_048_576}])

    response = evaluator_api.post("/api/v1/evaluations/", body, content_type="application/json")

    assert response.status_code == 413
    assert response["Content-Type"].startswith("application/json")
    assert "detail" in response.json()
    assert not Evaluation.objects.exists()


def test_session_journey_create_without_csrf_token_gets_403_token_create_201(
    personas: Personas, manager_api: APIClient
) -> None:
    browser = APIClient(enforce_csrf_checks=True)
    browser.force_login(personas.manager, backend=MODEL_BACKEND)
    manager_api.handler.enforce_csrf_checks = True

    by_session = browser.post("/api/v1/journeys/", {"name": "Forged"}, format="json")
    by_token = manager_api.post("/api/v1/journeys/", {"name": "Scripted"}, format="json")

    assert by_session.status_code == 403
    assert by_token.status_code == 201
    assert list(Journey.objects.values_list("name", flat=True)) == ["Scripted"]
