"""Live pages for every role: the open map and touch point page ask one cheap "changed
since" question (web/live.py); a 304 while nothing changed, the new fingerprint with a
refresh trigger once a recompute lands, evaluations arrive or the structure is edited.
Another organization's journey is a 404."""

from __future__ import annotations

from datetime import timedelta

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


def version_on_page(client: Client, url: str) -> str:
    html = client.get(url).content.decode()
    return html.split('"If-None-Match": "\\"')[1].split('\\""')[0]


def ask(client: Client, journey_id: int, version: str) -> object:
    return client.get(
        f"/journeys/{journey_id}/changed/",
        HTTP_IF_NONE_MATCH=f'"{version}"',
        HTTP_HX_REQUEST="true",
    )


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
        version = version_on_page(client, page)
        unchanged = ask(client, journey_id, version)
        assert unchanged.status_code == 304
        assert unchanged.content == b""
        assert unchanged["ETag"] == f'"{version}"'

    evaluate(personas, criterion)  # a stale mark: the cards will say "recompute pending"
    arrived = ask(client, journey_id, version)
    assert arrived.status_code == 200 and arrived["HX-Trigger"] == "touchstone:scored"
    version = arrived["ETag"].strip('"')
    assert f'\\"{version}\\"' in arrived.content.decode()  # the watcher asks with the new one

    recompute_journey(journey_id)
    landed = ask(client, journey_id, version)
    assert landed.status_code == 200 and landed["HX-Trigger"] == "touchstone:scored"
    assert ask(client, journey_id, landed["ETag"].strip('"')).status_code == 304


def test_a_structure_edit_changes_the_fingerprint(
    personas: Personas, criterion: Criterion, client: Client
) -> None:
    signed_in(client, personas.viewer)
    journey_id = criterion.touch_point.journey_id
    version = version_on_page(client, f"/journeys/{journey_id}/")
    update_stage(
        actor=personas.manager, stage=criterion.touch_point.stage, data={"name": "Arrival"}
    )
    assert ask(client, journey_id, version).status_code == 200


def test_the_check_is_one_query_whatever_the_size_of_the_journey(
    personas: Personas, criterion: Criterion, client: Client
) -> None:
    signed_in(client, personas.viewer)
    journey = criterion.touch_point.journey
    version = version_on_page(client, f"/journeys/{journey.pk}/")
    with CaptureQueriesContext(connection) as small:
        assert ask(client, journey.pk, version).status_code == 304
    for i in range(20):
        CriterionFactory(
            touch_point=TouchPointFactory(stage=StageFactory(journey=journey, name=f"S{i}"))
        )
    version = version_on_page(client, f"/journeys/{journey.pk}/")
    with CaptureQueriesContext(connection) as large:
        assert ask(client, journey.pk, version).status_code == 304
    assert len(small) == len(large)
    checks = [q["sql"] for q in large if "journeys_journey" in q["sql"]]
    assert len(checks) == 1, checks  # tenancy, snapshot, stale marks and edits in one query


def test_another_organizations_journey_is_404(
    personas: Personas, criterion: Criterion, client: Client
) -> None:
    signed_in(client, personas.outsider)
    response = ask(client, criterion.touch_point.journey_id, "0-0-0")
    assert response.status_code == 404
