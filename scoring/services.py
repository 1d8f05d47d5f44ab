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

import logging
import os
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import redis
from django.conf import settings
from django.db import connection, transaction
from django.db.models import Max, Min, QuerySet
from django.utils import timezone

from core import broker
from core.broker import broker_redis
from core.models import JourneyStaleMark
from journeys.models import Journey
from scoring import formulas, heartbeat, sql
from scoring.models import JourneyScore, StaleMark, TouchPointScore, WeeklyScore
from touchpoints.models import Criterion, Site, Source, TouchPoint

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


def request_recompute(touch_point_ids: Iterable[int]) -> None:
    """Queue recomputes, debounced on the leading edge and never failing the caller.

    At most one recompute per touch point is pending at a time (a SET NX marker the task
    clears as it starts). A touch point that had no recompute in the last
    SCORING_DEBOUNCE_SECONDS is recomputed at once, so a single evaluation's score is
    fresh as soon as a worker has run it; one that did waits for the end of that window,
    and the delayed run opens the next window, so a burst of submissions costs one
    recompute per window plus the first. The stale marks are the real record: if Redis is
    down, the periodic sweep re-queues whatever was not sent.
    """
    debounce_ms = int(settings.SCORING_DEBOUNCE_SECONDS * 1000)
    try:
        client = broker_redis()
        for pk in touch_point_ids:
            key = PENDING_KEY.format(pk)
            if not client.set(key, 1, nx=True, ex=debounce_ms // 1000 + 60):
                continue  # one is already pending; it will cover this change
            window = WINDOW_KEY.format(pk)
            if client.set(window, 1, nx=True, px=debounce_ms):
                delay_ms = 0  # idle: the leading edge, now
            else:
                delay_ms = max(int(client.pttl(window)), 0)  # -2: it just ended
                client.set(window, 1, px=delay_ms + debounce_ms)
            try:
                broker.send_task(RECOMPUTE_TOUCH_POINT, args=(pk,), countdown=delay_ms / 1000)
            except Exception:
                client.delete(key)
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
    return sql.Window(since=now - timedelta(days=window_days), until=now)


def trend_window(window: sql.Window, weeks: int = TREND_WEEKS) -> sql.Window:
    """The `weeks` ISO weeks ending with the one that holds the window's end, keeping the
    window's site and source filters."""
    first = formulas.week_start(window.until) - timedelta(weeks=weeks - 1)
    since = datetime(first.year, first.month, first.day, tzinfo=UTC)
    return sql.Window(since=since, until=window.until, site_id=window.site_id, source=window.source)


# --- Recompute -----------------------------------------------------------------------------------


def recompute_touch_point(touch_point_id: int) -> bool:
    """Recompute the journey of a stale touch point. False if nothing was stale
    (another recompute already covered it) or the touch point is gone."""
    journey_id = (
        TouchPoint.objects.filter(pk=touch_point_id).values_list("journey_id", flat=True).first()
    )
    if journey_id is None:
        StaleMark.objects.filter(touch_point_id=touch_point_id).delete()
        return False
    return recompute_journey(journey_id, full=False)


def recompute_journey(journey_id: int, *, full: bool = True) -> bool:
    """Rewrite a journey's snapshots. With full=False only stale touch points get their
    breakdowns recomputed (every touch point's headline numbers always are)."""
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s, %s)", [SCORING_LOCK, journey_id])
        # Journey marks (core.map_changes: the map or the settings changed) ask for every
        # touch point's breakdown; touch point marks (new evaluations) for theirs.
        journey_marks = list(
            JourneyStaleMark.objects.filter(journey_id=journey_id).values_list("id", flat=True)
        )
        journey = Journey.objects.select_related("organization").filter(pk=journey_id).first()
        if journey is None:
            JourneyStaleMark.objects.filter(id__in=journey_marks).delete()
            return False
        marks = list(
            StaleMark.objects.filter(touch_point__journey_id=journey_id).values_list(
                "id", "touch_point_id"
            )
        )
        if not marks and not journey_marks and not full:
            return False
        _write_journey(
            journey,
            stale={tp for _, tp in marks},
            full=full or bool(journey_marks),
            now=timezone.now(),
        )
        _test_pause()
        StaleMark.objects.filter(id__in=[mark_id for mark_id, _ in marks]).delete()
        JourneyStaleMark.objects.filter(id__in=journey_marks).delete()
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


