"""The SQL twin of scoring.formulas: the production path, computed by PostgreSQL.

Each statement mirrors a function in formulas.py (named beside it); tests feed both
the same generated data and require the same numbers. The answer and evaluation scores
are the rubric's, so their SQL lives below, in touchpoints.answer_scores (submit_evaluations
derives them there); this module re-derives them for a journey and keeps the rollups.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from django.db import connection

from touchpoints.answer_scores import ANSWER_SCORE, EVALUATION_SCORE


def rescore_journey(journey_id: int) -> None:
    """Re-derive every stored answer and evaluation score of a journey (after a change of
    method), then rebuild its rollups. Set-based, whatever the number of evaluations."""
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            UPDATE touchpoints_answer a SET score = {ANSWER_SCORE}
            FROM touchpoints_criterionversion cv, touchpoints_evaluation e
            WHERE cv.id = a.criterion_version_id AND e.id = a.evaluation_id
              AND e.journey_id = %s
            """,  # noqa: S608
            [journey_id],
        )
        cursor.execute(
            f"""
            UPDATE touchpoints_evaluation e SET score = s.score
            FROM (
                SELECT ev.id AS evaluation_id, {EVALUATION_SCORE} AS score
                FROM touchpoints_evaluation ev
                LEFT JOIN touchpoints_answer a ON a.evaluation_id = ev.id AND a.score IS NOT NULL
                LEFT JOIN touchpoints_criterionversion cv ON cv.id = a.criterion_version_id
                WHERE ev.journey_id = %s
                GROUP BY ev.id
            ) s
            WHERE e.id = s.evaluation_id AND e.score IS DISTINCT FROM s.score
            """,  # noqa: S608
            [journey_id],
        )
    rebuild_rollups(journey_id)


# --- Rollups: per touch point (or criterion), UTC day, source and site -----------------------

# Merge an incoming group (EXCLUDED) into a stored one (r) with Chan's parallel formula.
_MERGE_MEAN = """CASE WHEN EXCLUDED.n = 0 THEN r.mean WHEN r.n = 0 THEN EXCLUDED.mean
    ELSE r.mean + (EXCLUDED.mean - r.mean) * EXCLUDED.n / (r.n + EXCLUDED.n) END"""
_MERGE_M2 = """CASE WHEN EXCLUDED.n = 0 THEN r.m2 WHEN r.n = 0 THEN EXCLUDED.m2
    ELSE r.m2 + EXCLUDED.m2
         + (EXCLUDED.mean - r.mean) ^ 2 * r.n::float8 * EXCLUDED.n / (r.n + EXCLUDED.n) END"""


@dataclass(frozen=True)
class _Figures:
    """What a rollup sums, as (column, aggregate over the group, merge into a stored row)."""

    rows: str  # the rows grouped, the evaluations aliased e
    columns: tuple[tuple[str, str, str], ...]


_EVALUATIONS = _Figures(
    "touchpoints_evaluation e",
    (
        ("evaluations", "count(*)", "r.evaluations + EXCLUDED.evaluations"),
        ("n", "count(e.score)", "r.n + EXCLUDED.n"),
        ("mean", "avg(e.score)", _MERGE_MEAN),
        ("m2", "coalesce(var_samp(e.score) * (count(e.score) - 1), 0)", _MERGE_M2),
        (
            "latest_submitted_at",
            "max(e.submitted_at)",
            "GREATEST(r.latest_submitted_at, EXCLUDED.latest_submitted_at)",
        ),
    ),
)
_ANSWERS = _Figures(
    "touchpoints_answer a JOIN touchpoints_evaluation e ON e.id = a.evaluation_id",
    (("n", "count(a.score)", "r.n + EXCLUDED.n"), ("mean", "avg(a.score)", _MERGE_MEAN)),
)


@dataclass(frozen=True)
class _Rollup:
    """One rollup table: its unique key is `key` (column, expression) then the UTC day,
    then (when `split`) the source and the site."""

    table: str
    constraint: str
    key: tuple[tuple[str, str], ...]
    split: bool
    figures: _Figures


