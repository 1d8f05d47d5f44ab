"""Recompute of score snapshots, and the stale marks that drive it.

A journey is the unit of consistency: every touch point's smoothed score depends on the
journey's prior, so a recompute reads one GROUP BY over the journey's window (scoring.sql)
and rewrites the journey's snapshot rows in one transaction under a per-journey advisory
lock. Readers therefore see the old snapshot or the new one, never a mix, and two workers
recomputing the same journey take turns instead of racing.

Stale marks are the durable record of what is behind. A recompute deletes exactly the
marks it read under the lock; a mark committed meanwhile survives and is picked up by
its own message or by the periodic sweep, so no evaluation is ever left out for good.
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any, NamedTuple

import redis
from django.conf import settings
from django.db import connection, transaction
from django.db.models import Max, Min
from django.utils import timezone

from core import broker
from core.broker import broker_redis
from core.models import JourneyStaleMark
from journeys.models import Journey
from scoring import formulas, heartbeat, sql, transitions
from scoring.models import JourneyScore, StaleMark, TouchPointScore
from touchpoints.models import Site, Source, TouchPoint, TouchPointQuerySet

log = logging.getLogger(__name__)

# Namespace for pg_advisory_xact_lock(int, int): (SCORING_LOCK, journey id).
SCORING_LOCK = 7_301
TREND_WEEKS = 12


# --- Marking and queueing ---------------------------------------------------------------


def mark_stale(touch_point_ids: Iterable[int]) -> None:
    """Record, in the caller's transaction, that these touch points need a recompute,
    and ask a worker for one once the transaction has committed."""
    ids = sorted(set(touch_point_ids))
    if not ids:
        return
    StaleMark.objects.bulk_create([StaleMark(touch_point_id=pk) for pk in ids])
    transaction.on_commit(lambda: request_recompute(ids))


PENDING_KEY = "touchstone:recompute-pending:{}"
# When the last sweep finished (Unix time), for `manage.py scoring_status` and the admin.
LAST_SWEEP_KEY = "touchstone:last-sweep"
# The tasks services publish, by name (core.broker): scoring.tasks imports this module.
RECOMPUTE_TOUCH_POINT = "scoring.tasks.recompute_touch_point"
RECOMPUTE_JOURNEY = "scoring.tasks.recompute_journey"
# Lives while a debounce window of the touch point runs: a recompute queued then waits for
# its end (leading-edge debounce, see request_recompute).
WINDOW_KEY = "touchstone:recompute-window:{}"


# Both markers of every touch point asked for, in one round trip: per touch point (KEYS
# pending, window in pairs) the delay in ms to queue its recompute with, or -1 when one is
# already pending (it will cover this change). See request_recompute.
_CLAIM_SCRIPT = """
local out = {}
for i = 1, #KEYS, 2 do
  if redis.call('SET', KEYS[i], 1, 'NX', 'EX', ARGV[2]) then
    if redis.call('SET', KEYS[i + 1], 1, 'NX', 'PX', ARGV[1]) then
      out[#out + 1] = 0
    else
      local left = redis.call('PTTL', KEYS[i + 1])
      if left < 0 then left = 0 end
      redis.call('SET', KEYS[i + 1], 1, 'PX', left + tonumber(ARGV[1]))
      out[#out + 1] = left
    end
  else
    out[#out + 1] = -1
  end
end
return out
"""


def request_recompute(touch_point_ids: Iterable[int]) -> None:
    """Queue recomputes, debounced on the leading edge and never failing the caller.

    At most one recompute per touch point is pending at a time (a SET NX marker the task
    clears as it starts). A touch point that had no recompute in the last
    SCORING_DEBOUNCE_SECONDS is recomputed at once, so a single evaluation's score is
    fresh as soon as a worker has run it; one that did waits for the end of that window,
    and the delayed run opens the next window, so a burst of submissions costs one
    recompute per window plus the first. The markers of all the touch points are claimed
    in one Redis round trip (a script: it runs on the request's path, after its commit).
    The stale marks are the real record: if Redis is down, the periodic sweep re-queues
    whatever was not sent.
    """
    ids = list(touch_point_ids)
    if not ids:
        return
    debounce_ms = int(settings.SCORING_DEBOUNCE_SECONDS * 1000)
    try:
        client = broker_redis()
        keys = [key for pk in ids for key in (PENDING_KEY.format(pk), WINDOW_KEY.format(pk))]
        delays = client.eval(_CLAIM_SCRIPT, len(keys), *keys, debounce_ms, debounce_ms // 1000 + 60)
        claimed = [
            (pk, delay_ms) for pk, delay_ms in zip(ids, delays, strict=True) if delay_ms >= 0
        ]
        for i, (pk, delay_ms) in enumerate(claimed):
            try:
                broker.send_task(RECOMPUTE_TOUCH_POINT, args=(pk,), countdown=delay_ms / 1000)
            except Exception:
                # Not queued: let the next change (or the sweep) ask again.
                client.delete(*(PENDING_KEY.format(left) for left, _ in claimed[i:]))
                raise
    except Exception:
        # The broker is down or slow: don't wait on it once per touch point.
        log.warning("Could not queue a recompute; the sweep will catch up.", exc_info=True)


def clear_pending(touch_point_id: int) -> None:
    """Called as a recompute starts: changes committed from now on need another one."""
    try:
        broker_redis().delete(PENDING_KEY.format(touch_point_id))
    except redis.RedisError:
        log.warning("Could not clear the pending marker of %s.", touch_point_id, exc_info=True)


# --- Windows ---------------------------------------------------------------------------------


def default_window(window_days: int, now: datetime) -> sql.Window:
    """The snapshot's window: the last `window_days` UTC calendar days, today included, in
    whole days: [midnight `window_days` - 1 days before today, midnight after today).

    Whole days are read from the rollups alone, and the window stays the same all day, so
    the stored figures of a touch point nobody evaluated since its last recompute are
    still exact for it: a recompute re-reads only the touch points that changed
    (recompute_touch_points) until the day turns. Evaluations observed later today (the
    submission's clock skew allows a few minutes) count, as they would tomorrow anyway."""
    today = now.astimezone(UTC).date()
    until = datetime(today.year, today.month, today.day, tzinfo=UTC) + timedelta(days=1)
    return sql.Window(since=until - timedelta(days=window_days), until=until)


def _last_week(window: sql.Window) -> date:
    """The ISO week holding the window's last moment (its end is exclusive)."""
    return formulas.week_start(window.until - timedelta(microseconds=1))


def trend_window(window: sql.Window, weeks: int = TREND_WEEKS) -> sql.Window:
    """The `weeks` ISO weeks ending with the one that holds the window's last moment,
    keeping the window's site and source filters."""
    first = _last_week(window) - timedelta(weeks=weeks - 1)
    since = datetime(first.year, first.month, first.day, tzinfo=UTC)
    return sql.Window(since=since, until=window.until, site_id=window.site_id, source=window.source)


def trend_weeks(window: sql.Window, weeks: int = TREND_WEEKS) -> list[formulas.WeekPoint]:
    """The weeks of trend_window, oldest first, each still empty (n 0, no mean)."""
    return formulas.weekly_trend([], until=window.until - timedelta(microseconds=1), weeks=weeks)


def fill_weeks(
    empty: Sequence[formulas.WeekPoint], by_week: Mapping[date, tuple[int, float | None]]
) -> list[formulas.WeekPoint]:
    """The weeks of trend_weeks, each with its (n, mean) from `by_week` where it has one."""
    return [
        formulas.WeekPoint(w.week_start, *by_week[w.week_start]) if w.week_start in by_week else w
        for w in empty
    ]


# --- Recompute -----------------------------------------------------------------------------------


@dataclass
class RecomputeResult:
    """What a recompute did, journey by journey (ids in the order they were done)."""

    journeys: list[int] = field(default_factory=list)  # snapshots rewritten
    # Touch points whose rollups were re-read by the per-touch-point path: the stale ones
    # and those off the map (their evaluations still count towards the journey's prior).
    touch_points: list[int] = field(default_factory=list)
    full_journeys: list[int] = field(default_factory=list)  # of `journeys`: from scratch
    skipped: list[int] = field(default_factory=list)  # nothing stale (already covered), or gone

    def __bool__(self) -> bool:
        return bool(self.journeys)


def recompute_touch_points(touch_point_ids: Iterable[int]) -> RecomputeResult:
    """Bring the snapshots of these stale touch points up to date, journey by journey.

    Per journey, under its lock, the touch points with a stale mark (these and any other
    of the journey's) are re-read from the rollups, and the journey's headline figures
    (prior, every touch point's smoothed score, status and priority, the journey score,
    hence weak links and status counts) are recomputed from the stored snapshots of the
    others. The result is exactly what a recompute from scratch writes: a touch point's
    figures depend only on its own rollup rows (scoring.sql sums them in a fixed order)
    and the window stays put all day (default_window). When that cannot hold (the map or
    the settings changed, the day turned, no snapshot yet) the journey is recomputed from
    scratch. Unknown ids are ignored; a journey with nothing stale is skipped.

    A journey none of whose given touch points is marked any more is skipped before its
    lock: a recompute of the journey has already taken those marks and committed (every
    message is sent after its mark commits), and the journey's other marks have their own
    messages. Under load most duplicate messages end there instead of queueing on the
    lock behind the recompute that covered them."""
    ids = sorted(set(touch_point_ids))
    with connection.cursor() as cursor:  # on every task's path: SQL, not an ORM query
        cursor.execute(
            """
            SELECT t.id, t.journey_id,
                   EXISTS (SELECT FROM scoring_stalemark m WHERE m.touch_point_id = t.id)
            FROM touchpoints_touchpoint t WHERE t.id = ANY(%s)
            """,
            [ids],
        )
        found = cursor.fetchall()
    known = {pk for pk, _, _ in found}
    gone = [pk for pk in ids if pk not in known]
    if gone:
        StaleMark.objects.filter(touch_point_id__in=gone).delete()
    result = RecomputeResult()
    marked = {journey_id for _, journey_id, is_marked in found if is_marked}
    for journey_id in sorted({journey_id for _, journey_id, _ in found}):
        if journey_id in marked:
            _recompute(journey_id, full=False, into=result)
        else:
            result.skipped.append(journey_id)
    return result


def recompute_touch_point(touch_point_id: int) -> bool:
    """recompute_touch_points for one: False if nothing was stale (another recompute
    already covered it) or the touch point is gone."""
    return bool(recompute_touch_points([touch_point_id]))


def recompute_journey(journey_id: int, *, full: bool = True) -> bool:
    """Rewrite a journey's snapshots. full=True recomputes everything from the rollups
    (the sweep's expired snapshots, recompute_all); full=False does what
    recompute_touch_points does for the journey's stale marks, and nothing if there are
    none."""
    return _recompute(journey_id, full=full, into=RecomputeResult())


# Under the journey's lock, take (delete) its marks: the journey's own (core.map_changes:
# the map or the settings changed) and its touch points' (new evaluations). What this
# statement deletes is exactly what the recompute covers: a mark committed from now on
# survives for the next one, and a recompute that fails puts these back as it rolls back.
_CLAIM_MARKS = """
    WITH journey_marks AS (
        DELETE FROM core_journeystalemark WHERE journey_id = %s RETURNING id
    ), touch_point_marks AS (
        DELETE FROM scoring_stalemark m USING touchpoints_touchpoint t
        WHERE t.id = m.touch_point_id AND t.journey_id = %s
        RETURNING m.touch_point_id
    )
    SELECT EXISTS (SELECT FROM journey_marks),
           ARRAY(SELECT DISTINCT touch_point_id FROM touch_point_marks)
"""


def _recompute(journey_id: int, *, full: bool, into: RecomputeResult) -> bool:
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s, %s)", [SCORING_LOCK, journey_id])
            cursor.execute(_CLAIM_MARKS, [journey_id, journey_id])
            journey_marked, stale = cursor.fetchone()
        # Journey marks ask for every touch point's breakdown; touch point marks for theirs.
        if not (stale or journey_marked or full):
            into.skipped.append(journey_id)
            return False
        journey = Journey.objects.select_related("organization").filter(pk=journey_id).first()
        if journey is None:
            into.skipped.append(journey_id)
            return False
        now = timezone.now()
        reread = None
        if not full and not journey_marked:
            reread = _write_changed(journey, stale=set(stale), now=now)
        if reread is None:
            _write_journey(journey, now=now)
            into.full_journeys.append(journey_id)
        else:
            into.touch_points.extend(reread)
        into.journeys.append(journey_id)
        _test_pause()
    return True


def _test_pause() -> None:
    """Fault-injection hook for the worker-kill tests: hold the recompute's transaction
    open (after the snapshot writes, before commit) when SCORING_TEST_PAUSE_SECONDS is set."""
    seconds = settings.SCORING_TEST_PAUSE_SECONDS
    if seconds:
        marker = settings.SCORING_TEST_PAUSE_MARKER
        if marker:
            with open(marker, "w") as f:
                f.write(str(os.getpid()))
        time.sleep(seconds)


# --- Computing scores: one path for the snapshot writer and for on-demand reads --------------


def journey_touch_points(*journey_ids: int) -> TouchPointQuerySet:
    """Every touch point of these journeys, archived or not, with its stage, in map order:
    journey, then stage position, then position inside the stage."""
    return (
        TouchPoint.objects.filter(journey_id__in=journey_ids)
        .select_related("stage")
        .order_by("journey_id", "stage__position", "position", "pk")
    )


def map_touch_points(*journey_ids: int) -> TouchPointQuerySet:
    """The touch points on these journeys' maps (neither they nor their stage archived), in
    map order (journey_touch_points)."""
    return journey_touch_points(*journey_ids).on_map()


@dataclass(frozen=True)
class TouchPointResult:
    """One touch point's headline numbers over a window (PRODUCT.md scores 3, 6 and 7)."""

    touch_point: TouchPoint
    aggregate: sql.Aggregate  # every evaluation in the window, scored or not, and the latest
    previous_mean: float | None  # the mean over the same-length window just before
    stats: formulas.TouchPointStats
    target: float
    status: str
    priority: float | None
    is_last: bool

    @property
    def trend_change(self) -> float | None:
        return formulas.trend_change(current_mean=self.stats.mean, previous_mean=self.previous_mean)


@dataclass(frozen=True)
class JourneyResult:
    """A journey's scores over one window: what a snapshot stores and an on-demand read shows."""

    window: sql.Window
    prior: sql.Aggregate  # every scored evaluation of the journey in the window, pooled
    touch_points: list[TouchPointResult]  # map order
    score: float | None


def score_journey(
    journey: Journey, window: sql.Window, touch_points: Sequence[TouchPoint]
) -> JourneyResult:
    """Every touch point's headline numbers and the journey score, from scratch: one query
    over the journey's rollups for its window and the one before (for the trend). Weak
    links, blind spots and status counts are read from these rows by scoring.selectors,
    for snapshots and on-demand reads alike.

    `touch_points` is the map (map_touch_points); the method's settings come from
    `journey.organization`. The snapshot writer and on-demand reads (another window, one
    site or one source) both call this, so a figure cannot mean two things."""
    figures = sql.touch_point_aggregates([window, window.previous()], journey_id=journey.pk)
    current = {tp: agg for (w, tp, _), agg in figures.items() if w == 0}
    previous = {tp: agg.mean for (w, tp, _), agg in figures.items() if w == 1}
    on_map = {tp.pk for tp in touch_points}
    off_map = [agg for tp, agg in current.items() if tp not in on_map]
    return _assemble(journey, window, touch_points, current, previous, off_map)


def _as_stored(mean: float | None) -> float | None:
    """A mean as the snapshot stores it: clipped to 0..100 (formulas.stats_from_aggregates
    does the same; a mean of scores can overshoot by an ulp)."""
    return None if mean is None else formulas.clip(mean)


def _assemble(
    journey: Journey,
    window: sql.Window,
    touch_points: Sequence[TouchPoint],
    current: Mapping[int, sql.Aggregate],
    previous_means: Mapping[int, float | None],
    off_map: Sequence[sql.Aggregate],
) -> JourneyResult:
    """The journey's headline figures from each touch point's own aggregates: the one
    computation behind score_journey (every touch point read now) and the per-touch-point
    recompute (most of them taken from their stored snapshot)."""
    org = journey.organization
    on_map = [current.get(tp.pk, sql.EMPTY) for tp in touch_points]
    # The prior pools the means of every touch point with evaluations in the window, on the
    # map or not (archived ones' evaluations still belong to the journey). fsum makes it
    # independent of their order; the means are taken as stored, so pooling stored
    # snapshots gives the very same number.
    everyone = [*on_map, *off_map]
    n, mean = formulas.pooled((agg.n, _as_stored(agg.mean)) for agg in everyone)
    prior = sql.Aggregate(n, mean, None, sum(agg.evaluations for agg in everyone))
    # "Is last" is decided here only: the snapshot stores it beside the priority it weighs.
    last_id = touch_points[-1].pk if touch_points else None
    results = []
    for tp, agg in zip(touch_points, on_map, strict=True):
        stats = formulas.stats_from_aggregates(
            n=agg.n, mean=agg.mean, sd=agg.sd, prior=prior.mean, k=org.smoothing_k
        )
        target = tp.target if tp.target is not None else journey.target
        is_last = tp.pk == last_id
        results.append(
            TouchPointResult(
                touch_point=tp,
                aggregate=agg,
                previous_mean=previous_means.get(tp.pk),
                stats=stats,
                target=target,
                status=formulas.status(
                    n=stats.n, smoothed=stats.smoothed, target=target, min_n=org.min_n
                ),
                priority=(
                    formulas.priority(
                        target=target,
                        smoothed=stats.smoothed,
                        importance=tp.importance,
                        is_last=is_last,
                    )
                    if stats.smoothed is not None
                    else None
                ),
                is_last=is_last,
            )
        )
    return JourneyResult(
        window=window,
        prior=prior,
        touch_points=results,
        score=formulas.journey_score(
            [(r.stats.smoothed, float(r.touch_point.importance)) for r in results]
        ),
    )


@dataclass(frozen=True)
class TouchPointDetail:
    """What a touch point's page shows beyond its headline: `fields` are the JSON-ready
    breakdown columns of TouchPointScore, `weeks` its weekly series (oldest first)."""

    fields: dict[str, Any]
    weeks: list[formulas.WeekPoint]


def touch_point_details(
    touch_points: Sequence[TouchPoint], window: sql.Window, *, min_n: int
) -> dict[int, TouchPointDetail]:
    """Per touch point: criteria means, splits by source and site, the perception gap and
    the TREND_WEEKS weekly series ending with the window (same site and source filters).
    Six queries however many touch points."""
    ids = [tp.pk for tp in touch_points]
    if not ids:
        return {}
    breakdowns = sql.breakdowns(window, ids)
    by_week = sql.weekly(trend_window(window), ids)
    empty = trend_weeks(window)
    criteria_by_tp: dict[int, list[_CriterionRow]] = {}
    for tp_id, *row in _criteria(ids):
        criteria_by_tp.setdefault(tp_id, []).append(_CriterionRow(*row))
    site_ids = {sid for b in breakdowns.values() for sid in b.by_site if sid}
    site_names = (
        dict(Site.objects.filter(pk__in=site_ids).values_list("pk", "name")) if site_ids else {}
    )
    details = {}
    for pk in ids:
        details[pk] = TouchPointDetail(
            fields=_breakdown_fields(breakdowns[pk], criteria_by_tp.get(pk, []), site_names, min_n),
            weeks=fill_weeks(empty, by_week.get(pk, {})),
        )
    return details


class _CriterionRow(NamedTuple):
    """What a breakdown shows of a criterion: its current rubric's kind, weight, critical."""

    id: int
    name: str
    kind: str
    weight: float
    critical: bool
    archived: bool


def _criteria(touch_point_ids: Sequence[int]) -> list[tuple[Any, ...]]:
    """(touch point id, *_CriterionRow) of these touch points' criteria, in the order the page
    lists them. In SQL rather than the ORM: every recompute reads them, and building the
    query and the model instances cost five times the Python of the rows themselves."""
    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT c.touch_point_id, c.id, c.name, v.kind, v.weight, v.critical,
                   c.archived_at IS NOT NULL
            FROM touchpoints_criterion c
            JOIN touchpoints_criterionversion v ON v.id = c.current_version_id
            WHERE c.touch_point_id = ANY(%s)
            ORDER BY c.archived_at, c.position, c.id
            """,
            [list(touch_point_ids)],
        )
        return list(cursor.fetchall())


def _breakdown_fields(
    b: sql.Breakdown,
    criteria: list[_CriterionRow],
    site_names: dict[int, str],
    min_n: int,
) -> dict[str, Any]:
    internal = formulas.pooled(
        [
            (b.by_source[s].n, b.by_source[s].mean)
            for s in formulas.INTERNAL_SOURCES
            if s in b.by_source
        ]
    )
    customer = formulas.pooled(
        [
            (b.by_source[s].n, b.by_source[s].mean)
            for s in formulas.CUSTOMER_SOURCES
            if s in b.by_source
        ]
    )
    return {
        "perception_gap": formulas.perception_gap_from_pooled(
            internal=internal, customer=customer, min_n=min_n
        ),
        "criteria": [
            {
                "criterion_id": c.id,
                "name": c.name,
                "kind": c.kind,
                "weight": c.weight,
                "critical": c.critical,
                "archived": c.archived,
                "n": b.criteria.get(c.id, (0, None))[0],
                "mean": b.criteria.get(c.id, (0, None))[1],
            }
            for c in criteria
            if not c.archived or c.id in b.criteria
        ],
        "by_source": [
            {"source": value, "label": str(label), "n": agg.n, "mean": agg.mean, "sd": agg.sd}
            for value, label in Source.choices
            for agg in [b.by_source.get(value, sql.EMPTY)]
        ],
        "by_site": sorted(
            (
                {
                    "site_id": site_id,
                    "name": site_names.get(site_id, "No site") if site_id else "No site",
                    "n": agg.n,
                    "mean": agg.mean,
                    "sd": agg.sd,
                }
                for site_id, agg in b.by_site.items()
            ),
            key=lambda row: (row["site_id"] is None, row["name"]),
        ),
    }


# --- Writing snapshots ---------------------------------------------------------------------------

# The snapshot columns every recompute writes, per touch point, with their SQL array types;
# the breakdown columns follow only for touch points whose breakdown was computed.
_HEADLINE = (
    ("n", "int"),
    ("n_unscored", "int"),
    ("evaluations_count", "int"),
    ("latest_submitted_at", "timestamptz"),
    ("mean", "float8"),
    ("sd", "float8"),
    ("ci_low", "float8"),
    ("ci_high", "float8"),
    ("smoothed", "float8"),
    ("target", "float8"),
    ("status", "text"),
    ("priority", "float8"),
    ("previous_mean", "float8"),
    ("trend_change", "float8"),
    ("is_last", "bool"),
)
_BREAKDOWN = (
    ("perception_gap", "float8"),
    ("criteria", "jsonb"),
    ("by_source", "jsonb"),
    ("by_site", "jsonb"),
)
# The same for every row of a journey: passed once, not per row.
_COMMON = (
    "organization_id",
    "journey_id",
    "window_start",
    "window_end",
    "prior",
    "method_version",
    "computed_at",
)


def _headline(r: TouchPointResult) -> list[Any]:
    s = r.stats
    return [
        s.n,
        r.aggregate.evaluations - r.aggregate.n,
        r.aggregate.evaluations,
        r.aggregate.latest_submitted_at,
        s.mean,
        s.sd,
        s.ci_low,
        s.ci_high,
        s.smoothed,
        r.target,
        r.status,
        r.priority,
        r.previous_mean,
        r.trend_change,
        r.is_last,
    ]


def _record(fields: Sequence[tuple[str, str]]) -> str:
    """The column list of json_to_recordset for these snapshot fields."""
    return ", ".join(["touch_point_id bigint", *(f"{name} {kind}" for name, kind in fields)])


def _json(rows: list[dict[str, Any]]) -> str:
    """Rows as one JSON document: a single parameter for the whole batch, which psycopg
    passes on as it is (arrays of each column cost more Python than the SQL they feed).
    Floats keep every bit (repr); instants go as ISO 8601 with their offset."""
    return json.dumps(rows, default=lambda value: value.isoformat())


def _columns(rows: Sequence[Sequence[Any]]) -> list[list[Any]]:
    """Rows to columns, each passed as one array parameter (unnest turns them back)."""
    return [list(column) for column in zip(*rows, strict=True)]


def _write_snapshots(
    journey: Journey,
    result: JourneyResult,
    details: Mapping[int, TouchPointDetail],
    *,
    now: datetime,
    before: tuple[dict[int, str], float | None] | None = None,
    stored: Mapping[int, Sequence[Any]] | None = None,
) -> None:
    """Write the journey's snapshot rows: every touch point's headline, the breakdowns in
    `details`, their weekly series and the journey's row, in one statement each.
    `before`: the stored statuses and journey score, if the caller has read them.
    `stored`: the stored prior and headline (_STORED) by touch point, if the caller has
    read them: a row without a breakdown to write whose figures are all the same is left
    as it is (its computed_at and generation then say when its figures last changed).
    Weekly rows are rewritten only where a figure changed."""
    transitions.record(journey, result, now=now, before=before)  # before the overwrite
    common: list[Any] = [
        journey.organization_id,
        journey.pk,
        result.window.since,
        result.window.until,
        result.prior.mean,
        formulas.METHOD_VERSION,
        now,
    ]
    detailed = [r for r in result.touch_points if r.touch_point.pk in details]
    if detailed:
        fields = [*_HEADLINE, *_BREAKDOWN]
        names = [name for name, _ in fields]
        rows = [
            dict(
                zip(
                    ["touch_point_id", *names],
                    [
                        r.touch_point.pk,
                        *_headline(r),
                        *(details[r.touch_point.pk].fields[name] for name, _ in _BREAKDOWN),
                    ],
                    strict=True,
                )
            )
            for r in detailed
        ]
        with connection.cursor() as cursor:
            cursor.execute(
                f"""
                INSERT INTO scoring_touchpointscore AS s
                    (touch_point_id, {", ".join(_COMMON)}, generation, {", ".join(names)})
                SELECT u.touch_point_id, {", ".join(["%s"] * len(_COMMON))}, 1,
                       {", ".join(f"u.{name}" for name in names)}
                FROM json_to_recordset(%s::json) AS u({_record(fields)})
                ON CONFLICT (touch_point_id) DO UPDATE SET
                    {", ".join(f"{c} = EXCLUDED.{c}" for c in [*_COMMON, *names])},
                    generation = s.generation + 1
                """,  # noqa: S608  (column names are constants; values are parameters)
                [*common, _json(rows)],
            )
    rest = [
        r
        for r in result.touch_points
        if r.touch_point.pk not in details
        and (
            stored is None or tuple(stored[r.touch_point.pk]) != (result.prior.mean, *_headline(r))
        )
    ]
    if rest:
        # Rows that exist already (the per-touch-point recompute checked): headline only.
        names = [name for name, _ in _HEADLINE]
        rows = [
            dict(zip(["touch_point_id", *names], [r.touch_point.pk, *_headline(r)], strict=True))
            for r in rest
        ]
        with connection.cursor() as cursor:
            cursor.execute(
                f"""
                UPDATE scoring_touchpointscore AS s SET
                    {", ".join(f"{c} = %s" for c in _COMMON)},
                    {", ".join(f"{name} = u.{name}" for name in names)},
                    generation = s.generation + 1
                FROM json_to_recordset(%s::json) AS u({_record(_HEADLINE)})
                WHERE s.touch_point_id = u.touch_point_id
                """,  # noqa: S608
                [*common, _json(rows)],
            )
    weeks = [[tp_id, w.week_start, w.n, w.mean] for tp_id, d in details.items() for w in d.weeks]
    if weeks:
        with connection.cursor() as cursor:
            cursor.execute(
                """
                INSERT INTO scoring_weeklyscore AS w
                    (touch_point_id, week_start, n, mean, computed_at)
                SELECT u.*, %s FROM unnest(%s::bigint[], %s::date[], %s::int[], %s::float8[])
                     AS u(touch_point_id, week_start, n, mean)
                ON CONFLICT (touch_point_id, week_start) DO UPDATE SET
                    n = EXCLUDED.n, mean = EXCLUDED.mean, computed_at = EXCLUDED.computed_at
                WHERE (w.n, w.mean) IS DISTINCT FROM (EXCLUDED.n, EXCLUDED.mean)
                """,
                [now, *_columns(weeks)],
            )
    with connection.cursor() as cursor:
        cursor.execute(
            """
            INSERT INTO scoring_journeyscore
                (journey_id, organization_id, window_start, window_end, score, n, prior,
                 computed_at)
            VALUES (%s, %s, %s, %s, %s, %s, %s, %s)
            ON CONFLICT (journey_id) DO UPDATE SET
                organization_id = EXCLUDED.organization_id,
                window_start = EXCLUDED.window_start, window_end = EXCLUDED.window_end,
                score = EXCLUDED.score, n = EXCLUDED.n, prior = EXCLUDED.prior,
                computed_at = EXCLUDED.computed_at
            """,
            [
                journey.pk,
                journey.organization_id,
                result.window.since,
                result.window.until,
                result.score,
                result.prior.n,
                result.prior.mean,
                now,
            ],
        )


def _write_journey(journey: Journey, *, now: datetime) -> None:
    """The recompute from scratch: every touch point's headline and breakdown."""
    org = journey.organization
    window = default_window(org.window_days, now)
    touch_points = list(map_touch_points(journey.pk))
    result = score_journey(journey, window, touch_points)
    details = touch_point_details(touch_points, window, min_n=org.min_n)
    _write_snapshots(journey, result, details, now=now)
    # Archived touch points leave the map, and their snapshot with them.
    TouchPointScore.objects.filter(journey=journey).exclude(
        touch_point_id__in=[tp.pk for tp in touch_points]
    ).delete()


# What the per-touch-point recompute reads of each stored snapshot row: the prior and the
# headline, in _headline's order, to take a touch point's figures from (and to leave a row
# as it is when none of them moved).
_STORED = ("prior", *(name for name, _ in _HEADLINE))
_AGGREGATE = tuple(
    _STORED.index(name) for name in ("n", "mean", "sd", "evaluations_count", "latest_submitted_at")
)


def _write_changed(journey: Journey, *, stale: set[int], now: datetime) -> list[int] | None:
    """The per-touch-point recompute: re-read the stale touch points (and any off the map),
    take every other touch point's figures from its stored snapshot, and rewrite the
    journey's headline figures and the stale touch points' breakdowns. Returns the touch
    points re-read, or None, having written nothing, when the stored snapshots cannot
    stand in for a read (no snapshot yet, the window moved on, the map differs, another
    method version): the caller then recomputes from scratch."""
    org = journey.organization
    window = default_window(org.window_days, now)
    # The whole journey in one query, in map order; those off the map are only re-read.
    every = list(journey_touch_points(journey.pk))
    touch_points = [tp for tp in every if tp.is_on_map]
    on_map = {tp.pk for tp in touch_points}
    with connection.cursor() as cursor:
        # Each stored row with its journey's: whether both are of this window (and method),
        # compared where they are stored, and the journey score (for its transitions).
        cursor.execute(
            f"""
            SELECT s.touch_point_id,
                   s.window_start = %s AND s.window_end = %s AND s.method_version = %s
                   AND j.window_start = s.window_start AND j.window_end = s.window_end,
                   j.score, {", ".join(f"s.{name}" for name in _STORED)}
            FROM scoring_touchpointscore s JOIN scoring_journeyscore j USING (journey_id)
            WHERE s.journey_id = %s
            """,  # noqa: S608  (column names are constants; values are parameters)
            [window.since, window.until, formulas.METHOD_VERSION, journey.pk],
        )
        rows = cursor.fetchall()
    stored = {row[0]: row[3:] for row in rows}
    if not rows or set(stored) != on_map or not all(row[1] for row in rows):
        return None
    off_map = [tp.pk for tp in every if tp.pk not in on_map]
    reread = sorted((stale & on_map) | set(off_map))
    current: dict[int, sql.Aggregate] = {}
    previous: dict[int, float | None] = {}
    previous_at = _STORED.index("previous_mean")
    for pk, figures in stored.items():
        if pk not in reread:
            current[pk] = sql.Aggregate(*(figures[i] for i in _AGGREGATE))
            previous[pk] = figures[previous_at]
    if reread:
        read = sql.touch_point_aggregates([window, window.previous()], touch_point_ids=reread)
        for (w, tp, _), agg in read.items():
            if w == 0:
                current[tp] = agg
            else:
                previous[tp] = agg.mean
    result = _assemble(
        journey,
        window,
        touch_points,
        current,
        previous,
        [current[pk] for pk in off_map if pk in current],
    )
    details = touch_point_details(
        [tp for tp in touch_points if tp.pk in stale], window, min_n=org.min_n
    )
    status_at = _STORED.index("status")
    before = ({pk: figures[status_at] for pk, figures in stored.items()}, rows[0][2])
    _write_snapshots(journey, result, details, now=now, before=before, stored=stored)
    return reread


# --- Sweep and full recompute -------------------------------------------------------------------


def sweep_stale() -> int:
    """Re-queue every journey with a touch point or journey mark older than the debounce (a
    lost message, a broker outage, a killed worker), and journeys whose window has moved on. Returns how
    many recomputes were queued."""
    grace = timezone.now() - timedelta(seconds=settings.SCORING_DEBOUNCE_SECONDS + 5)
    journeys = set(
        StaleMark.objects.values("touch_point__journey_id")
        .annotate(first=Min("marked_at"))
        .filter(first__lt=grace)
        .values_list("touch_point__journey_id", flat=True)
    ) | set(
        JourneyStaleMark.objects.filter(marked_at__lt=grace).values_list("journey_id", flat=True)
    )
    # The window slides even when nobody evaluates: snapshots older than this are redone.
    stale = set(journeys)
    old = timezone.now() - timedelta(seconds=settings.SCORING_REFRESH_SECONDS)
    expired = set(
        JourneyScore.objects.filter(computed_at__lt=old).values_list("journey_id", flat=True)
    )
    for journey_id in sorted(stale | expired):
        broker.send_task(
            RECOMPUTE_JOURNEY, args=(journey_id,), kwargs={"full": journey_id in expired}
        )
    return len(stale | expired)


def recompute_all(
    *,
    organization_id: int | None = None,
    rescore: bool = False,
    progress: Callable[[int, int], None] | None = None,
) -> int:
    """Recompute every journey's snapshots (after a change of method, use rescore=True to
    re-derive every stored answer and evaluation score first). Returns journeys done."""
    journeys = Journey.objects.order_by("pk")
    if organization_id is not None:
        journeys = journeys.filter(organization_id=organization_id)
    ids = list(journeys.values_list("pk", flat=True))
    for done, journey_id in enumerate(ids, start=1):
        if rescore:
            with transaction.atomic():
                sql.rescore_journey(journey_id)
        recompute_journey(journey_id, full=True)
        if progress:
            progress(done, len(ids))
    return len(ids)


def scoring_status() -> dict[str, Any]:
    """What operators want to know: how far behind are the scores, is the queue draining,
    and are the sweep and the workers alive?

    The database figures always come; the broker's (queue length, last sweep, worker
    heartbeat) are None with `broker_error` saying why when it does not answer within
    its 1 s timeouts, because this is what one runs while something is wrong.
    """
    now = time.time()

    def age(moment: float | None) -> float | None:
        return None if moment is None else round(max(now - moment, 0.0), 1)

    def at(moment: float | None) -> datetime | None:
        return None if moment is None else datetime.fromtimestamp(moment, tz=UTC)

    oldest = min(
        (
            moment
            for moment in (
                StaleMark.objects.aggregate(oldest=Min("marked_at"))["oldest"],
                JourneyStaleMark.objects.aggregate(oldest=Min("marked_at"))["oldest"],
            )
            if moment is not None
        ),
        default=None,
    )
    # Every recompute writes its journey's row, so the newest row is the last recompute.
    last_computed = JourneyScore.objects.aggregate(last=Max("computed_at"))["last"]
    queue = str(settings.CELERY_TASK_DEFAULT_QUEUE)
    status: dict[str, Any] = {
        "stale_touch_points": StaleMark.objects.values("touch_point_id").distinct().count(),
        # Journeys whose map or scoring settings changed (core.map_changes).
        "stale_journeys": JourneyStaleMark.objects.values("journey_id").distinct().count(),
        "oldest_stale_seconds": age(oldest.timestamp()) if oldest else None,
        "last_computed_at": last_computed,
        "last_computed_seconds": age(last_computed.timestamp()) if last_computed else None,
        "queue": queue,
        "queue_length": None,
        "last_sweep_at": None,
        "last_sweep_seconds": None,
        "worker_heartbeat_seconds": None,
        "broker_error": None,
    }
    try:
        client = broker_redis()
        # Messages no worker has taken yet; those a worker holds (ETA, prefetch) are not here.
        length = int(client.llen(queue))
        raw_sweep = client.get(LAST_SWEEP_KEY)
        beat = heartbeat.last_heartbeat()
    except redis.RedisError as error:
        log.warning("scoring_status: the broker did not answer: %s", error)
        status["broker_error"] = "The broker did not answer."
        return status
    sweep = None if raw_sweep is None else float(raw_sweep)
    status.update(
        queue_length=length,
        last_sweep_at=at(sweep),
        last_sweep_seconds=age(sweep),
        worker_heartbeat_seconds=age(beat),
    )
    return status
