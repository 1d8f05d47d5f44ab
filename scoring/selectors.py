"""What the journey map, the touch-point page, the API and exports read about scores.

Typed results, no HTTP. Without a window, site or source every function reads only the
snapshots the workers write, in a fixed number of queries however large the journey.
With any of them the same figures are computed on demand from the rollups by the very
functions the snapshot writer calls (services.score_journey, services.touch_point_details),
so asking on demand for a snapshot's own window gives the snapshot's numbers.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from django.core.exceptions import ValidationError
from django.db.models import (
    BooleanField,
    Exists,
    ExpressionWrapper,
    F,
    Min,
    OuterRef,
    Q,
    QuerySet,
)
from django.utils import timezone

from accounts.models import Organization
from core.models import JourneyStaleMark
from core.text import not_found
from journeys.models import Journey, JourneyStatus
from scoring import formulas, services, sql
from scoring.models import JourneyScore, StaleMark, TouchPointScore, WeeklyScore
from touchpoints.models import Criterion, Site, Source, TouchPoint, on_map_q

__all__ = [
    "DEFAULT_WEAK_LINKS",
    "DOWN",
    "MAX_SPAN_DAYS",
    "MAX_WEAK_LINKS",
    "ON_DEMAND",
    "SNAPSHOT",
    "STEADY",
    "TREND_STEADY_BAND",
    "UP",
    "BlindSpot",
    "CriterionMean",
    "JourneyRef",
    "JourneyScores",
    "OrganizationWeakLinks",
    "Perception",
    "Period",
    "ScoreFilters",
    "SiteSplit",
    "SourceSplit",
    "StageRef",
    "TouchPointRow",
    "TouchPointScores",
    "Trend",
    "WeakLinkRow",
    "journey_scores",
    "journeys_scores",
    "journeys_weeks",
    "organization_weak_links",
    "parse_instant",
    "score_filters",
    "touch_point_scores",
    "trend_direction",
]

#: A change against the previous window smaller than this (in score points) reads as
#: steady: a point or so moves with every handful of evaluations.
TREND_STEADY_BAND = 1.0
UP, DOWN, STEADY = "up", "down", "steady"

#: Where the figures come from: the workers' snapshot, or computed for this request.
SNAPSHOT, ON_DEMAND = "snapshot", "on_demand"

#: The longest window an on-demand read may span: a year of rollups stays cheap to merge.
MAX_SPAN_DAYS = 366
DEFAULT_WEAK_LINKS = 10
MAX_WEAK_LINKS = 100
#: Instants outside these are typos; near datetime's own limits, window arithmetic overflows.
EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
LATEST = datetime(3000, 1, 1, tzinfo=UTC)


# --- Filters -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Period:
    """Evaluations observed in [since, until)."""

    since: datetime
    until: datetime

    def __post_init__(self) -> None:
        if timezone.is_naive(self.since) or timezone.is_naive(self.until):
            raise ValueError("a period needs timezone-aware datetimes")

    @property
    def last_instant(self) -> datetime:
        """The last moment inside the period: what a page names as its last day (`until`
        is the next day's midnight for a whole-day window)."""
        return self.until - timedelta(microseconds=1)


@dataclass(frozen=True)
class ScoreFilters:
    """A validated request for scores: all None reads the snapshot (the default window)."""

    window: Period | None = None
    site: Site | None = None
    source: str | None = None

    @property
    def is_default(self) -> bool:
        return self.window is None and self.site is None and self.source is None


def parse_instant(text: str, *, end_of_day: bool = False) -> datetime:
    """An ISO 8601 date or date-time as an aware UTC datetime; ValueError if it is neither.

    A date alone means its start (midnight UTC), or with `end_of_day` the midnight after it,
    so `until=2026-03-31` includes the whole of 31 March. A date-time without an offset is
    taken as UTC.
    """
    text = text.strip()
    try:
        day = date.fromisoformat(text)
    except ValueError:
        moment = datetime.fromisoformat(text)
        return moment.replace(tzinfo=UTC) if timezone.is_naive(moment) else moment
    if len(text) != 10:  # fromisoformat also takes 20260331 and 2026-W13-2: not dates people send
        raise ValueError(f"{text!r} is not a YYYY-MM-DD date")
    start = datetime.combine(day, time(0), tzinfo=UTC)
    try:
        return start + timedelta(days=1) if end_of_day else start
    except OverflowError:
        raise ValueError(f"{text!r} is the last representable day") from None


def _in_range(moment: datetime) -> bool:
    try:
        return EARLIEST <= moment < LATEST
    except OverflowError:  # an offset that pushes it past datetime's limits
        return False


def score_filters(
    organization: Organization,
    *,
    since: datetime | None = None,
    until: datetime | None = None,
    site_id: int | None = None,
    source: str | None = None,
    now: datetime | None = None,
) -> ScoreFilters:
    """Check a request for scores and fill in what it left out, for the API and the pages
    alike: a missing `until` is now, a missing `since` is the organization's window before
    `until`. Raises ValidationError naming each bad field (since, until, site, source)."""
    errors: dict[str, list[str | ValidationError]] = {}
    for name, moment in (("since", since), ("until", until)):
        if moment is not None and not _in_range(moment):
            errors[name] = [f"Must be from {EARLIEST.year} to {LATEST.year - 1}."]
    window = None
    if (since is not None or until is not None) and not errors:
        end = until or now or timezone.now()
        start = since or end - timedelta(days=organization.window_days)
        if start >= end:
            errors["until"] = ["Must be later than since."]
        elif end - start > timedelta(days=MAX_SPAN_DAYS):
            errors["since"] = [f"The window may span at most {MAX_SPAN_DAYS} days."]
        else:
            window = Period(start, end)
    site = None
    if site_id is not None:
        site = Site.objects.for_organization(organization).filter(pk=site_id).first()
        if site is None:
            errors["site"] = [not_found("No such site.")]
    if source is not None and source not in Source.values:
        errors["source"] = [f"Must be one of {', '.join(Source.values)}."]
    if errors:
        raise ValidationError(errors)
    return ScoreFilters(window=window, site=site, source=source)


# --- Results -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class StageRef:
    id: int
    name: str
    position: int | None


@dataclass(frozen=True)
class JourneyRef:
    id: int
    name: str


@dataclass(frozen=True)
class Trend:
    """The mean against the same-length window just before."""

    change: float | None
    previous_mean: float | None
    direction: str | None  # UP, DOWN, STEADY, or None without both means


def trend_direction(change: float | None) -> str | None:
    if change is None:
        return None
    if change >= TREND_STEADY_BAND:
        return UP
    if change <= -TREND_STEADY_BAND:
        return DOWN
    return STEADY


@dataclass(frozen=True)
class TouchPointRow:
    """One touch point of the map with its scores over the window."""

    id: int
    name: str
    channel: str
    importance: int
    stage: StageRef
    evaluations: int  # in the window, scored or not
    n: int  # scored evaluations
    mean: float | None
    sd: float | None
    ci_low: float | None
    ci_high: float | None
    smoothed_score: float | None
    target: float
    status: str
    priority: float | None  # the weighted gap; None without data
    is_last: bool
    trend: Trend
    latest_submitted_at: datetime | None
    pending: bool  # evaluations arrived that the figures do not include yet

    @property
    def n_unscored(self) -> int:
        return self.evaluations - self.n


@dataclass(frozen=True)
class WeakLinkRow:
    rank: int
    touch_point_id: int
    name: str
    stage: StageRef
    journey: JourneyRef
    n: int
    smoothed_score: float
    target: float
    importance: int
    is_last: bool
    gap: float  # target - smoothed score
    weighted_gap: float  # gap x importance (x 1.5 for the last touch point): the priority
    pending: bool


@dataclass(frozen=True)
class BlindSpot:
    """A touch point with too few evaluations to call (n < the organization's min_n)."""

    touch_point_id: int
    name: str
    stage: StageRef
    n: int


@dataclass(frozen=True)
class JourneyScores:
    journey: JourneyRef
    basis: str  # SNAPSHOT or ON_DEMAND
    window: Period | None  # None before the first recompute
    site_id: int | None
    source: str | None
    score: float | None
    n: int  # scored evaluations of the journey (touch points since archived included)
    prior: float | None
    evaluations: int  # on the map's touch points, scored or not
    latest_submitted_at: datetime | None
    computed_at: datetime | None
    pending: bool
    touch_points: list[TouchPointRow]  # map order
    weak_links: list[WeakLinkRow]  # highest priority first
    blind_spots: list[BlindSpot]  # map order
    status_counts: dict[str, int]


@dataclass(frozen=True)
class CriterionMean:
    id: int
    name: str
    version: int
    kind: str
    weight: float
    critical: bool
    archived: bool
    n: int  # answers that applied
    mean: float | None


@dataclass(frozen=True)
class SourceSplit:
    source: str
    label: str
    n: int
    mean: float | None
    sd: float | None


@dataclass(frozen=True)
class SiteSplit:
    site_id: int | None  # None: evaluations made at no particular site
    name: str
    n: int
    mean: float | None
    sd: float | None


@dataclass(frozen=True)
class Perception:
    """Inside view against the customer's: `gap` only when each side has min_n scores."""

    internal_n: int
    internal_mean: float | None
    customer_n: int
    customer_mean: float | None
    min_n: int
    gap: float | None


@dataclass(frozen=True)
class TouchPointScores:
    journey: JourneyRef
    touch_point: TouchPointRow
    basis: str
    window: Period | None
    site_id: int | None
    source: str | None
    prior: float | None
    computed_at: datetime | None
    pending: bool
    criteria: list[CriterionMean]
    by_source: list[SourceSplit]
    by_site: list[SiteSplit]
    perception: Perception
    weeks: list[formulas.WeekPoint]  # TREND_WEEKS weeks, oldest first


@dataclass(frozen=True)
class OrganizationWeakLinks:
    basis: str
    window: Period | None  # on demand only: snapshots each have their own
    site_id: int | None
    source: str | None
    computed_at: datetime | None  # the oldest snapshot read: every figure is at least this fresh
    pending: bool
    weak_links: list[WeakLinkRow]


# --- Journey -------------------------------------------------------------------------------------


def journey_scores(
    journey: Journey,
    *,
    window: Period | None = None,
    site: Site | int | None = None,
    source: str | None = None,
) -> JourneyScores:
    """The journey score and every touch point on its map, with weak links and blind spots.

    No filters: the snapshot, in two queries whatever the size of the journey. Otherwise
    computed now over `window` (default: the organization's window ending now).
    """
    if window is None and site is None and source is None:
        (scores,) = journeys_scores([journey])
        return scores
    result = services.score_journey(
        journey,
        _window(journey.organization, window, site, source),
        list(services.map_touch_points(journey.pk)),
    )
    rows = [_row_from_result(r) for r in result.touch_points]
    return _journey(
        journey,
        rows,
        basis=ON_DEMAND,
        window=Period(result.window.since, result.window.until),
        site_id=result.window.site_id,
        source=result.window.source,
        score=result.score,
        n=result.prior.n,
        prior=result.prior.mean,
        computed_at=timezone.now(),
        pending=False,
    )


# What _snapshot_row reads of a touch point, its stage and its snapshot: all a map row
# shows. Loading no more halves the Python of rendering a map (each snapshot row's
# breakdowns are JSON, most of its bytes; every other column is one more value to convert).
_MAP_ROW = (
    "journey_id",
    "stage_id",
    "name",
    "channel",
    "importance",
    "target",
    "stage__name",
    "stage__position",
    *(
        f"score__{name}"
        for name in (
            "evaluations_count",
            "n",
            "mean",
            "sd",
            "ci_low",
            "ci_high",
            "smoothed",
            "target",
            "status",
            "priority",
            "is_last",
            "trend_change",
            "previous_mean",
            "latest_submitted_at",
        )
    ),
)


def journeys_scores(journeys: Sequence[Journey]) -> list[JourneyScores]:
    """journey_scores of each journey (its snapshot), in two queries for all of them: for
    pages that list journeys with their scores."""
    if not journeys:
        return []
    ids = [journey.pk for journey in journeys]
    snapshots = {s.journey_id: s for s in JourneyScore.objects.filter(journey_id__in=ids)}
    maps: dict[int, list[Any]] = {pk: [] for pk in ids}
    touch_points = services.map_touch_points(*ids).select_related("score").only(*_MAP_ROW)
    for tp in _with_pending(touch_points):
        maps[tp.journey_id].append(tp)
    return [
        _journey_from_snapshot(journey, snapshots.get(journey.pk), maps[journey.pk])
        for journey in journeys
    ]


def _journey_from_snapshot(
    journey: Journey, snapshot: JourneyScore | None, touch_points: list[Any]
) -> JourneyScores:
    """`touch_points`: the map, each with its score (select_related) and `is_pending`."""
    rows = [_row_from_snapshot(tp, journey_target=journey.target) for tp in touch_points]
    return _journey(
        journey,
        rows,
        basis=SNAPSHOT,
        window=Period(snapshot.window_start, snapshot.window_end) if snapshot else None,
        site_id=None,
        source=None,
        score=snapshot.score if snapshot else None,
        n=snapshot.n if snapshot else 0,
        prior=snapshot.prior if snapshot else None,
        computed_at=snapshot.computed_at if snapshot else None,
        # Pending means evaluations wait for a recompute (a stale mark), not "never scored":
        # a journey nobody has evaluated yet has nothing to wait for.
        pending=any(row.pending for row in rows),
    )


def status_counts(rows: Iterable[TouchPointRow]) -> dict[str, int]:
    """How many touch points have each status (every status present, 0 or more)."""
    counts = dict.fromkeys(
        (formulas.MEETS, formulas.AT_RISK, formulas.WEAK_LINK, formulas.INSUFFICIENT_DATA), 0
    )
    for row in rows:
        counts[row.status] += 1
    return counts


def _journey(
    journey: Journey,
    rows: list[TouchPointRow],
    *,
    basis: str,
    window: Period | None,
    site_id: int | None,
    source: str | None,
    score: float | None,
    n: int,
    prior: float | None,
    computed_at: datetime | None,
    pending: bool,
) -> JourneyScores:
    """The one shape of a journey's scores, from its rows: snapshot and on-demand reads
    both end here, so weak links, blind spots and status counts have one definition."""
    ref = JourneyRef(journey.pk, journey.name)
    latest = [row.latest_submitted_at for row in rows if row.latest_submitted_at]
    return JourneyScores(
        journey=ref,
        basis=basis,
        window=window,
        site_id=site_id,
        source=source,
        score=score,
        n=n,
        prior=prior,
        computed_at=computed_at,
        pending=pending,
        evaluations=sum(row.evaluations for row in rows),
        latest_submitted_at=max(latest, default=None),
        touch_points=rows,
        weak_links=_weak_links([(ref, row) for row in rows]),
        # Insufficient data is exactly n < min_n (min_n >= 1, so n = 0 is included).
        blind_spots=[
            BlindSpot(row.id, row.name, row.stage, row.n)
            for row in rows
            if row.status == formulas.INSUFFICIENT_DATA
        ],
        status_counts=status_counts(rows),
    )


def _weak_links(rows: Iterable[tuple[JourneyRef, TouchPointRow]]) -> list[WeakLinkRow]:
    """Rows whose status is weak link, ranked by formulas.rank_by_priority. Rows arrive in
    map order (journeys by name, then id), so ties keep map order."""
    weak = formulas.rank_by_priority(
        [
            (journey, row, row.smoothed_score, row.priority)
            for journey, row in rows
            if row.status == formulas.WEAK_LINK
            and row.smoothed_score is not None
            and row.priority is not None
        ],
        priority=lambda item: item[3],
    )
    return [
        _weak_link_row(rank, journey, row, smoothed=smoothed, priority=priority)
        for rank, (journey, row, smoothed, priority) in enumerate(weak, 1)
    ]


def _weak_link_row(
    rank: int, journey: JourneyRef, row: TouchPointRow, *, smoothed: float, priority: float
) -> WeakLinkRow:
    return WeakLinkRow(
        rank=rank,
        touch_point_id=row.id,
        name=row.name,
        stage=row.stage,
        journey=journey,
        n=row.n,
        smoothed_score=smoothed,
        target=row.target,
        importance=row.importance,
        is_last=row.is_last,
        gap=row.target - smoothed,
        weighted_gap=priority,
        pending=row.pending,
    )


# --- Touch point ---------------------------------------------------------------------------------


def touch_point_scores(
    touch_point: TouchPoint,
    *,
    window: Period | None = None,
    site: Site | int | None = None,
    source: str | None = None,
) -> TouchPointScores | None:
    """A touch point's row of the map plus what its page shows: criteria means, splits by
    source and site, the perception gap and the weekly series. None if the touch point is
    off the map (archived, or in an archived stage): only the map is scored."""
    if not touch_point.is_on_map:
        return None
    journey = touch_point.journey
    organization = journey.organization
    if window is None and site is None and source is None:
        return _touch_point_from_snapshot(touch_point, organization)
    result = services.score_journey(
        journey,
        _window(organization, window, site, source),
        list(services.map_touch_points(journey.pk)),
    )
    (mine,) = [r for r in result.touch_points if r.touch_point.pk == touch_point.pk]
    detail = services.touch_point_details([touch_point], result.window, min_n=organization.min_n)[
        touch_point.pk
    ]
    return _touch_point(
        touch_point,
        _row_from_result(mine),
        detail.fields,
        detail.weeks,
        min_n=organization.min_n,
        basis=ON_DEMAND,
        window=Period(result.window.since, result.window.until),
        site_id=result.window.site_id,
        source=result.window.source,
        prior=result.prior.mean,
        computed_at=timezone.now(),
        pending=False,
    )


def _touch_point_from_snapshot(
    touch_point: TouchPoint, organization: Organization
) -> TouchPointScores:
    tp = (
        _with_pending(TouchPoint.objects.filter(pk=touch_point.pk))
        .select_related("stage", "score")
        # When its journey was last recomputed: every recompute of the journey checks each
        # touch point's figures, but rewrites (and dates) only the rows whose figures moved.
        .annotate(checked_at=F("journey__score__computed_at"))
        .get()
    )
    snapshot = _snapshot(tp)
    row = _row_from_snapshot(tp, journey_target=touch_point.journey.target)
    weeks: list[formulas.WeekPoint] = []
    if snapshot is not None:
        stored = {
            w.week_start: (w.n, w.mean)
            for w in WeeklyScore.objects.filter(
                touch_point_id=tp.pk,
                week_start__gte=services.trend_window(
                    sql.Window(snapshot.window_start, snapshot.window_end)
                ).since.date(),
            )
        }
        weeks = services.fill_weeks(
            services.trend_weeks(sql.Window(snapshot.window_start, snapshot.window_end)), stored
        )
    fields = (
        {
            "criteria": snapshot.criteria,
            "by_source": snapshot.by_source,
            "by_site": snapshot.by_site,
            "perception_gap": snapshot.perception_gap,
        }
        if snapshot
        else {}
    )
    return _touch_point(
        touch_point,
        row,
        fields,
        weeks,
        min_n=organization.min_n,
        basis=SNAPSHOT,
        window=Period(snapshot.window_start, snapshot.window_end) if snapshot else None,
        site_id=None,
        source=None,
        prior=snapshot.prior if snapshot else None,
        computed_at=(tp.checked_at or snapshot.computed_at) if snapshot else None,
        pending=row.pending,
    )


def _touch_point(
    touch_point: TouchPoint,
    row: TouchPointRow,
    fields: dict[str, Any],
    weeks: list[formulas.WeekPoint],
    *,
    min_n: int,
    basis: str,
    window: Period | None,
    site_id: int | None,
    source: str | None,
    prior: float | None,
    computed_at: datetime | None,
    pending: bool,
) -> TouchPointScores:
    """Shape the breakdown columns (a snapshot's, or services.touch_point_details' fields,
    which are the same JSON) into typed rows, with criteria names and versions as they are
    now."""
    by_source = [
        SourceSplit(s["source"], s["label"], s["n"], s["mean"], s["sd"])
        for s in fields.get("by_source", [])
    ]
    sides = {
        side: formulas.pooled((s.n, s.mean) for s in by_source if s.source in sources)
        for side, sources in (
            ("internal", formulas.INTERNAL_SOURCES),
            ("customer", formulas.CUSTOMER_SOURCES),
        )
    }
    journey = touch_point.journey
    return TouchPointScores(
        journey=JourneyRef(journey.pk, journey.name),
        touch_point=row,
        basis=basis,
        window=window,
        site_id=site_id,
        source=source,
        prior=prior,
        computed_at=computed_at,
        pending=pending,
        criteria=_criteria(touch_point.pk, fields.get("criteria", [])),
        by_source=by_source,
        by_site=[
            SiteSplit(s["site_id"], s["name"], s["n"], s["mean"], s["sd"])
            for s in fields.get("by_site", [])
        ],
        perception=Perception(
            internal_n=sides["internal"][0],
            internal_mean=sides["internal"][1],
            customer_n=sides["customer"][0],
            customer_mean=sides["customer"][1],
            min_n=min_n,
            gap=fields.get("perception_gap"),
        ),
        weeks=weeks,
    )


def _criteria(touch_point_id: int, measured: Sequence[dict[str, Any]]) -> list[CriterionMean]:
    """Every active criterion, and archived ones answered in the window, in form order."""
    means = {m["criterion_id"]: (m["n"], m["mean"]) for m in measured}
    return [
        CriterionMean(
            id=c.pk,
            name=c.name,
            version=c.rubric.number,
            kind=c.rubric.kind,
            weight=c.rubric.weight,
            critical=c.rubric.critical,
            archived=c.is_archived,
            n=means.get(c.pk, (0, None))[0],
            mean=means.get(c.pk, (0, None))[1],
        )
        for c in Criterion.objects.filter(touch_point_id=touch_point_id)
        .select_related("current_version")
        .order_by("archived_at", "position", "id")
        if not c.is_archived or c.pk in means
    ]


# --- Organization --------------------------------------------------------------------------------


def organization_weak_links(
    organization: Organization,
    *,
    limit: int = DEFAULT_WEAK_LINKS,
    window: Period | None = None,
    site: Site | int | None = None,
    source: str | None = None,
) -> OrganizationWeakLinks:
    """The weakest links across every active journey, highest priority first (priorities
    share one scale: score points times importance). `limit` is clamped to 1..MAX_WEAK_LINKS.

    No filters: three queries over the snapshots. Otherwise each active journey is scored
    on demand (three queries per journey)."""
    limit = max(1, min(limit, MAX_WEAK_LINKS))
    journeys = Journey.objects.for_organization(organization).filter(status=JourneyStatus.ACTIVE)
    if window is None and site is None and source is None:
        return _organization_from_snapshots(organization, journeys, limit)
    candidates: list[tuple[JourneyRef, TouchPointRow]] = []
    sql_window = _window(organization, window, site, source)
    for journey in journeys.order_by("name", "id"):
        journey.organization = organization
        result = services.score_journey(
            journey, sql_window, list(services.map_touch_points(journey.pk))
        )
        ref = JourneyRef(journey.pk, journey.name)
        candidates += [(ref, _row_from_result(r)) for r in result.touch_points]
    return OrganizationWeakLinks(
        basis=ON_DEMAND,
        window=Period(sql_window.since, sql_window.until),
        site_id=sql_window.site_id,
        source=sql_window.source,
        computed_at=timezone.now(),
        pending=False,
        weak_links=_weak_links(candidates)[:limit],
    )


def _organization_from_snapshots(
    organization: Organization, journeys: QuerySet[Journey], limit: int
) -> OrganizationWeakLinks:
    # Map order (journeys by name, then id), as the on-demand read visits them; the
    # ranking itself is _weak_links', the same for both.
    snapshots = (
        TouchPointScore.objects.for_organization(organization)
        .filter(
            on_map_q("touch_point__"),
            journey__in=journeys,
            status=formulas.WEAK_LINK,
            priority__isnull=False,
        )
        .select_related("touch_point__stage", "journey")
        .annotate(is_pending=_pending("touch_point_id", "journey_id"))
        .order_by(
            "journey__name", "journey_id", "touch_point__stage__position", "touch_point__position"
        )
    )
    weak = _weak_links(
        (
            JourneyRef(s.journey_id, s.journey.name),
            _snapshot_row(s.touch_point, s, journey_target=s.target, pending=s.is_pending),
        )
        for s in snapshots
    )[:limit]
    freshness = JourneyScore.objects.filter(journey__in=journeys).aggregate(
        oldest=Min("computed_at")
    )
    pending = (
        StaleMark.objects.filter(
            touch_point__journey__in=journeys, touch_point__archived_at__isnull=True
        ).exists()
        or JourneyStaleMark.objects.filter(journey_id__in=journeys.values("pk")).exists()
    )
    return OrganizationWeakLinks(
        basis=SNAPSHOT,
        window=None,
        site_id=None,
        source=None,
        computed_at=freshness["oldest"],
        pending=pending,
        weak_links=weak,
    )


# --- Journey trend -------------------------------------------------------------------------------


def journeys_weeks(
    journeys: Sequence[Journey],
    *,
    window: Period | None = None,
    site: Site | int | None = None,
    source: str | None = None,
) -> dict[int, list[formulas.WeekPoint]]:
    """Per journey: n and mean of all its scored evaluations per ISO week, for the
    TREND_WEEKS weeks ending with the window (default: now), oldest first, empty weeks
    included, with the same filters as the scores. One query for all the journeys."""
    if not journeys:
        return {}
    sql_window = services.trend_window(_window(journeys[0].organization, window, site, source))
    by_week = sql.weekly_by_journey(sql_window, [journey.pk for journey in journeys])
    empty = services.trend_weeks(sql_window)
    per_journey: dict[int, dict[date, tuple[int, float | None]]] = {}
    for (journey_id, week), figures in by_week.items():
        per_journey.setdefault(journey_id, {})[week] = figures
    return {
        journey.pk: services.fill_weeks(empty, per_journey.get(journey.pk, {}))
        for journey in journeys
    }


# --- Rows ----------------------------------------------------------------------------------------


def _window(
    organization: Organization, window: Period | None, site: Site | int | None, source: str | None
) -> sql.Window:
    if window is None:  # the snapshot's window (whole days, today included)
        default = services.default_window(organization.window_days, timezone.now())
        window = Period(default.since, default.until)
    site_id = site.pk if isinstance(site, Site) else site
    return sql.Window(since=window.since, until=window.until, site_id=site_id, source=source)


def _pending(touch_point_ref: str, journey_ref: str) -> ExpressionWrapper[Q]:
    """Whether a recompute is due: the touch point has new evaluations (a StaleMark) or its
    journey's map or settings changed (a JourneyStaleMark, core.map_changes)."""
    return ExpressionWrapper(
        Exists(StaleMark.objects.filter(touch_point_id=OuterRef(touch_point_ref)))
        | Exists(JourneyStaleMark.objects.filter(journey_id=OuterRef(journey_ref))),
        output_field=BooleanField(),
    )


def _with_pending(touch_points: QuerySet[TouchPoint]) -> QuerySet[TouchPoint]:
    return touch_points.annotate(is_pending=_pending("pk", "journey_id"))


def _stage(touch_point: TouchPoint) -> StageRef:
    return StageRef(touch_point.stage_id, touch_point.stage.name, touch_point.stage.position)


def _snapshot(touch_point: TouchPoint) -> TouchPointScore | None:
    try:
        return touch_point.score
    except TouchPointScore.DoesNotExist:
        return None


def _row_from_snapshot(touch_point: Any, *, journey_target: float) -> TouchPointRow:
    """`touch_point` comes with its score (select_related) and `is_pending` annotated."""
    return _snapshot_row(
        touch_point,
        _snapshot(touch_point),
        journey_target=journey_target,
        pending=touch_point.is_pending,
    )


def _snapshot_row(
    tp: TouchPoint,
    s: TouchPointScore | None,
    *,
    journey_target: float,
    pending: bool,
) -> TouchPointRow:
    """A snapshot row as the map shows it. "Is last" comes from the snapshot, beside the
    priority it weighed, so the two never disagree (a later change of the map reads
    pending until the recompute)."""
    if s is None:  # on the map since the last recompute: nothing to show yet
        return TouchPointRow(
            id=tp.pk,
            name=tp.name,
            channel=tp.channel,
            importance=tp.importance,
            stage=_stage(tp),
            evaluations=0,
            n=0,
            mean=None,
            sd=None,
            ci_low=None,
            ci_high=None,
            smoothed_score=None,
            target=tp.target if tp.target is not None else journey_target,
            status=formulas.INSUFFICIENT_DATA,
            priority=None,
            is_last=False,  # nothing computed for it yet
            trend=Trend(None, None, None),
            latest_submitted_at=None,
            pending=pending,
        )
    return TouchPointRow(
        id=tp.pk,
        name=tp.name,
        channel=tp.channel,
        importance=tp.importance,
        stage=_stage(tp),
        evaluations=s.evaluations_count,
        n=s.n,
        mean=s.mean,
        sd=s.sd,
        ci_low=s.ci_low,
        ci_high=s.ci_high,
        smoothed_score=s.smoothed,
        target=s.target,
        status=s.status,
        priority=s.priority,
        is_last=s.is_last,
        trend=Trend(s.trend_change, s.previous_mean, trend_direction(s.trend_change)),
        latest_submitted_at=s.latest_submitted_at,
        pending=pending,
    )


def _row_from_result(r: services.TouchPointResult) -> TouchPointRow:
    tp = r.touch_point
    return TouchPointRow(
        id=tp.pk,
        name=tp.name,
        channel=tp.channel,
        importance=tp.importance,
        stage=_stage(tp),
        evaluations=r.aggregate.evaluations,
        n=r.stats.n,
        mean=r.stats.mean,
        sd=r.stats.sd,
        ci_low=r.stats.ci_low,
        ci_high=r.stats.ci_high,
        smoothed_score=r.stats.smoothed,
        target=r.target,
        status=r.status,
        priority=r.priority,
        is_last=r.is_last,
        trend=Trend(r.trend_change, r.previous_mean, trend_direction(r.trend_change)),
        latest_submitted_at=r.aggregate.latest_submitted_at,
        pending=False,
    )