# The rollup tables: fine ones split by source and site, coarse ones (a fifth of the rows)
# for reads with neither filter.
_FINE = "scoring_dayrollup"
_COARSE = "scoring_touchpointdayrollup"
_CRITERION_FINE = "scoring_criteriondayrollup"
_CRITERION_COARSE = "scoring_criteriontotaldayrollup"
_TOUCH_POINT_KEY = (("touch_point_id", "e.touch_point_id"), ("journey_id", "e.journey_id"))
_CRITERION_KEY = (("criterion_id", "a.criterion_id"), ("touch_point_id", "e.touch_point_id"))
_ROLLUPS = (
    _Rollup(_FINE, "dayrollup_unique", _TOUCH_POINT_KEY, True, _EVALUATIONS),
    _Rollup(_COARSE, "tpdayrollup_unique", _TOUCH_POINT_KEY, False, _EVALUATIONS),
    _Rollup(_CRITERION_FINE, "criteriondayrollup_unique", _CRITERION_KEY, True, _ANSWERS),
    _Rollup(_CRITERION_COARSE, "criteriontotal_unique", _CRITERION_KEY, False, _ANSWERS),
)
# Every rollup table, each with a touch_point_id column: for whoever clears, vacuums or
# watches them all (rebuild_rollups, the benches).
ROLLUP_TABLES = tuple(rollup.table for rollup in _ROLLUPS)


def _upsert(cursor: Any, rollup: _Rollup, where: str, params: Sequence[Any]) -> None:
    """Add the groups of the rows matching `where` to one rollup table. Rows go in key
    order (the second key column follows from the first), so that concurrent submissions
    lock rollup rows in the same order and cannot deadlock each other."""
    split = (("source", "e.source"), ("site_id", "e.site_id")) if rollup.split else ()
    keys = [*rollup.key, ("day", "(e.observed_at AT TIME ZONE 'UTC')::date"), *split]
    figures = rollup.figures.columns
    groups = ", ".join(str(i) for i in range(1, len(keys) + 1))
    cursor.execute(
        f"""
        INSERT INTO {rollup.table} AS r
            ({", ".join(name for name, _ in keys)}, {", ".join(name for name, _, _ in figures)})
        SELECT {", ".join(expr for _, expr in keys)}, {", ".join(agg for _, agg, _ in figures)}
        FROM {rollup.figures.rows}
        WHERE {where}
        GROUP BY {groups}
        ORDER BY {groups}
        ON CONFLICT ON CONSTRAINT {rollup.constraint} DO UPDATE SET
            {", ".join(f"{name} = {merge}" for name, _, merge in figures)}
        """,  # noqa: S608  (constant fragments; values are parameters)
        params,
    )


def roll_up(where: str, params: Sequence[Any]) -> None:
    """Add the evaluations matching `where` (alias e) to the day rollups: per touch point,
    day, source and site (DayRollup) and per touch point and day (TouchPointDayRollup); per
    criterion, day, source and site (CriterionDayRollup) and per criterion and day
    (CriterionTotalDayRollup)."""
    with connection.cursor() as cursor:
        for rollup in _ROLLUPS:
            _upsert(cursor, rollup, where, params)


def rebuild_rollups(journey_id: int) -> None:
    """Recreate a journey's rollups from its evaluations."""
    with connection.cursor() as cursor:
        for table in ROLLUP_TABLES:
            cursor.execute(
                f"""
                DELETE FROM {table}
                WHERE touch_point_id IN (
                    SELECT id FROM touchpoints_touchpoint WHERE journey_id = %s
                )
                """,  # noqa: S608  (constant table names)
                [journey_id],
            )
    roll_up("e.journey_id = %s", [journey_id])


# --- Aggregates over a window ------------------------------------------------------------------


@dataclass(frozen=True)
class Window:
    """Which evaluations count: observed in [since, until), optionally one site or source."""

    since: datetime
    until: datetime
    site_id: int | None = None
    source: str | None = None

    def previous(self) -> Window:
        """The same-length window just before this one (for the trend's change)."""
        length = self.until - self.since
        return Window(self.since - length, self.since, self.site_id, self.source)

    def split(self) -> tuple[tuple[date, date] | None, list[tuple[datetime, datetime]]]:
        """Whole UTC days inside the window (read from rollups) and the partial edges
        (read from evaluations): exact for any since/until, cheap for long windows."""
        since, until = self.since.astimezone(UTC), self.until.astimezone(UTC)
        first_full = since.date() if since == _midnight(since.date()) else since.date() + ONE_DAY
        last_full = until.date()  # exclusive
        if first_full >= last_full:
            return None, [(since, until)] if since < until else []
        edges = []
        if since < _midnight(first_full):
            edges.append((since, _midnight(first_full)))
        if _midnight(last_full) < until:
            edges.append((_midnight(last_full), until))
        return (first_full, last_full), edges


