"""Facts a submission leaves for the apps above it, written in its own transaction."""

from __future__ import annotations

from collections.abc import Sequence

from django.db import connection

from touchpoints.models import Answer, CriterionVersion, CriticalFailure, Evaluation


def record_critical_failures(evaluation_ids: Sequence[int]) -> None:
    """One CriticalFailure per answer to a critical criterion that scored 0 (a failed
    critical criterion fails the whole evaluation, PRODUCT.md score 2), in one statement.
    Answers must already be scored (touchpoints.answer_scores scores them in the same transaction)."""
    if not evaluation_ids:
        return
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            INSERT INTO {CriticalFailure._meta.db_table} (organization_id, evaluation_id, criterion_id, at)
            SELECT e.organization_id, a.evaluation_id, a.criterion_id, now()
            FROM {Answer._meta.db_table} a
            JOIN {CriterionVersion._meta.db_table} v ON v.id = a.criterion_version_id
            JOIN {Evaluation._meta.db_table} e ON e.id = a.evaluation_id
            WHERE a.evaluation_id = ANY(%s) AND v.critical AND a.score = 0
            ON CONFLICT DO NOTHING
            """,  # noqa: S608 (model table names, values as parameters)
            [list(evaluation_ids)],
        )