def map_touch_points(*journey_ids: int) -> QuerySet[TouchPoint]:
    """The touch points on these journeys' maps (neither they nor their stage archived), in
    map order: journey, then stage position, then position inside the stage."""
    return (
        TouchPoint.objects.filter(journey_id__in=journey_ids)
        .on_map()
        .select_related("stage")
        .order_by("journey_id", "stage__position", "position")
    )


@dataclass(frozen=True)
class TouchPointResult:
    """One touch point's headline numbers over a window (PRODUCT.md scores 3, 6 and 7)."""

    touch_point: TouchPoint
    aggregate: sql.Aggregate  # every evaluation in the window, scored or not, and the latest
    previous: sql.Aggregate  # the same-length window just before
    stats: formulas.TouchPointStats
    target: float
    status: str
    priority: float | None
    is_last: bool

    @property
    def trend_change(self) -> float | None:
        return formulas.trend_change(
            current_mean=self.aggregate.mean, previous_mean=self.previous.mean
        )


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
    """Every touch point's headline numbers and the journey score, from two GROUP BYs over
    the journey (its window and the one before, for the trend). Weak links, blind spots and
    status counts are read from these rows by scoring.selectors, for snapshots and on-demand
    reads alike.

    `touch_points` is the map (map_touch_points); the method's settings come from
    `journey.organization`. The snapshot writer and on-demand reads (another window, one
    site or one source) both call this, so a figure cannot mean two things.
    """
    org = journey.organization
    per_tp, prior = sql.journey_aggregates(journey.pk, window)
    previous, _ = sql.journey_aggregates(journey.pk, window.previous())
    # "Is last" is decided here only: the snapshot stores it beside the priority it weighs.
    last_id = touch_points[-1].pk if touch_points else None
    results = []
    for tp in touch_points:
        agg = per_tp.get(tp.pk, sql.EMPTY)
        stats = formulas.stats_from_aggregates(
            n=agg.n, mean=agg.mean, sd=agg.sd, prior=prior.mean, k=org.smoothing_k
        )
        target = tp.target if tp.target is not None else journey.target
        is_last = tp.pk == last_id
        results.append(
            TouchPointResult(
                touch_point=tp,
                aggregate=agg,
                previous=previous.get(tp.pk, sql.EMPTY),
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
    Names are looked up in two queries in all."""
    raw = {tp.pk: _measure(tp.pk, window) for tp in touch_points}
    criteria_by_tp: dict[int, list[Criterion]] = {}
    for criterion in (
        Criterion.objects.filter(touch_point__in=raw)
        .select_related("current_version")
        .order_by("archived_at", "position", "id")
    ):
        criteria_by_tp.setdefault(criterion.touch_point_id, []).append(criterion)
    site_ids = {sid for m in raw.values() for sid in m.breakdown.by_site if sid}
    site_names = dict(Site.objects.filter(pk__in=site_ids).values_list("pk", "name"))
    return {
        pk: TouchPointDetail(
            fields=_breakdown_fields(m, criteria_by_tp.get(pk, []), site_names, min_n),
            weeks=m.weeks,
        )
        for pk, m in raw.items()
    }


@dataclass(frozen=True)
class _Measured:
    breakdown: sql.Breakdown
    weeks: list[formulas.WeekPoint]


def _measure(touch_point_id: int, window: sql.Window) -> _Measured:
    by_week = sql.weekly(touch_point_id, trend_window(window))
    weeks = []
    for empty in formulas.weekly_trend([], until=window.until, weeks=TREND_WEEKS):
        n, mean = by_week.get(empty.week_start, (0, None))
        weeks.append(formulas.WeekPoint(week_start=empty.week_start, n=n, mean=mean))
    return _Measured(
        breakdown=sql.touch_point_breakdown(touch_point_id, window),
        weeks=weeks,
    )


def _breakdown_fields(
    measured: _Measured,
    criteria: list[Criterion],
    site_names: dict[int, str],
    min_n: int,
) -> dict[str, Any]:
    b = measured.breakdown
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
                "criterion_id": c.pk,
                "name": c.name,
                "kind": c.rubric.kind,
                "weight": c.rubric.weight,
                "critical": c.rubric.critical,
                "archived": c.is_archived,
                "n": b.criteria.get(c.pk, (0, None))[0],
                "mean": b.criteria.get(c.pk, (0, None))[1],
            }
            for c in criteria
            if not c.is_archived or c.pk in b.criteria
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

# Written on every recompute; the breakdown columns only for touch points that changed.
_HEADLINE_FIELDS = [
    "organization",
    "journey",
    "window_start",
    "window_end",
    "n",
    "n_unscored",
    "evaluations_count",
    "latest_submitted_at",
    "mean",
    "sd",
    "ci_low",
    "ci_high",
    "prior",
    "smoothed",
    "target",
    "status",
    "priority",
    "previous_mean",
    "trend_change",
    "is_last",
    "generation",
    "method_version",
    "computed_at",
]
_BREAKDOWN_FIELDS = [
    "perception_gap",
    "criteria",
    "by_source",
    "by_site",
]


def _write_journey(journey: Journey, *, stale: set[int], full: bool, now: datetime) -> None:
    org = journey.organization
    window = default_window(org.window_days, now)
    touch_points = list(map_touch_points(journey.pk))
    generations = dict(
        TouchPointScore.objects.filter(journey=journey).values_list("touch_point_id", "generation")
    )
    result = score_journey(journey, window, touch_points)
    details = touch_point_details(
        [tp for tp in touch_points if full or tp.pk in stale or tp.pk not in generations],
        window,
        min_n=org.min_n,
    )

    rows: list[TouchPointScore] = []
    for r in result.touch_points:
        tp = r.touch_point
        row = TouchPointScore(
            touch_point=tp,
            organization_id=org.pk,
            journey_id=journey.pk,
            window_start=window.since,
            window_end=window.until,
            n=r.stats.n,
            n_unscored=r.aggregate.evaluations - r.aggregate.n,
            evaluations_count=r.aggregate.evaluations,
            latest_submitted_at=r.aggregate.latest_submitted_at,
            mean=r.stats.mean,
            sd=r.stats.sd,
            ci_low=r.stats.ci_low,
            ci_high=r.stats.ci_high,
            prior=result.prior.mean,
            smoothed=r.stats.smoothed,
            target=r.target,
            status=r.status,
            priority=r.priority,
            previous_mean=r.previous.mean,
            trend_change=r.trend_change,
            is_last=r.is_last,
            generation=generations.get(tp.pk, 0) + 1,
            method_version=formulas.METHOD_VERSION,
            computed_at=now,
        )
        if tp.pk in details:
            for key, value in details[tp.pk].fields.items():
                setattr(row, key, value)
        rows.append(row)

    with_detail = [r for r in rows if r.touch_point_id in details]
    without_detail = [r for r in rows if r.touch_point_id not in details]
    if with_detail:
        TouchPointScore.objects.bulk_create(
            with_detail,
            update_conflicts=True,
            unique_fields=["touch_point"],
            update_fields=_HEADLINE_FIELDS + _BREAKDOWN_FIELDS,
        )
    if without_detail:
        TouchPointScore.objects.bulk_create(
            without_detail,
            update_conflicts=True,
            unique_fields=["touch_point"],
            update_fields=_HEADLINE_FIELDS,
        )
    # Archived touch points leave the map, and their snapshot with them.
    TouchPointScore.objects.filter(journey=journey).exclude(
        touch_point_id__in=[tp.pk for tp in touch_points]
    ).delete()
    WeeklyScore.objects.bulk_create(
        [
            WeeklyScore(
                touch_point_id=tp_id, week_start=w.week_start, n=w.n, mean=w.mean, computed_at=now
            )
            for tp_id, d in details.items()
            for w in d.weeks
        ],
        update_conflicts=True,
        unique_fields=["touch_point", "week_start"],
        update_fields=["n", "mean", "computed_at"],
    )
    _write_journey_score(journey, result, now=now)


def _write_journey_score(journey: Journey, result: JourneyResult, *, now: datetime) -> None:
    JourneyScore.objects.update_or_create(
        journey=journey,
        defaults={
            "organization_id": journey.organization_id,
            "window_start": result.window.since,
            "window_end": result.window.until,
            "score": result.score,
            "n": result.prior.n,
            "prior": result.prior.mean,
            "computed_at": now,
        },
    )


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
