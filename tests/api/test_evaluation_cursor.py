"""The evaluation list keeps API v1's page numbers and offers a cursor beside them (issue
18 item 5): `cursor` (empty for the first page) switches to keyset pages that never count
the whole list, in the same order, with the same filters and the same tenant wall."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from rest_framework.test import APIClient

from tests.conftest import Personas
from tests.factories import CriterionFactory, TouchPointFactory
from touchpoints.models import Evaluation
from touchpoints.services import AnswerInput, EvaluationInput, submit_evaluations

URL = "/api/v1/evaluations/"


def evaluations(personas: Personas, count: int, **where: Any) -> list[Evaluation]:
    tp = TouchPointFactory(stage__journey__organization=personas.org, **where)
    scale = CriterionFactory(touch_point=tp, kind="scale")
    now = timezone.now()
    items = [
        EvaluationInput(
            touch_point_id=tp.pk,
            source="supervisor",
            # Pairs share an observed_at: the cursor must break ties by id.
            observed_at=now - timedelta(hours=i // 2),
            answers=(AnswerInput(scale.pk, 1 + i % 5),),
        )
        for i in range(count)
    ]
    return submit_evaluations(evaluator=personas.evaluator, organization=personas.org, items=items)


def walk(client: APIClient, params: dict[str, Any]) -> tuple[list[int], list[dict[str, Any]]]:
    """Follow `next` from the first cursor page; the ids in order and every page's body."""
    response = client.get(URL, {**params, "cursor": ""})
    ids, pages = [], []
    while True:
        assert response.status_code == 200
        body = response.json()
        pages.append(body)
        ids += [e["id"] for e in body["results"]]
        if body["next"] is None:
            return ids, pages
        response = client.get(body["next"])


def test_page_numbers_stay_as_v1_clients_know_them(
    personas: Personas, evaluator_api: APIClient
) -> None:
    evaluations(personas, 12)

    first = evaluator_api.get(URL, {"page_size": 5}).json()
    third = evaluator_api.get(URL, {"page_size": 5, "page": 3}).json()

    assert set(first) == {"count", "next", "previous", "results"}
    assert first["count"] == 12
    assert "page=2" in first["next"]
    assert len(third["results"]) == 2


def test_a_cursor_walk_returns_every_evaluation_once_in_the_page_number_order(
    personas: Personas, evaluator_api: APIClient
) -> None:
    evaluations(personas, 23)
    by_pages = [e["id"] for e in evaluator_api.get(URL, {"page_size": 100}).json()["results"]]

    ids, pages = walk(evaluator_api, {"page_size": 5})

    assert ids == by_pages
    assert len(pages) == 5
    assert all(set(page) == {"next", "previous", "results"} for page in pages)


def test_a_cursor_page_never_counts_the_list(personas: Personas, evaluator_api: APIClient) -> None:
    evaluations(personas, 8)
    evaluator_api.get(URL)  # the token's resolution is cached from here on

    with CaptureQueriesContext(connection) as queries:
        response = evaluator_api.get(URL, {"cursor": "", "page_size": 3})

    assert response.status_code == 200
    assert not any("COUNT(" in q["sql"].upper() for q in queries.captured_queries)


def test_filters_apply_to_cursor_pages(personas: Personas, evaluator_api: APIClient) -> None:
    wanted = evaluations(personas, 7)
    evaluations(personas, 4)

    ids, _ = walk(evaluator_api, {"touch_point": wanted[0].touch_point_id, "page_size": 3})

    assert sorted(ids) == sorted(e.pk for e in wanted)


def test_an_outsider_walks_none_of_another_organizations_evaluations(
    personas: Personas, outsider_api: APIClient
) -> None:
    evaluations(personas, 6)

    ids, _ = walk(outsider_api, {"page_size": 2})

    assert ids == []


def test_a_cursor_the_api_did_not_give_out_is_404(evaluator_api: APIClient) -> None:
    response = evaluator_api.get(URL, {"cursor": "not-a-cursor"})

    assert response.status_code == 404
    assert "detail" in response.json()