ONE_DAY = timedelta(days=1)


def _midnight(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


@dataclass(frozen=True)
class Aggregate:
    """n scored evaluations, their mean and sample standard deviation (formulas.touch_point_stats)."""

    n: int
    mean: float | None
    sd: float | None
    evaluations: int = 0
    latest_submitted_at: datetime | None = None


EMPTY = Aggregate(0, None, None)


def _fetch(sql: str, params: Sequence[Any]) -> list[tuple[Any, ...]]:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return list(cursor.fetchall())


def _filters(window: Window, alias: str) -> tuple[str, list[Any]]:
    clauses: list[str] = []
    params: list[Any] = []
    if window.site_id is not None:
        clauses.append(f" AND {alias}.site_id = %s")
        params.append(window.site_id)
    if window.source is not None:
        clauses.append(f" AND {alias}.source = %s")
        params.append(window.source)
    return "".join(clauses), params


# Grouping keys, as (rollup expression, evaluation expression). Keys are never NULL
# (no site is 0), so parts and totals join on plain equality, which PostgreSQL can hash.
KEY_ALL = ("0", "0")
KEY_SOURCE = ("r.source", "e.source")
KEY_SITE = ("coalesce(r.site_id, 0)", "coalesce(e.site_id, 0)")
KEY_WEEK = (
    "date_trunc('week', r.day)::date",
    "date_trunc('week', e.observed_at AT TIME ZONE 'UTC')::date",
)

# Every sum of floats below is taken in one fixed order, the rows' own key (day, source,
# site; an edge of the window sorts as its day with no source). PostgreSQL otherwise adds
# them in whatever order the plan delivers, and a touch point read alone (the
# per-touch-point recompute) and read with its whole journey (the full one) could then
# differ in the last bit. With the order fixed, a touch point's figures depend only on its
# own rollup rows, whichever query reads them: the two recomputes are equal, not close.
_ORDER = "ORDER BY p.d, p.s, p.site"


def _scope(
    alias: str, journey_id: int | None, touch_point_ids: Sequence[int] | None
) -> tuple[str, Any]:
    if (journey_id is None) == (touch_point_ids is None):
        raise ValueError("give a journey or touch points, not both")
    if journey_id is not None:
        return f"{alias}.journey_id = %s", journey_id
    return f"{alias}.touch_point_id = ANY(%s)", list(touch_point_ids or [])


def _parts(
    windows: Sequence[Window],
    *,
    journey_id: int | None,
    touch_point_ids: Sequence[int] | None,
    key: tuple[str, str],
    rollup: str,
    rollup_columns: str,
    edge_columns: str,
    edge_join: str = "",
) -> tuple[list[str], list[Any]]:
    """One SELECT per window for its whole days (from `rollup`) and one per partial edge
    day (from the evaluations), each row tagged with its window's index `w`, its touch
    point, its key `k` and its sort key (d, s, site)."""
    coarse = rollup in (_COARSE, _CRITERION_COARSE)
    sort_key = "r.day, '', 0" if coarse else "r.day, r.source::text, coalesce(r.site_id, 0)"
    parts: list[str] = []
    params: list[Any] = []
    for w, window in enumerate(windows):
        days, edges = window.split()
        if days:
            where, scope = _scope("r", journey_id, touch_point_ids)
            filters, fparams = _filters(window, "r")
            parts.append(
                f"""SELECT {w}, r.touch_point_id, {key[0]}, {sort_key}, {rollup_columns}
                    FROM {rollup} r
                    WHERE {where} AND r.day >= %s AND r.day < %s{filters}"""  # noqa: S608
            )
            params += [scope, days[0], days[1], *fparams]
        for since, until in edges:
            where, scope = _scope("e", journey_id, touch_point_ids)
            filters, fparams = _filters(window, "e")
            parts.append(
                f"""SELECT {w}, e.touch_point_id, {key[1]}, %s::date, '', -1, {edge_columns}
                    FROM touchpoints_evaluation e{edge_join}
                    WHERE {where} AND e.observed_at >= %s AND e.observed_at < %s{filters}
                    GROUP BY 2, 3"""  # noqa: S608
            )
            params += [since.date(), scope, since, until, *fparams]
    return parts, params


def touch_point_aggregates(
    windows: Sequence[Window],
    *,
    journey_id: int | None = None,
    touch_point_ids: Sequence[int] | None = None,
    key: tuple[str, str] = KEY_ALL,
    with_sd: bool = True,
) -> dict[tuple[int, int, Any], Aggregate]:
    """Evaluation scores per (window index, touch point, key) over each window, for every
    touch point of a journey or for the touch points given: count, n, mean, sample sd (when
    `with_sd`) and the latest submission, merged from day rollups and the edges' evaluations.

    All windows share one query (the recompute asks for its window and the one before);
    they must share their site and source filters. Without either, and unless split by
    source or site, the touch point's day rollup is read (a fifth of the rows)."""
    if not windows:
        return {}
    first = windows[0]
    if any((w.site_id, w.source) != (first.site_id, first.source) for w in windows):
        raise ValueError("the windows of one read share their filters")
    coarse = first.site_id is None and first.source is None and key in (KEY_ALL, KEY_WEEK)
    parts, params = _parts(
        windows,
        journey_id=journey_id,
        touch_point_ids=touch_point_ids,
        key=key,
        rollup=_COARSE if coarse else _FINE,
        rollup_columns="r.evaluations, r.n, r.mean, r.m2, r.latest_submitted_at",
        edge_columns="""count(*), count(e.score), avg(e.score ORDER BY e.id),
            coalesce(var_samp(e.score ORDER BY e.id) * (count(e.score) - 1), 0),
            max(e.submitted_at)""",
    )
    if not parts:
        return {}
    union = " UNION ALL ".join(parts)
    columns = "(w, tp, k, d, s, site, evaluations, n, mean, m2, latest)"
    if with_sd:
        # Two passes in one query: the group's mean beside every row (a window over the
        # group, in the fixed order), then M2 = the rows' M2 plus n (mean - group mean)^2.
        query = f"""
            SELECT p.w, p.tp, p.k, sum(p.evaluations), sum(p.n), max(p.total_mean),
                   CASE WHEN sum(p.n) >= 2 THEN sqrt(greatest(0, sum(
                       p.m2 + CASE WHEN p.n > 0 THEN p.n * (p.mean - p.total_mean) ^ 2 ELSE 0 END
                       {_ORDER}) / (sum(p.n) - 1))) END,
                   max(p.latest)
            FROM (
                SELECT p.*, sum(p.n * p.mean) OVER g / nullif(sum(p.n) OVER g, 0) AS total_mean
                FROM ({union}) AS p {columns}
                WINDOW g AS (PARTITION BY p.w, p.tp, p.k {_ORDER}
                             ROWS BETWEEN UNBOUNDED PRECEDING AND UNBOUNDED FOLLOWING)
            ) p
            GROUP BY p.w, p.tp, p.k
            """  # noqa: S608  (fragments are constants; values are parameters)
    else:
        query = f"""
            SELECT p.w, p.tp, p.k, sum(p.evaluations), sum(p.n),
                   sum(p.n * p.mean {_ORDER}) / nullif(sum(p.n), 0), NULL::float8, max(p.latest)
            FROM ({union}) AS p {columns}
            GROUP BY p.w, p.tp, p.k
            """  # noqa: S608
    return {
        (w, tp, k): Aggregate(int(n), mean, sd, int(evaluations), latest)
        for w, tp, k, evaluations, n, mean, sd, latest in _fetch(query, params)
    }


def criterion_aggregates(
    window: Window,
    *,
    journey_id: int | None = None,
    touch_point_ids: Sequence[int] | None = None,
) -> dict[int, dict[int, tuple[int, float | None]]]:
    """Per touch point, per criterion: (n answered, mean answer score) in the window.
    Without a site or source filter, from the criterion's day totals (a fifth of the rows)."""
    coarse = window.site_id is None and window.source is None
    parts, params = _parts(
        [window],
        journey_id=journey_id,
        touch_point_ids=touch_point_ids,
        key=("r.criterion_id", "a.criterion_id"),
        rollup=_CRITERION_COARSE if coarse else _CRITERION_FINE,
        rollup_columns="r.n, r.mean",
        edge_columns="count(a.score), avg(a.score ORDER BY a.id)",
        edge_join=" JOIN touchpoints_answer a ON a.evaluation_id = e.id",
    )
    if not parts:
        return {}
    rows = _fetch(
        f"""
        SELECT p.tp, p.k, sum(p.n), sum(p.n * p.mean {_ORDER}) / nullif(sum(p.n), 0)
        FROM ({" UNION ALL ".join(parts)}) AS p (w, tp, k, d, s, site, n, mean)
        GROUP BY p.tp, p.k
        """,  # noqa: S608
        params,
    )
    result: dict[int, dict[int, tuple[int, float | None]]] = {}
    for tp, criterion_id, n, mean in rows:
        result.setdefault(tp, {})[criterion_id] = (int(n), mean)
    return result


def weekly_by_journey(
    window: Window, journey_ids: Sequence[int]
) -> dict[tuple[int, date], tuple[int, float | None]]:
    """(journey, ISO week) -> (n, mean) of scored evaluations in the window, for several
    journeys in one query (the overview's sparklines): `aggregate` by week, many scopes."""
    if not journey_ids:
        return {}
    days, edges = window.split()
    parts: list[str] = []
    params: list[Any] = []
    if days:
        filters, fparams = _filters(window, "r")
        # Without a site or source filter, the touch points' day totals: a fifth of the rows.
        rollup = _FINE if filters else _COARSE
        parts.append(
            f"""SELECT r.journey_id AS j, {KEY_WEEK[0]} AS k, r.n, r.mean
                FROM {rollup} r
                WHERE r.journey_id = ANY(%s) AND r.day >= %s AND r.day < %s{filters}"""  # noqa: S608
        )
        params += [list(journey_ids), days[0], days[1], *fparams]
    for since, until in edges:
        filters, fparams = _filters(window, "e")
        parts.append(
            f"""SELECT e.journey_id AS j, {KEY_WEEK[1]} AS k, count(e.score), avg(e.score)
                FROM touchpoints_evaluation e
                WHERE e.journey_id = ANY(%s) AND e.observed_at >= %s AND e.observed_at < %s{filters}
                GROUP BY 1, 2"""  # noqa: S608
        )
        params += [list(journey_ids), since, until, *fparams]
    if not parts:
        return {}
    rows = _fetch(
        f"""
        WITH parts (j, k, n, mean) AS ({" UNION ALL ".join(parts)})
        SELECT j, k, sum(n), sum(n * mean) / nullif(sum(n), 0) FROM parts GROUP BY j, k
        """,  # noqa: S608  (fragments are constants; values are parameters)
        params,
    )
    return {(j, k): (int(n), mean) for j, k, n, mean in rows}


@dataclass(frozen=True)
class Breakdown:
    criteria: dict[int, tuple[int, float | None]]  # criterion id -> (n answered, mean)
    by_source: dict[str, Aggregate]
    by_site: dict[int | None, Aggregate]


def breakdowns(window: Window, touch_point_ids: Sequence[int]) -> dict[int, Breakdown]:
    """Per touch point: criteria means and the splits by source and by site, in three
    queries however many touch points."""
    if not touch_point_ids:
        return {}
    ids = list(touch_point_ids)
    by_source = touch_point_aggregates([window], touch_point_ids=ids, key=KEY_SOURCE)
    by_site = touch_point_aggregates([window], touch_point_ids=ids, key=KEY_SITE)
    criteria = criterion_aggregates(window, touch_point_ids=ids)
    sources: dict[int, dict[str, Aggregate]] = {}
    for (_, tp, key), agg in by_source.items():
        sources.setdefault(tp, {})[key] = agg
    sites: dict[int, dict[int | None, Aggregate]] = {}
    for (_, tp, key), agg in by_site.items():
        sites.setdefault(tp, {})[key or None] = agg
    return {
        tp: Breakdown(
            criteria=criteria.get(tp, {}),
            by_source=sources.get(tp, {}),
            by_site=sites.get(tp, {}),
        )
        for tp in ids
    }


def weekly(
    window: Window, touch_point_ids: Sequence[int]
) -> dict[int, dict[date, tuple[int, float | None]]]:
    """Per touch point, n and mean of scored evaluations per ISO week (Monday, UTC) inside
    the window."""
    result: dict[int, dict[date, tuple[int, float | None]]] = {}
    if not touch_point_ids:
        return result
    rows = touch_point_aggregates(
        [window], touch_point_ids=list(touch_point_ids), key=KEY_WEEK, with_sd=False
    )
    for (_, tp, week), agg in rows.items():
        result.setdefault(tp, {})[week] = (agg.n, agg.mean)
    return result
