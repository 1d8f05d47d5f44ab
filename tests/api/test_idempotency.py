"""Idempotency-Key on POST /api/v1/evaluations/ (RELIABILITY R7, R9).

A retry with the same key and body stores nothing and gets the first response byte for
byte; a different body or a request still running gets 409; another tenant's key is its
own; and a connection lost mid-request leaves neither evaluations nor a record, so the
retry stores exactly one.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import psycopg
import pytest
from django.db import connection
from django.utils import timezone
from rest_framework.test import APIClient

from accounts.models import IdempotencyRecord
from core.api.idempotency import RECORD_TTL, purge_expired_records
from tests.api.test_evaluations_api import (
    URL,
    Rubric,
    evaluation_body,
    make_rubric,
    post,
    stored,
)
from touchpoints import evaluations_api
from touchpoints.models import Evaluation


@pytest.fixture
def rubric(personas: Any) -> Rubric:
    return make_rubric(personas.org)


@pytest.fixture
def rival(personas: Any) -> Rubric:
    return make_rubric(personas.other_org)


def with_key(client: APIClient, body: Any, key: str) -> Any:
    return post(client, body, HTTP_IDEMPOTENCY_KEY=key)


def test_a_key_replayed_ten_times_stores_one_evaluation_and_replays_the_first_response(
    rubric: Rubric, evaluator_api: APIClient
) -> None:
    body = evaluation_body(rubric)
    first = with_key(evaluator_api, body, "visit-42")
    replays = [with_key(evaluator_api, body, "visit-42") for _ in range(10)]

    assert first.status_code == 201
    assert "Idempotent-Replayed" not in first.headers
    for replay in replays:
        assert replay.status_code == 201
        assert replay.content == first.content
        assert replay.headers["Idempotent-Replayed"] == "true"
    assert stored()[:2] == (1, 3)
    assert IdempotencyRecord.objects.count() == 1


def test_a_batch_is_replayed_whole(rubric: Rubric, evaluator_api: APIClient) -> None:
    body = [evaluation_body(rubric, comment=f"visit {i}") for i in range(3)]
    first = with_key(evaluator_api, body, "batch-7")
    replay = with_key(evaluator_api, body, "batch-7")

    assert replay.status_code == 201
    assert replay.content == first.content
    assert Evaluation.objects.count() == 3


def test_the_same_body_spelled_differently_is_the_same_request(
    rubric: Rubric, evaluator_api: APIClient
) -> None:
    body = evaluation_body(rubric)
    compact = json.dumps(body, separators=(",", ":"))
    reordered = json.dumps(dict(reversed(list(body.items()))), indent=4)

    first = evaluator_api.post(
        URL, compact, content_type="application/json", HTTP_IDEMPOTENCY_KEY="k"
    )
    again = evaluator_api.post(
        URL, reordered, content_type="application/json", HTTP_IDEMPOTENCY_KEY='"k"'
    )

    assert first.status_code == again.status_code == 201
    assert again.content == first.content
    assert Evaluation.objects.count() == 1


def test_the_same_key_with_a_different_body_is_409_and_stores_nothing(
    rubric: Rubric, evaluator_api: APIClient
) -> None:
    assert with_key(evaluator_api, evaluation_body(rubric), "visit-42").status_code == 201

    response = with_key(evaluator_api, evaluation_body(rubric, comment="changed"), "visit-42")

    assert response.status_code == 409
    assert response.json()["detail"].startswith("This Idempotency-Key was already used")
    assert Evaluation.objects.count() == 1


def test_another_member_reusing_the_key_with_the_same_body_is_409(
    rubric: Rubric, evaluator_api: APIClient, manager_api: APIClient
) -> None:
    body = evaluation_body(rubric)
    assert with_key(evaluator_api, body, "shared").status_code == 201

    assert with_key(manager_api, body, "shared").status_code == 409
    assert Evaluation.objects.count() == 1


def test_another_tenant_reusing_the_key_gets_its_own_record_and_response(
    personas: Any, rubric: Rubric, rival: Rubric, evaluator_api: APIClient, outsider_api: APIClient
) -> None:
    our_body = evaluation_body(rubric)
    ours = with_key(evaluator_api, our_body, "order-1")

    theirs = with_key(outsider_api, evaluation_body(rival), "order-1")

    assert theirs.status_code == 201
    assert "Idempotent-Replayed" not in theirs.headers
    assert theirs.json()["touch_point"] == rival.touch_point.pk
    assert theirs.json()["evaluator"] == personas.outsider.pk
    assert with_key(evaluator_api, our_body, "order-1").content == ours.content
    assert sorted(IdempotencyRecord.objects.values_list("organization_id", flat=True)) == sorted(
        [personas.org.pk, personas.other_org.pk]
    )
    assert Evaluation.objects.count() == 2


def test_a_refused_request_leaves_its_key_free_for_the_corrected_one(
    rubric: Rubric, evaluator_api: APIClient
) -> None:
    refused = with_key(evaluator_api, evaluation_body(rubric, source="rumour"), "fix-me")
    assert refused.status_code == 400
    assert IdempotencyRecord.objects.count() == 0

    accepted = with_key(evaluator_api, evaluation_body(rubric), "fix-me")

    assert accepted.status_code == 201
    assert "Idempotent-Replayed" not in accepted.headers
    assert Evaluation.objects.count() == 1


@pytest.mark.parametrize("key", ["", "   ", "k" * 201, "caf\u00e9", "tab\there", "del\x7f"])
def test_a_malformed_key_is_refused_by_name(
    rubric: Rubric, evaluator_api: APIClient, key: str
) -> None:
    response = with_key(evaluator_api, evaluation_body(rubric), key)

    assert response.status_code == 400
    assert "Idempotency-Key" in response.json()
    assert stored() == (0, 0, 0)


def test_a_key_of_200_characters_is_fine(rubric: Rubric, evaluator_api: APIClient) -> None:
    assert with_key(evaluator_api, evaluation_body(rubric), "k" * 200).status_code == 201


def test_a_key_older_than_24_hours_runs_afresh(rubric: Rubric, evaluator_api: APIClient) -> None:
    body = evaluation_body(rubric)
    with_key(evaluator_api, body, "yesterday")
    IdempotencyRecord.objects.update(created_at=timezone.now() - RECORD_TTL - timedelta(seconds=1))

    again = with_key(evaluator_api, body, "yesterday")

    assert again.status_code == 201
    assert "Idempotent-Replayed" not in again.headers
    assert Evaluation.objects.count() == 2
    assert IdempotencyRecord.objects.count() == 1


def test_purging_deletes_expired_records_only(rubric: Rubric, evaluator_api: APIClient) -> None:
    body = evaluation_body(rubric)
    with_key(evaluator_api, body, "old")
    with_key(evaluator_api, body, "new")
    IdempotencyRecord.objects.filter(key="old").update(
        created_at=timezone.now() - RECORD_TTL - timedelta(minutes=1)
    )

    assert purge_expired_records() == 1
    assert list(IdempotencyRecord.objects.values_list("key", flat=True)) == ["new"]


# --- Concurrency and lost connections (committing transactions) --------------------------------


def pause_first_submission(
    monkeypatch: pytest.MonkeyPatch,
) -> tuple[threading.Event, threading.Event]:
    """Hold the first submission inside its transaction (after taking the key's lock)
    until `release` is set; `entered` tells that it got there."""
    entered, release = threading.Event(), threading.Event()
    real = evaluations_api.submit_evaluations

    def paused(**kwargs: Any) -> Any:
        if not entered.is_set():
            entered.set()
            release.wait(timeout=10)
        return real(**kwargs)

    monkeypatch.setattr(evaluations_api, "submit_evaluations", paused)
    return entered, release


def in_thread(request: Callable[[], Any]) -> tuple[threading.Thread, list[Any]]:
    """Run `request` in a thread with its own database connection; its result lands in
    the returned list."""
    results: list[Any] = []

    def run() -> None:
        try:
            results.append(request())
        finally:
            connection.close()

    thread = threading.Thread(target=run)
    thread.start()
    return thread, results


@pytest.mark.django_db(transaction=True)
def test_a_duplicate_while_the_first_is_in_flight_is_409_then_replays(
    personas: Any,
    rubric: Rubric,
    client_for: Any,
    recompute_requests: list[list[int]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    entered, release = pause_first_submission(monkeypatch)
    body = evaluation_body(rubric)
    first_client, retry_client = client_for(personas.evaluator), client_for(personas.evaluator)
    thread, results = in_thread(lambda: with_key(first_client, body, "slow-1"))
    try:
        assert entered.wait(timeout=10)
        in_flight = with_key(retry_client, body, "slow-1")
        other_key = with_key(retry_client, body, "another-key")
    finally:
        release.set()
        thread.join(timeout=10)

    assert in_flight.status_code == 409
    assert "still being processed" in in_flight.json()["detail"]
    assert in_flight.headers["Retry-After"] == "1"
    assert other_key.status_code == 201, "a different key is not held up"
    [first] = results
    assert first.status_code == 201
    replay = with_key(retry_client, body, "slow-1")
    assert replay.status_code == 201
    assert replay.content == first.content
    assert Evaluation.objects.count() == 2  # slow-1 and another-key, once each


@pytest.mark.django_db(transaction=True)
def test_ten_concurrent_duplicates_store_one_evaluation(
    personas: Any, rubric: Rubric, client_for: Any, recompute_requests: list[list[int]]
) -> None:
    body = evaluation_body(rubric)
    clients = [client_for(personas.evaluator) for _ in range(10)]
    start = threading.Barrier(10)

    def send(client: APIClient) -> Any:
        start.wait(timeout=10)
        return with_key(client, body, "burst")

    runs = [in_thread(lambda c=client: send(c)) for client in clients]
    for thread, _ in runs:
        thread.join(timeout=30)
    responses = [results[0] for _, results in runs]

    assert {r.status_code for r in responses} <= {201, 409}
    created = [r for r in responses if r.status_code == 201]
    assert created, "at least the first request succeeds"
    assert len({r.content for r in created}) == 1, "every 201 is the same response"
    assert Evaluation.objects.count() == 1
    assert IdempotencyRecord.objects.count() == 1


def terminate_backend_after_submitting(monkeypatch: pytest.MonkeyPatch) -> None:
    """Kill the request's database connection from outside once the evaluations are
    inserted, before its transaction commits: what a dropped network link does."""
    real = evaluations_api.submit_evaluations

    def submit_then_lose_the_connection(**kwargs: Any) -> Any:
        result = real(**kwargs)
        monkeypatch.setattr(evaluations_api, "submit_evaluations", real)  # once only
        settings = connection.settings_dict
        pid = connection.connection.info.backend_pid
        with psycopg.connect(
            host=settings["HOST"],
            port=settings["PORT"] or 5432,
            user=settings["USER"],
            dbname=settings["NAME"],
            autocommit=True,
        ) as killer:
            killer.execute("SELECT pg_terminate_backend(%s)", [pid])
        return result

    monkeypatch.setattr(evaluations_api, "submit_evaluations", submit_then_lose_the_connection)


@pytest.mark.django_db(transaction=True)
def test_a_connection_lost_mid_request_stores_nothing_and_the_retry_stores_one(
    rubric: Rubric,
    evaluator_api: APIClient,
    recompute_requests: list[list[int]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    terminate_backend_after_submitting(monkeypatch)
    body = [evaluation_body(rubric), evaluation_body(rubric)]

    lost = with_key(evaluator_api, body, "flaky-network")

    assert lost.status_code == 503
    assert lost.headers["Retry-After"]
    assert stored() == (0, 0, 0), "no evaluation, answer or stale mark survives"
    assert IdempotencyRecord.objects.count() == 0
    assert recompute_requests == []

    retry = with_key(evaluator_api, body, "flaky-network")

    assert retry.status_code == 201
    assert "Idempotent-Replayed" not in retry.headers
    assert stored()[:2] == (2, 6)
    assert with_key(evaluator_api, body, "flaky-network").content == retry.content
    assert Evaluation.objects.count() == 2
