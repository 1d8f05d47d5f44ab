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

from touchpoints.models import Evaluation

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
    it has just written. submit_evaluations does both in one statement now
    (insert_scored_evaluations); this step-by-step pair is the reference that
    tests/touchpoints/test_submit_round_trips.py requires it to equal."""
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


# Evaluations, their answers and both kinds of score in one statement: the answers are
# scored from their versions (ANSWER_SCORE) and each evaluation's score aggregated from
# them (EVALUATION_SCORE) before its row is written, so nothing is written twice. Ids come
# from the evaluations' sequence in the items' order, as a plain INSERT would take them.
_INSERT_SCORED_EVALUATIONS = f"""
WITH items AS (
    SELECT * FROM unnest(
        %s::bigint[], %s::bigint[], %s::bigint[], %s::bigint[], %s::text[], %s::bigint[],
        %s::timestamptz[], %s::text[], %s::text[], %s::integer[]
    ) WITH ORDINALITY AS i(organization_id, journey_id, touch_point_id, evaluator_id, source,
                           site_id, observed_at, comment, client_key, rubric_version, ord)
), ids AS (
    SELECT o.ord, nextval(pg_get_serial_sequence('touchpoints_evaluation', 'id')) AS id
    FROM (SELECT ord FROM items ORDER BY ord OFFSET 0) o
), scored AS (
    SELECT ids.id AS evaluation_id, a.criterion_id, a.criterion_version_id, a.value, a.ord,
           {ANSWER_SCORE} AS score
    FROM unnest(%s::bigint[], %s::bigint[], %s::bigint[], %s::float8[])
         WITH ORDINALITY AS a(item, criterion_id, criterion_version_id, value, ord)
    JOIN ids ON ids.ord = a.item
    JOIN touchpoints_criterionversion cv ON cv.id = a.criterion_version_id
), answers AS (
    INSERT INTO touchpoints_answer
        (evaluation_id, criterion_id, criterion_version_id, value, score)
    SELECT evaluation_id, criterion_id, criterion_version_id, value, score
    FROM scored ORDER BY ord
), scores AS (
    SELECT a.evaluation_id, {EVALUATION_SCORE} AS score
    FROM scored a
    JOIN touchpoints_criterionversion cv ON cv.id = a.criterion_version_id
    WHERE a.score IS NOT NULL
    GROUP BY a.evaluation_id
)
INSERT INTO touchpoints_evaluation
    (id, organization_id, journey_id, touch_point_id, evaluator_id, source, site_id,
     observed_at, submitted_at, comment, client_key, rubric_version, score)
SELECT ids.id, i.organization_id, i.journey_id, i.touch_point_id, i.evaluator_id, i.source,
       i.site_id, i.observed_at, %s, i.comment, i.client_key, i.rubric_version, s.score
FROM items i
JOIN ids ON ids.ord = i.ord
LEFT JOIN scores s ON s.evaluation_id = ids.id
ORDER BY i.ord
RETURNING id, score
"""  # noqa: S608  (constant SQL fragments, values are parameters)


def insert_scored_evaluations(
    evaluations: Sequence[Evaluation],
    answers: Sequence[Sequence[tuple[int, int, float | None]]],
) -> None:
    """Insert validated, unsaved evaluations with their answers, each `answers[i]` a list
    of (criterion id, criterion version id, value) for `evaluations[i]`, and derive every
    answer's and evaluation's score in the same statement (what insert_scored_answers and
    then score_evaluations do, in one). Sets each evaluation's pk and score, as saved."""
    if not evaluations:
        return
    columns = [
        [getattr(e, name) for e in evaluations]
        for name in (
            "organization_id",
            "journey_id",
            "touch_point_id",
            "evaluator_id",
            "source",
            "site_id",
            "observed_at",
            "comment",
            "client_key",
            "rubric_version",
        )
    ]
    rows = [
        (item, criterion_id, version_id, value)
        for item, given in enumerate(answers, start=1)
        for criterion_id, version_id, value in given
    ]
    answer_columns = [list(c) for c in zip(*rows, strict=True)] if rows else [[], [], [], []]
    submitted = {e.submitted_at for e in evaluations}
    if len(submitted) != 1:
        raise ValueError("one submission's evaluations share their submitted_at")
    with connection.cursor() as cursor:
        cursor.execute(_INSERT_SCORED_EVALUATIONS, [*columns, *answer_columns, submitted.pop()])
        stored = sorted(cursor.fetchall())  # ids follow the items' order
    for evaluation, (pk, score) in zip(evaluations, stored, strict=True):
        evaluation.pk, evaluation.score = pk, score
        evaluation._state.adding, evaluation._state.db = False, connection.alias
