"""Answer and evaluation scores in SQL: a property of the rubric and the answers, derived
by PostgreSQL in the transaction that stores them (submit_evaluations).

The SQL twin of scoring.formulas.answer_score and evaluation_score (the pure functions,
in the app above); tests/scoring/test_sql_matches_formulas.py feeds both the same
generated data and requires the same numbers. scoring.sql reuses these expressions to
re-derive a journey's scores (rescore_journey) and adds the rollups.
"""

from __future__ import annotations

from collections.abc import Sequence

from django.db import connection

# formulas.answer_score, for one row of touchpoints_answer `a` joined to its version `cv`.
ANSWER_SCORE = """
    CASE cv.kind
        WHEN 'scale' THEN (a.value - 1) / (cv.scale_size - 1) * 100
        WHEN 'yes_no' THEN a.value * 100
        WHEN 'numeric' THEN
            -- Compared before dividing, not LEAST/GREATEST after: those skip NULLs (so a
            -- "not applicable" scored 0), and a value far out of range overflows float8,
            -- an error in PostgreSQL where Python clips infinity. In between, the same
            -- arithmetic as the formulas, already within 0..100.
            CASE WHEN a.value IS NULL THEN NULL
                 WHEN cv.target_value < cv.worst_value THEN
                    CASE WHEN a.value <= cv.target_value THEN 100
                         WHEN a.value >= cv.worst_value THEN 0
                         ELSE (cv.worst_value - a.value) / (cv.worst_value - cv.target_value) * 100
                    END
                 ELSE
                    CASE WHEN a.value >= cv.target_value THEN 100
                         WHEN a.value <= cv.worst_value THEN 0
                         ELSE (a.value - cv.worst_value) / (cv.target_value - cv.worst_value) * 100
                    END
            END
    END
"""

# formulas.evaluation_score: weighted mean over applicable answers, critical knock-out.
# Clipped at 100 like formulas.clip (a weighted mean of 100s can round to
# 100.00000000000001); by CASE, since LEAST would turn "no applicable answer" (NULL) into 100.
EVALUATION_SCORE = """
    CASE WHEN bool_or(cv.critical AND a.score = 0) THEN 0
         WHEN sum(a.score * cv.weight) / sum(cv.weight) > 100 THEN 100
         ELSE sum(a.score * cv.weight) / sum(cv.weight)
    END
"""


def insert_scored_answers(rows: Sequence[tuple[int, int, int, float | None]]) -> None:
    """Insert validated answers (evaluation id, criterion id, criterion version id, value)
    with their scores derived in the same statement, in the order given (their ids follow
    it). Then score_evaluations(..., answers_scored=True) need not rewrite every answer row
    it has just written."""
    if not rows:
        return
    evaluation_ids, criterion_ids, version_ids, values = (list(c) for c in zip(*rows, strict=True))
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            INSERT INTO touchpoints_answer
                (evaluation_id, criterion_id, criterion_version_id, value, score)
            SELECT a.evaluation_id, a.criterion_id, a.criterion_version_id, a.value,
                   {ANSWER_SCORE}
            FROM unnest(%s::bigint[], %s::bigint[], %s::bigint[], %s::float8[])
                 WITH ORDINALITY AS a(evaluation_id, criterion_id, criterion_version_id, value, ord)
            JOIN touchpoints_criterionversion cv ON cv.id = a.criterion_version_id
            ORDER BY a.ord
            """,  # noqa: S608  (constant SQL fragments, values are parameters)
            [evaluation_ids, criterion_ids, version_ids, values],
        )


def score_evaluations(evaluation_ids: Sequence[int], *, answers_scored: bool = False) -> None:
    """Derive answer and evaluation scores for freshly stored (or re-scored) evaluations.

    `answers_scored`: the answers were stored with their scores (insert_scored_answers);
    only the evaluations' scores are left to derive. The rollups are scoring's (a
    submission reaches them through touchpoints.hooks)."""
    if not evaluation_ids:
        return
    ids = list(evaluation_ids)
    with connection.cursor() as cursor:
        if not answers_scored:
            cursor.execute(
                f"""
                UPDATE touchpoints_answer a SET score = {ANSWER_SCORE}
                FROM touchpoints_criterionversion cv
                WHERE cv.id = a.criterion_version_id AND a.evaluation_id = ANY(%s)
                """,  # noqa: S608  (constant SQL fragments, values are parameters)
                [ids],
            )
        cursor.execute(
            f"""
            UPDATE touchpoints_evaluation e SET score = s.score
            FROM (
                SELECT a.evaluation_id, {EVALUATION_SCORE} AS score
                FROM touchpoints_answer a
                JOIN touchpoints_criterionversion cv ON cv.id = a.criterion_version_id
                WHERE a.evaluation_id = ANY(%s) AND a.score IS NOT NULL
                GROUP BY a.evaluation_id
            ) s
            -- Naming the ids on this side too lets the planner reach the rows through the
            -- primary key: it guesses too many groups above, and would otherwise hash-join
            -- against a sequential scan of every evaluation (300 ms at 1M rows).
            WHERE e.id = s.evaluation_id AND e.id = ANY(%s)
            """,  # noqa: S608
            [ids, ids],
        )
