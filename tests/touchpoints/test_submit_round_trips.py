"""submit_evaluations sends its writes in few round trips (the lock with the rubric and
sites it reads; the evaluations with their scored answers in one statement; the
result-less writes held together by core.write_batch) and stores exactly what it stored
when each went on its own: the same rows, the same scores (compared with the statements
it used before: insert_scored_answers, then score_evaluations)."""

from __future__ import annotations

from contextlib import nullcontext
from typing import Any

import pytest
from django.db import transaction
from django.utils import timezone

from scoring.models import (
    CriterionDayRollup,
    CriterionTotalDayRollup,
    DayRollup,
    StaleMark,
    TouchPointDayRollup,
)
from tests.factories import CriterionFactory, SiteFactory, TouchPointFactory
from tests.round_trips import besides_transaction, sends
from touchpoints import services
from touchpoints.answer_scores import insert_scored_answers, score_evaluations
from touchpoints.models import Answer, CriterionKind, CriticalFailure, Evaluation, Source
from touchpoints.services import AnswerInput, EvaluationInput, submit_evaluations

pytestmark = pytest.mark.django_db

# What a submission writes, without the columns that differ between two identical runs
# (ids from sequences, the clock).
TABLES: list[tuple[Any, list[str]]] = [
    (Evaluation, ["touch_point_id", "source", "site_id", "comment", "client_key", "score"]),
    (Answer, ["criterion_id", "criterion_version_id", "value", "score"]),
    (CriticalFailure, ["criterion_id"]),
    (StaleMark, ["touch_point_id"]),
    (DayRollup, ["touch_point_id", "day", "source", "site_id", "evaluations", "n", "mean", "m2"]),
    (TouchPointDayRollup, ["touch_point_id", "day", "evaluations", "n", "mean", "m2"]),
    (CriterionTotalDayRollup, ["criterion_id", "day", "n", "mean"]),
    (CriterionDayRollup, ["criterion_id", "day", "source", "site_id", "n", "mean"]),
]


def stored() -> dict[str, list[tuple[Any, ...]]]:
    return {
        model.__name__: sorted(model.objects.values_list(*columns), key=repr)
        for model, columns in TABLES
    }


def a_batch(personas: Any) -> list[EvaluationInput]:
    """Five evaluations of a touch point with a criterion of each kind and a critical one:
    with and without a site, client key and applicable answers, one failing critically."""
    touch_point = TouchPointFactory(stage__journey__organization=personas.org)
    scale, yes_no, numeric, critical = (
        CriterionFactory(touch_point=touch_point, name="Name used"),
        CriterionFactory(touch_point=touch_point, name="Clean", kind=CriterionKind.YES_NO),
        CriterionFactory(
            touch_point=touch_point,
            name="Seconds",
            kind=CriterionKind.NUMERIC,
            target_value=20,
            worst_value=120,
        ),
        CriterionFactory(
            touch_point=touch_point, name="Greeted", kind=CriterionKind.YES_NO, critical=True
        ),
    )
    site = SiteFactory(organization=personas.org, name="York")
    now = timezone.now()
    return [
        EvaluationInput(
            touch_point_id=touch_point.pk,
            source=source,
            observed_at=now,
            answers=[
                AnswerInput(scale.pk, n),
                AnswerInput(yes_no.pk, 1),
                AnswerInput(numeric.pk, None if n == 2 else 35.5),
                AnswerInput(critical.pk, 0 if n == 3 else 1),
            ],
            site_id=site.pk if n % 2 else None,
            comment=f"50% of {n}",
            client_key=f"key-{n}" if n > 3 else None,
        )
        for n, source in enumerate(SOURCES, start=1)
    ]


SOURCES = [Source.SUPERVISOR, Source.AUDIT, Source.SUPERVISOR, Source.SELF_CHECK, Source.AUDIT]


def test_fewer_round_trips_store_exactly_what_one_statement_at_a_time_stored(
    personas: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    items = a_batch(personas)

    def submit() -> dict[str, list[tuple[Any, ...]]]:
        with transaction.atomic():
            submit_evaluations(evaluator=personas.evaluator, organization=personas.org, items=items)
            result = stored()
            transaction.set_rollback(True)
        return result

    def the_old_way(evaluations: list[Evaluation], answers: list[list[Any]]) -> None:
        Evaluation.objects.bulk_create(evaluations)
        insert_scored_answers(
            [
                (e.pk, criterion_id, version_id, value)
                for e, given in zip(evaluations, answers, strict=True)
                for criterion_id, version_id, value in given
            ]
        )
        score_evaluations([e.pk for e in evaluations], answers_scored=True)

    batched = submit()
    monkeypatch.setattr(services, "batched_writes", nullcontext)
    monkeypatch.setattr(services, "insert_scored_evaluations", the_old_way)
    one_by_one = submit()
    assert batched == one_by_one
    assert len(batched["Evaluation"]) == 5
    assert len(batched["CriticalFailure"]) == 1
    assert batched["DayRollup"]  # the comparison compared something


def test_a_submission_takes_four_queries_besides_begin_and_commit(personas: Any) -> None:
    """The evaluator's membership; the lock with the criteria and sites; the evaluations
    with their scored answers and scores (one statement, RETURNING the ids); the critical
    failures, rollups, stale marks and any caller's rows, sent with the stale marks'
    RETURNING. (A client key adds its check and a savepoint; a customer's answer has no
    membership to read.)"""
    items = [EvaluationInput(**{**i.__dict__, "client_key": None}) for i in a_batch(personas)]
    with sends() as sent:
        submit_evaluations(evaluator=personas.evaluator, organization=personas.org, items=items)
    assert len(besides_transaction(sent)) == 4, sent
