"""Live pages for every role: the open map and touch point page ask one cheap "changed
since" question (web/live.py); a 304 while nothing changed, the new fingerprint with a
refresh trigger once a recompute lands, evaluations arrive or the structure is edited.
Another organization's journey is a 404."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from accounts.models import User
from journeys.services import update_stage
from scoring.services import recompute_journey
from tests.conftest import Personas
from tests.factories import CriterionFactory, StageFactory, TouchPointFactory
from touchpoints.models import Criterion, Source
from touchpoints.services import AnswerInput, EvaluationInput, submit_evaluations


@pytest.fixture
def criterion(personas: Personas) -> Criterion:
    touch_point = TouchPointFactory(
        stage__journey__organization=personas.org, stage__journey__name="Vet visit"
    )
    return CriterionFactory(touch_point=touch_point)


def signed_in(client: Client, user: User) -> Client:
    client.force_login(user)
    return client


def watcher_on_page(client: Client, url: str) -> tuple[str, str]:
    """The fingerprint and the watch token the page's watcher asks with."""
    html = client.get(url).content.decode()
    version = html.split('"If-None-Match": "\\"')[1].split('\\""')[0]
    token = html.split('"X-Live-Token": "')[1].split('"')[0]
    return version, token


def version_on_page(client: Client, url: str) -> str:
    return watcher_on_page(client, url)[0]


def ask(client: Client, journey_id: int, version: str, token: str | None = None) -> Any:
    headers = {"If-None-Match": f'"{version}"', "HX-Request": "true"}
    if token is not None:
        headers["X-Live-Token"] = token
    return client.get(f"/journeys/{journey_id}/changed/", headers=headers)


def evaluate(personas: Personas, criterion: Criterion) -> None:
    submit_evaluations(
        evaluator=personas.evaluator,
        organization=personas.org,
        items=[
            EvaluationInput(
                touch_point_id=criterion.touch_point_id,
                source=Source.AUDIT,
                observed_at=timezone.now() - timedelta(hours=1),
                answers=[AnswerInput(criterion.pk, 4)],
            )
        ],
    )


@pytest.mark.parametrize("role", ["viewer", "evaluator", "manager"])
def test_every_role_hears_of_a_recompute_and_of_new_evaluations(
    personas: Personas, criterion: Criterion, client: Client, role: str
) -> None:
    signed_in(client, getattr(personas, role))
    journey_id = criterion.touch_point.journey_id
    for page in (f"/journeys/{journey_id}/", f"/touch-points/{criterion.touch_point_id}/"):
        version, token = watcher_on_page(client, page)
        for sent in (token, None):  # the fast path, and the ordinary view
            unchanged = ask(client, journey_id, version, sent)
            assert unchanged.status_code == 304
            assert unchanged.content == b""
            assert unchanged["ETag"] == f'"{version}"'
            assert "no-store" in unchanged["Cache-Control"]

    evaluate(personas, criterion)  # a stale mark: the cards will say "recompute pending"
    arrived = ask(client, journey_id, version, token)
    assert arrived.status_code == 200 and arrived["HX-Trigger"] == "touchstone:scored"
    version = arrived["ETag"].strip('"')
    html = arrived.content.decode()
    assert f'\\"{version}\\"' in html  # the watcher asks with the new one
    token = html.split('"X-Live-Token": "')[1].split('"')[0]

    recompute_journey(journey_id)
    landed = ask(client, journey_id, version, token)
    assert landed.status_code == 200 and landed["HX-Trigger"] == "touchstone:scored"
    assert ask(client, journey_id, landed["ETag"].strip('"'), token).status_code == 304


def test_a_structure_edit_changes_the_fingerprint(
    personas: Personas, criterion: Criterion, client: Client
) -> None:
    signed_in(client, personas.viewer)
    journey_id = criterion.touch_point.journey_id
    version, token = watcher_on_page(client, f"/journeys/{journey_id}/")
    update_stage(
        actor=personas.manager, stage=criterion.touch_point.stage, data={"name": "Arrival"}
    )
    assert ask(client, journey_id, version, token).status_code == 200


def test_the_check_is_one_query_whatever_the_size_of_the_journey(
    personas: Personas, criterion: Criterion, client: Client
) -> None:
    signed_in(client, personas.viewer)
    journey = criterion.touch_point.journey
    version, token = watcher_on_page(client, f"/journeys/{journey.pk}/")
    with CaptureQueriesContext(connection) as small:
        answer = ask(client, journey.pk, version, token)
    assert answer.status_code == 304
    assert not answer.cookies  # no session written, no CSRF cookie set
    for i in range(20):
        CriterionFactory(
            touch_point=TouchPointFactory(stage=StageFactory(journey=journey, name=f"S{i}"))
        )
    version, token = watcher_on_page(client, f"/journeys/{journey.pk}/")
    with CaptureQueriesContext(connection) as large:
        assert ask(client, journey.pk, version, token).status_code == 304
    # One query in all: the session, the user, the membership, the snapshot, the stale
    # marks and the edits; no session load, no user load.
    assert len(small) == len(large) == 1, [q["sql"] for q in large]


def test_the_watch_token_only_works_for_its_own_session_and_journey(
    personas: Personas, criterion: Criterion
) -> None:
    journey_id = criterion.touch_point.journey_id
    mine, other = Client(), Client()
    signed_in(mine, personas.viewer)
    signed_in(other, personas.viewer)
    version, token = watcher_on_page(mine, f"/journeys/{journey_id}/")
    for client, sent in (
        (other, token),  # another session of the same user: the full checks
        (mine, token.replace(":", ":x", 1)),  # a forged signature
        (mine, token.replace(f".{journey_id}.", f".{journey_id + 1}.", 1)),  # re-aimed
    ):
        with CaptureQueriesContext(connection) as queries:
            assert ask(client, journey_id, version, sent).status_code == 304
        assert len(queries) > 1  # the ordinary view answered, with its session and user

    anonymous = Client()
    anonymous.cookies = mine.cookies
    mine.logout()  # the session row is gone: the token is worth nothing
    response = ask(anonymous, journey_id, version, token)
    assert response.status_code == 302 and "/sign-in/" in response["Location"]


def test_a_removed_member_or_a_deactivated_user_gets_no_answer_from_the_fast_path(
    personas: Personas, criterion: Criterion, client: Client
) -> None:
    journey_id = criterion.touch_point.journey_id
    signed_in(client, personas.viewer)
    version, token = watcher_on_page(client, f"/journeys/{journey_id}/")
    personas.viewer.memberships.filter(organization=personas.org).delete()
    assert ask(client, journey_id, version, token).status_code == 404

    signed_in(client, personas.evaluator)
    version, token = watcher_on_page(client, f"/journeys/{journey_id}/")
    User.objects.filter(pk=personas.evaluator.pk).update(is_active=False)
    response = ask(client, journey_id, version, token)
    assert response.status_code == 302 and "/sign-in/" in response["Location"]


def test_another_organizations_journey_is_404(
    personas: Personas, criterion: Criterion, client: Client
) -> None:
    signed_in(client, personas.outsider)
    response = ask(client, criterion.touch_point.journey_id, "0-0-0")
    assert response.status_code == 404
