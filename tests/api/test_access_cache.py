"""A token's resolution (user, memberships) is cached per process (accounts.access_cache)
so an API request needs no query to know who asks and where, and still every change of
access takes effect on the very next request: revocation, deactivation, a role change,
removal, a new membership. Through the real services and the admin's way of saving, and
across gunicorn's processes."""

from __future__ import annotations

import http.client
import json
from collections.abc import Iterator

import pytest
from django.contrib.auth import get_user_model
from rest_framework.test import APIClient

from accounts import access_cache
from accounts.models import Membership, Role
from accounts.tokens import create_token, revoke_all_tokens, revoke_token
from team.services import change_role, remove_member
from tests.api.conftest import ClientFor
from tests.conftest import Personas
from tests.factories import MembershipFactory, OrganizationFactory
from tests.processes import Gunicorn, RedisServer, publishing_to

URL = "/api/v1/ping/"


@pytest.fixture
def warm(personas: Personas, client_for: ClientFor, django_assert_num_queries: object) -> APIClient:
    """The evaluator's token client, its resolution cached by a first request."""
    client = client_for(personas.evaluator)
    assert client.get(URL).status_code == 200
    return client


def test_a_cached_token_costs_no_query(warm: APIClient, django_assert_num_queries: object) -> None:
    with django_assert_num_queries(0):  # type: ignore[operator]
        response = warm.get(URL)

    assert response.status_code == 200
    assert response.json()["role"] == "evaluator"


def test_a_revoked_token_is_refused_on_the_next_request(
    personas: Personas, client_for: ClientFor
) -> None:
    token, raw = create_token(user=personas.evaluator, name="phone")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    assert client.get(URL).status_code == 200

    revoke_token(user=personas.evaluator, token_id=token.pk)

    assert client.get(URL).status_code == 401


def test_revoking_every_token_of_a_user_is_refused_on_the_next_request(
    personas: Personas, warm: APIClient
) -> None:
    revoke_all_tokens(user=personas.evaluator)

    assert warm.get(URL).status_code == 401


def test_a_deactivated_user_is_refused_on_the_next_request(
    personas: Personas, warm: APIClient
) -> None:
    user = get_user_model().objects.get(pk=personas.evaluator.pk)
    user.is_active = False
    user.save()  # as the admin saves it

    assert warm.get(URL).status_code == 401


def test_a_role_change_takes_effect_on_the_next_request(
    personas: Personas, warm: APIClient
) -> None:
    change_role(
        actor=personas.manager, membership=personas.membership(personas.evaluator), role="viewer"
    )

    assert warm.get(URL).json()["role"] == "viewer"


def test_a_removed_member_is_refused_on_the_next_request(
    personas: Personas, warm: APIClient
) -> None:
    remove_member(actor=personas.manager, membership=personas.membership(personas.evaluator))

    assert warm.get(URL).status_code in (401, 403)


def test_a_new_membership_is_seen_on_the_next_request(personas: Personas, warm: APIClient) -> None:
    second = OrganizationFactory()
    MembershipFactory(user=personas.evaluator, organization=second, role=Role.VIEWER)

    response = warm.get(URL, HTTP_X_ORGANIZATION=second.slug)

    assert response.status_code == 200
    assert (response.json()["organization"], response.json()["role"]) == (second.slug, "viewer")


def test_a_bulk_update_that_sends_no_signal_still_takes_effect(
    personas: Personas, warm: APIClient
) -> None:
    Membership.objects.filter(user=personas.evaluator).update(role=Role.VIEWER)

    assert warm.get(URL).json()["role"] == "viewer"


def test_an_outsiders_cached_token_never_reaches_another_organization(
    personas: Personas, outsider_api: APIClient
) -> None:
    assert outsider_api.get(URL).json()["organization"] == personas.other_org.slug

    response = outsider_api.get(URL, HTTP_X_ORGANIZATION=personas.org.slug)

    assert response.status_code == 404


def test_without_redis_tokens_resolve_from_the_database(
    personas: Personas, warm: APIClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(access_cache, "current_epoch", lambda: None)

    revoke_all_tokens(user=personas.evaluator)
    response = warm.get(URL)

    assert response.status_code == 401


# --- Across processes: gunicorn's workers each keep their own cache --------------------------


@pytest.fixture
def server(transactional_db: None, broker: RedisServer) -> Iterator[Gunicorn]:
    with publishing_to(broker.url):
        gunicorn = Gunicorn(broker.url, workers=2, threads=2)
        gunicorn.start()
        try:
            yield gunicorn
        finally:
            gunicorn.stop()


def ping(server: Gunicorn, raw: str) -> tuple[int, dict[str, object]]:
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
    conn.request("GET", URL, headers={"Authorization": f"Bearer {raw}"})
    response = conn.getresponse()
    status, body = response.status, response.read()
    conn.close()
    return status, json.loads(body) if body else {}


@pytest.mark.worker
@pytest.mark.slow
def test_every_gunicorn_process_sees_a_role_change_and_a_revocation_on_the_next_request(
    server: Gunicorn,
) -> None:
    manager = MembershipFactory(role=Role.MANAGER)
    evaluator = MembershipFactory(organization=manager.organization, role=Role.EVALUATOR)
    token, raw = create_token(user=evaluator.user, name="script")
    for _ in range(12):  # new connections land on both processes: both cache it
        status, body = ping(server, raw)
        assert (status, body["role"]) == (200, "evaluator")

    change_role(actor=manager.user, membership=evaluator, role="viewer")
    roles = {ping(server, raw)[1]["role"] for _ in range(12)}
    revoke_token(user=evaluator.user, token_id=token.pk)
    statuses = {ping(server, raw)[0] for _ in range(12)}

    assert roles == {"viewer"}
    assert statuses == {401}
