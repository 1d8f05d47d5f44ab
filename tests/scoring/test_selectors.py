"""The read layer of scores: snapshots read in a fixed number of queries, on-demand figures
that equal the snapshot for its own window and the reference formulas for any filter."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
from django.core.exceptions import ValidationError
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from accounts.models import Organization, Role, User
from journeys.models import Journey, JourneyStatus
from scoring import formulas, selectors
from scoring.models import JourneyScore, StaleMark, TouchPointScore
from scoring.selectors import Period
from scoring.services import recompute_journey
from tests.factories import (
    CriterionFactory,
    JourneyFactory,
    MembershipFactory,
    OrganizationFactory,
    SiteFactory,
    StageFactory,
    TouchPointFactory,
)
from touchpoints.models import Criterion, Site, Source, TouchPoint
from touchpoints.services import (
    AnswerInput,
    EvaluationInput,
    archive_touch_point,
    create_touch_point,
    submit_evaluations,
    update_criterion,
)

TIGHT = 1e-9
# A 1..5 scale answer and the evaluation score it gives when it is the only criterion.
SCALE_SCORE = {1: 0.0, 2: 25.0, 3: 50.0, 4: 75.0, 5: 100.0}


def close(actual: float | None, expected: float | None) -> bool:
    if actual is None or expected is None:
        return actual is expected
    return math.isclose(actual, expected, rel_tol=0, abs_tol=TIGHT)


# ---------------------------------------------------------------------------
# Building journeys (shared with tests/api/test_scores_api.py)
# ---------------------------------------------------------------------------


@dataclass
class Given:
    org: Organization
    manager: User
    evaluator: User
    journey: Journey


def given_journey(org: Organization, *, target: float = 80.0) -> Given:
    return Given(
        org=org,
        manager=MembershipFactory(organization=org, role=Role.MANAGER).user,
        evaluator=MembershipFactory(organization=org, role=Role.EVALUATOR).user,
        journey=JourneyFactory(organization=org, target=target),
    )


def touch_point_with_criterion(stage: object, **kwargs: object) -> tuple[TouchPoint, Criterion]:
    tp = TouchPointFactory(stage=stage, **kwargs)
    return tp, CriterionFactory(touch_point=tp, kind="scale", scale_size=5)


def evaluate(
    given: Given,
    criterion: Criterion,
    values: Sequence[int],
    *,
    age: timedelta = timedelta(hours=1),
    source: str = Source.SUPERVISOR,
    site: Site | None = None,
) -> None:
    """Store one evaluation per value through the one write path (scores derived in SQL)."""
    now = timezone.now()
    submit_evaluations(
        evaluator=given.evaluator,
        organization=given.org,
        items=[
            EvaluationInput(
                touch_point_id=criterion.touch_point_id,
                source=source,
                observed_at=now - age,
                site_id=site.pk if site else None,
                answers=[AnswerInput(criterion.pk, value)],
            )
            for value in values
        ],
    )


def expected_stats(
    mine: Sequence[int], everyone: Sequence[int], org: Organization
) -> formulas.TouchPointStats:
    """The reference numbers for a touch point answered `mine` in a journey answered
    `everyone` (1..5 scale values, one criterion each)."""
    prior = formulas.mean_or_none([SCALE_SCORE[v] for v in everyone])
    return formulas.touch_point_stats(
        [SCALE_SCORE[v] for v in mine], prior=prior, k=org.smoothing_k
    )


# ---------------------------------------------------------------------------
# A small journey with known numbers
# ---------------------------------------------------------------------------


@dataclass
class Map:
    given: Given
    welcome: TouchPoint  # stage 1, position 0
    wait: TouchPoint  # stage 1, position 1
    install: TouchPoint  # stage 2
    bill: TouchPoint  # stage 2, the last impression
    criteria: dict[str, Criterion]
    answers: dict[str, list[int]]


@pytest.fixture
def journey_map(db: None) -> Map:
    org = OrganizationFactory(min_n=3, smoothing_k=1.0)
    given = given_journey(org, target=80.0)
    # Created out of order on purpose: the map order is stage position, then position.
    second = StageFactory(journey=given.journey, name="Install")
    first = StageFactory(journey=given.journey, name="Sign up")
    second.position, first.position = 1, 0
    second.save(update_fields=["position"])
    first.save(update_fields=["position"])
    install, c_install = touch_point_with_criterion(second, name="Technician visit", importance=5)
    bill, c_bill = touch_point_with_criterion(second, name="First bill", importance=4)
    welcome, c_welcome = touch_point_with_criterion(first, name="Welcome call", importance=2)
    wait, c_wait = touch_point_with_criterion(first, name="Hold time", importance=3, target=60.0)
    answers = {
        "welcome": [5, 5, 4, 5],  # meets
        "wait": [1, 2],  # too few: a blind spot
        "install": [2, 3, 2, 3, 2, 2],  # weak link
        "bill": [3, 2, 3, 3],  # weak link, last impression
    }
    criteria = {"welcome": c_welcome, "wait": c_wait, "install": c_install, "bill": c_bill}
    for name, values in answers.items():
        evaluate(given, criteria[name], values)
    recompute_journey(given.journey.pk)
    return Map(given, welcome, wait, install, bill, criteria, answers)


def test_journey_rows_come_in_map_order_with_the_formulas_numbers(journey_map: Map) -> None:
    m = journey_map
    scores = selectors.journey_scores(m.given.journey)

    assert scores.basis == selectors.SNAPSHOT
    assert [row.name for row in scores.touch_points] == [
        "Welcome call",
        "Hold time",
        "Technician visit",
        "First bill",
    ]
    assert [row.stage.name for row in scores.touch_points] == ["Sign up"] * 2 + ["Install"] * 2
    everyone = [v for values in m.answers.values() for v in values]
    for row, key in zip(scores.touch_points, ["welcome", "wait", "install", "bill"], strict=True):
        stats = expected_stats(m.answers[key], everyone, m.given.org)
        assert row.n == stats.n == row.evaluations
        for name in ("mean", "sd", "ci_low", "ci_high"):
            assert close(getattr(row, name), getattr(stats, name)), name
        assert close(row.smoothed_score, stats.smoothed)
        assert row.pending is False
    assert [row.status for row in scores.touch_points] == [
        formulas.MEETS,
        formulas.INSUFFICIENT_DATA,
        formulas.WEAK_LINK,
        formulas.WEAK_LINK,
    ]
    assert [row.target for row in scores.touch_points] == [80.0, 60.0, 80.0, 80.0]
    assert [row.is_last for row in scores.touch_points] == [False, False, False, True]
    assert scores.n == len(everyone) == scores.evaluations
    assert close(
        scores.score,
        formulas.journey_score(
            [(row.smoothed_score, float(row.importance)) for row in scores.touch_points]
        ),
    )
    assert scores.computed_at == JourneyScore.objects.get(journey=m.given.journey).computed_at
    assert scores.pending is False
    assert scores.status_counts == {
        formulas.MEETS: 1,
        formulas.AT_RISK: 0,
        formulas.WEAK_LINK: 2,
        formulas.INSUFFICIENT_DATA: 1,
    }


def test_weak_links_are_ranked_by_weighted_gap_and_thin_data_is_a_blind_spot(
    journey_map: Map,
) -> None:
    m = journey_map
    scores = selectors.journey_scores(m.given.journey)
    rows = {row.id: row for row in scores.touch_points}
    expected = []
    for tp in (m.install, m.bill):
        row = rows[tp.pk]
        assert row.smoothed_score is not None
        factor = formulas.LAST_IMPRESSION_FACTOR if tp == m.bill else 1.0
        expected.append((tp.pk, (80.0 - row.smoothed_score) * tp.importance * factor))
    expected.sort(key=lambda pair: -pair[1])

    assert [(w.touch_point_id, w.rank) for w in scores.weak_links] == [
        (pk, rank) for rank, (pk, _) in enumerate(expected, 1)
    ]
    for link, (pk, weighted) in zip(scores.weak_links, expected, strict=True):
        assert close(link.weighted_gap, weighted)
        assert close(link.gap, 80.0 - (rows[pk].smoothed_score or 0))
        assert link.journey.id == m.given.journey.pk
    assert [b.touch_point_id for b in scores.blind_spots] == [m.wait.pk]
    assert scores.blind_spots[0].n == 2


def test_default_read_costs_the_same_queries_for_3_and_60_touch_points(db: None) -> None:
    def measure(size: int) -> tuple[int, int]:
        given = given_journey(OrganizationFactory(min_n=1))
        stages = [StageFactory(journey=given.journey) for _ in range(3)]
        criteria = [touch_point_with_criterion(stages[i % 3])[1] for i in range(size)]
        for criterion in criteria:
            evaluate(given, criterion, [2, 4])
        recompute_journey(given.journey.pk)
        # One touch point behind its snapshot (pending), and one added since (no numbers,
        # but nothing to wait for either).
        evaluate(given, criteria[0], [5])
        touch_point_with_criterion(stages[0])
        journey = Journey.objects.select_related("organization").get(pk=given.journey.pk)
        with CaptureQueriesContext(connection) as journey_queries:
            scores = selectors.journey_scores(journey)
        assert len(scores.touch_points) == size + 1
        assert sum(row.pending for row in scores.touch_points) == 1
        with CaptureQueriesContext(connection) as org_queries:
            selectors.organization_weak_links(given.org)
        return len(journey_queries), len(org_queries)

    # (journey scores, organization weak links): the same for 3 and 60 touch points.
    assert measure(3) == measure(60) == (2, 3)


def test_many_journeys_read_in_the_same_queries_as_one(db: None) -> None:
    org = OrganizationFactory(min_n=1)

    def journeys(count: int) -> list[Journey]:
        made = []
        for size in range(1, count + 1):
            given = given_journey(org)
            stage = StageFactory(journey=given.journey)
            for _ in range(size):
                evaluate(given, touch_point_with_criterion(stage)[1], [size % 5 + 1])
            recompute_journey(given.journey.pk)
            made.append(given.journey)
        return made

    one, five = journeys(1), journeys(5)
    with CaptureQueriesContext(connection) as for_one:
        selectors.journeys_scores(one)
    with CaptureQueriesContext(connection) as for_five:
        batch = selectors.journeys_scores(five)
    assert len(for_one) == len(for_five) == 2
    assert batch == [selectors.journey_scores(journey) for journey in five]
    assert [len(scores.touch_points) for scores in batch] == [1, 2, 3, 4, 5]
    assert selectors.journeys_scores([]) == []


def test_on_demand_for_the_snapshot_window_equals_the_snapshot(journey_map: Map) -> None:
    m = journey_map
    site = SiteFactory(organization=m.given.org)
    evaluate(m.given, m.criteria["install"], [4, 4, 5], source=Source.MYSTERY_SHOPPER, site=site)
    evaluate(m.given, m.criteria["install"], [3], age=timedelta(days=100))  # previous window
    recompute_journey(m.given.journey.pk)
    snapshot = selectors.journey_scores(m.given.journey)
    assert snapshot.window is not None

    live = selectors.journey_scores(m.given.journey, window=snapshot.window)

    assert live.basis == selectors.ON_DEMAND
    assert live.window == snapshot.window
    for attr in ("n", "evaluations", "latest_submitted_at", "status_counts"):
        assert getattr(live, attr) == getattr(snapshot, attr), attr
    assert close(live.score, snapshot.score) and close(live.prior, snapshot.prior)
    for got, want in zip(live.touch_points, snapshot.touch_points, strict=True):
        assert (got.id, got.stage, got.n, got.evaluations, got.status, got.is_last) == (
            want.id,
            want.stage,
            want.n,
            want.evaluations,
            want.status,
            want.is_last,
        )
        for attr in ("mean", "sd", "ci_low", "ci_high", "smoothed_score", "priority"):
            assert close(getattr(got, attr), getattr(want, attr)), attr
        assert close(got.trend.change, want.trend.change)
        assert got.trend.direction == want.trend.direction
    assert [w.touch_point_id for w in live.weak_links] == [
        w.touch_point_id for w in snapshot.weak_links
    ]
    assert live.blind_spots == snapshot.blind_spots

    stored = selectors.touch_point_scores(m.install)
    computed = selectors.touch_point_scores(m.install, window=snapshot.window)
    assert stored is not None and computed is not None
    assert computed.criteria == stored.criteria
    assert computed.by_site == stored.by_site
    assert [(s.source, s.n) for s in computed.by_source] == [
        (s.source, s.n) for s in stored.by_source
    ]
    for got_s, want_s in zip(computed.by_source, stored.by_source, strict=True):
        assert close(got_s.mean, want_s.mean) and close(got_s.sd, want_s.sd)
    assert computed.weeks == stored.weeks
    assert computed.perception == stored.perception


def test_a_site_or_source_filter_scores_only_those_evaluations(journey_map: Map) -> None:
    m = journey_map
    north = SiteFactory(organization=m.given.org, name="North")
    evaluate(m.given, m.criteria["install"], [5, 4, 5], site=north)
    evaluate(m.given, m.criteria["welcome"], [2], site=north, source=Source.CUSTOMER_SURVEY)

    by_site = selectors.journey_scores(m.given.journey, site=north)
    rows = {row.id: row for row in by_site.touch_points}
    everyone = [5, 4, 5, 2]
    assert rows[m.install.pk].n == 3
    assert close(
        rows[m.install.pk].smoothed_score,
        expected_stats([5, 4, 5], everyone, m.given.org).smoothed,
    )
    assert rows[m.bill.pk].n == 0 and rows[m.bill.pk].smoothed_score is None
    assert by_site.site_id == north.pk and by_site.n == 4

    surveys = selectors.journey_scores(m.given.journey, source=Source.CUSTOMER_SURVEY)
    assert [row.n for row in surveys.touch_points] == [1, 0, 0, 0]
    assert close(surveys.touch_points[0].mean, SCALE_SCORE[2])
    # With no prior but its own, a lone touch point's smoothed score is its mean.
    assert close(surveys.score, SCALE_SCORE[2])


def test_an_explicit_window_leaves_out_evaluations_observed_outside_it(journey_map: Map) -> None:
    m = journey_map
    evaluate(m.given, m.criteria["bill"], [5, 5], age=timedelta(days=20))
    now = timezone.now()
    recent = selectors.journey_scores(m.given.journey, window=Period(now - timedelta(days=7), now))
    older = selectors.journey_scores(
        m.given.journey, window=Period(now - timedelta(days=30), now - timedelta(days=7))
    )
    bill_recent = next(row for row in recent.touch_points if row.id == m.bill.pk)
    bill_older = next(row for row in older.touch_points if row.id == m.bill.pk)
    assert bill_recent.n == len(m.answers["bill"])
    assert bill_older.n == 2 and close(bill_older.mean, 100.0)
    assert older.n == 2


def test_touch_point_detail_has_criteria_splits_perception_and_twelve_weeks(
    journey_map: Map,
) -> None:
    m = journey_map
    tp, criterion = m.install, m.criteria["install"]
    update_criterion(actor=m.given.manager, criterion=criterion, data={"weight": 2.0})
    criterion.refresh_from_db()
    north = SiteFactory(organization=m.given.org, name="North")
    evaluate(m.given, criterion, [5, 5, 4], source=Source.MYSTERY_SHOPPER, site=north)
    evaluate(m.given, criterion, [4], age=timedelta(days=15), source=Source.AUDIT)
    recompute_journey(m.given.journey.pk)

    detail = selectors.touch_point_scores(tp)

    assert detail is not None
    assert detail.touch_point.id == tp.pk and detail.journey.id == m.given.journey.pk
    internal = m.answers["install"] + [4]  # supervisor + audit
    customer = [5, 5, 4]
    assert detail.touch_point.n == len(internal) + len(customer)
    (crit,) = detail.criteria
    assert (crit.id, crit.name, crit.version, crit.n) == (criterion.pk, criterion.name, 2, 10)
    assert close(crit.mean, formulas.mean_or_none(SCALE_SCORE[v] for v in internal + customer))

    sources = {s.source: s for s in detail.by_source}
    assert list(sources) == Source.values
    assert sources[Source.MYSTERY_SHOPPER].n == 3
    assert sources[Source.SUPERVISOR].n == 6 and sources[Source.AUDIT].n == 1
    assert sources[Source.SELF_CHECK].n == 0 and sources[Source.SELF_CHECK].mean is None
    assert [(s.site_id, s.name, s.n) for s in detail.by_site] == [
        (north.pk, "North", 3),
        (None, "No site", 7),
    ]

    # min_n is 3: both sides have enough, so the gap is shown.
    p = detail.perception
    assert (p.internal_n, p.customer_n, p.min_n) == (7, 3, 3)
    assert close(p.internal_mean, formulas.mean_or_none(SCALE_SCORE[v] for v in internal))
    assert close(p.customer_mean, formulas.mean_or_none(SCALE_SCORE[v] for v in customer))
    assert close(p.gap, (p.internal_mean or 0) - (p.customer_mean or 0))

    assert len(detail.weeks) == 12
    assert detail.weeks[-1].week_start == formulas.week_start(timezone.now())
    assert sum(w.n for w in detail.weeks) == 10
    three_weeks_ago = formulas.week_start(timezone.now() - timedelta(days=15))
    assert [w.n for w in detail.weeks if w.week_start == three_weeks_ago] == [1]


def test_perception_gap_needs_min_n_on_both_sides(journey_map: Map) -> None:
    m = journey_map
    evaluate(m.given, m.criteria["install"], [5, 5], source=Source.CUSTOMER_SURVEY)
    recompute_journey(m.given.journey.pk)
    detail = selectors.touch_point_scores(m.install)
    assert detail is not None
    assert (detail.perception.internal_n, detail.perception.customer_n) == (6, 2)
    assert detail.perception.customer_mean == 100.0
    assert detail.perception.gap is None


def test_trend_compares_with_the_previous_window(journey_map: Map) -> None:
    m = journey_map
    evaluate(m.given, m.criteria["welcome"], [1, 1], age=timedelta(days=120))
    evaluate(m.given, m.criteria["install"], [2, 3, 2, 3, 2, 2], age=timedelta(days=120))
    recompute_journey(m.given.journey.pk)
    rows = {row.id: row for row in selectors.journey_scores(m.given.journey).touch_points}

    welcome = rows[m.welcome.pk].trend
    assert close(welcome.previous_mean, 0.0)
    assert close(welcome.change, formulas.mean_or_none(SCALE_SCORE[v] for v in [5, 5, 4, 5]))
    assert welcome.direction == selectors.UP
    assert rows[m.install.pk].trend.direction == selectors.STEADY
    assert rows[m.bill.pk].trend == selectors.Trend(None, None, None)


@pytest.mark.parametrize(
    ("change", "direction"),
    [
        (None, None),
        (0.0, "steady"),
        (0.99, "steady"),
        (-0.99, "steady"),
        (1.0, "up"),
        (-1.0, "down"),
    ],
)
def test_trend_direction(change: float | None, direction: str | None) -> None:
    assert selectors.trend_direction(change) == direction


def test_new_evaluations_flag_the_touch_point_pending_until_recomputed(journey_map: Map) -> None:
    m = journey_map
    evaluate(m.given, m.criteria["bill"], [5])
    scores = selectors.journey_scores(m.given.journey)
    assert [row.pending for row in scores.touch_points] == [False, False, False, True]
    assert scores.pending is True
    detail = selectors.touch_point_scores(m.bill)
    assert detail is not None and detail.pending is True and detail.touch_point.is_last

    recompute_journey(m.given.journey.pk)
    assert selectors.journey_scores(m.given.journey).pending is False


def test_a_touch_point_added_after_the_snapshot_shows_no_numbers_and_reads_pending(
    journey_map: Map,
) -> None:
    """It became the last touch point: until the recompute, the snapshot's old last keeps
    is_last beside the priority it weighed, and every row says the figures are behind."""
    m = journey_map
    newcomer = create_touch_point(
        actor=m.given.manager, stage=m.install.stage, name="Follow-up", target=None
    )
    scores = selectors.journey_scores(m.given.journey)
    row = scores.touch_points[-1]
    assert (row.id, row.n, row.smoothed_score, row.pending) == (newcomer.pk, 0, None, True)
    assert row.status == formulas.INSUFFICIENT_DATA and row.target == 80.0
    assert not row.is_last and scores.touch_points[-2].is_last and scores.pending

    recompute_journey(m.given.journey.pk)
    scores = selectors.journey_scores(m.given.journey)
    assert scores.touch_points[-1].is_last and not scores.touch_points[-2].is_last
    assert not scores.pending


def test_a_journey_with_nothing_to_recompute_is_not_pending_even_if_never_scored(
    db: None,
) -> None:
    """Pages poll while a journey is pending: one nobody has evaluated yet must not poll
    for ever."""
    given = given_journey(OrganizationFactory())
    touch_point_with_criterion(StageFactory(journey=given.journey))
    assert not StaleMark.objects.filter(touch_point__journey=given.journey).exists()

    scores = selectors.journey_scores(given.journey)

    assert scores.computed_at is None and scores.window is None and scores.score is None
    assert scores.pending is False
    assert [row.pending for row in scores.touch_points] == [False]


def test_an_archived_touch_point_has_no_scores(journey_map: Map) -> None:
    m = journey_map
    archived = archive_touch_point(actor=m.given.manager, touch_point=m.wait)
    assert selectors.touch_point_scores(archived) is None
    recompute_journey(m.given.journey.pk)
    ids = [row.id for row in selectors.journey_scores(m.given.journey).touch_points]
    assert m.wait.pk not in ids


def test_organization_weak_links_span_active_journeys_only(journey_map: Map) -> None:
    m = journey_map
    other = JourneyFactory(organization=m.given.org, name="Vet visit")
    _, criterion = touch_point_with_criterion(StageFactory(journey=other), importance=5)
    evaluate(Given(m.given.org, m.given.manager, m.given.evaluator, other), criterion, [1] * 6)
    recompute_journey(other.pk)
    draft = JourneyFactory(organization=m.given.org, status=JourneyStatus.DRAFT)
    _, criterion = touch_point_with_criterion(StageFactory(journey=draft))
    evaluate(Given(m.given.org, m.given.manager, m.given.evaluator, draft), criterion, [1] * 6)
    recompute_journey(draft.pk)
    # Another organization's weak link must never show.
    outsider = given_journey(OrganizationFactory())
    _, criterion = touch_point_with_criterion(StageFactory(journey=outsider.journey))
    evaluate(outsider, criterion, [1] * 6)
    recompute_journey(outsider.journey.pk)

    result = selectors.organization_weak_links(m.given.org)

    snapshots = TouchPointScore.objects.filter(
        journey__in=[m.given.journey, other], status=formulas.WEAK_LINK
    ).order_by("-priority")
    assert [w.touch_point_id for w in result.weak_links] == [s.touch_point_id for s in snapshots]
    assert [w.rank for w in result.weak_links] == [1, 2, 3]
    assert result.weak_links[0].journey.name == "Vet visit"
    assert result.weak_links[0].is_last  # the only touch point of its journey
    assert {w.touch_point_id: w.is_last for w in result.weak_links}[m.bill.pk] is True
    assert {w.touch_point_id: w.is_last for w in result.weak_links}[m.install.pk] is False
    assert result.basis == selectors.SNAPSHOT and result.pending is False

    assert len(selectors.organization_weak_links(m.given.org, limit=1).weak_links) == 1
    assert len(selectors.organization_weak_links(m.given.org, limit=10_000).weak_links) == 3

    live = selectors.organization_weak_links(m.given.org, source=Source.SUPERVISOR)
    assert live.basis == selectors.ON_DEMAND
    assert [w.touch_point_id for w in live.weak_links] == [
        w.touch_point_id for w in result.weak_links
    ]
    for got, want in zip(live.weak_links, result.weak_links, strict=True):
        assert close(got.weighted_gap, want.weighted_gap) and got.is_last == want.is_last


# ---------------------------------------------------------------------------
# Filters: the rules the API and the pages share
# ---------------------------------------------------------------------------

NOW = datetime(2026, 6, 15, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("text", "end_of_day", "expected"),
    [
        ("2026-03-31", False, datetime(2026, 3, 31, tzinfo=UTC)),
        ("2026-03-31", True, datetime(2026, 4, 1, tzinfo=UTC)),
        ("2026-03-31T10:30:00Z", True, datetime(2026, 3, 31, 10, 30, tzinfo=UTC)),
        ("2026-03-31T10:30:00+02:00", False, datetime(2026, 3, 31, 8, 30, tzinfo=UTC)),
        ("2026-03-31T10:30", False, datetime(2026, 3, 31, 10, 30, tzinfo=UTC)),
    ],
)
def test_parse_instant_reads_iso_dates_and_datetimes(
    text: str, end_of_day: bool, expected: datetime
) -> None:
    assert selectors.parse_instant(text, end_of_day=end_of_day) == expected


@pytest.mark.parametrize(
    "text", ["", "yesterday", "2026-13-01", "31/03/2026", "20260331", "2026-01-01T00:00+99:00"]
)
def test_parse_instant_refuses_anything_else(text: str) -> None:
    with pytest.raises(ValueError):
        selectors.parse_instant(text)


def test_score_filters_fill_in_the_missing_end(db: None) -> None:
    org = OrganizationFactory(window_days=30)
    assert selectors.score_filters(org).is_default
    only_since = selectors.score_filters(org, since=NOW - timedelta(days=3), now=NOW)
    assert only_since.window == Period(NOW - timedelta(days=3), NOW)
    only_until = selectors.score_filters(org, until=NOW, now=NOW)
    assert only_until.window == Period(NOW - timedelta(days=30), NOW)


@pytest.mark.parametrize(
    ("since", "until", "field"),
    [
        (NOW, NOW, "until"),
        (NOW, NOW - timedelta(days=1), "until"),
        (NOW - timedelta(days=367), NOW, "since"),
        (NOW - timedelta(days=400), None, "since"),
    ],
)
def test_score_filters_refuse_bad_windows(
    db: None, since: datetime, until: datetime | None, field: str
) -> None:
    with pytest.raises(ValidationError) as refused:
        selectors.score_filters(OrganizationFactory(), since=since, until=until, now=NOW)
    assert list(refused.value.message_dict) == [field]


@pytest.mark.parametrize(
    ("since", "until", "field"),
    [
        (datetime(1, 1, 1, tzinfo=UTC), None, "since"),
        (None, datetime(1969, 12, 31, tzinfo=UTC), "until"),
        (None, datetime(9999, 12, 31, tzinfo=UTC), "until"),
    ],
)
def test_score_filters_refuse_instants_outside_1970_to_2999(
    db: None, since: datetime | None, until: datetime | None, field: str
) -> None:
    with pytest.raises(ValidationError) as refused:
        selectors.score_filters(OrganizationFactory(), since=since, until=until, now=NOW)
    assert refused.value.message_dict == {field: ["Must be from 1970 to 2999."]}


def test_score_filters_accept_a_366_day_window(db: None) -> None:
    filters = selectors.score_filters(
        OrganizationFactory(), since=NOW - timedelta(days=366), until=NOW
    )
    assert filters.window == Period(NOW - timedelta(days=366), NOW)


def test_score_filters_refuse_another_organizations_site_and_unknown_sources(db: None) -> None:
    org = OrganizationFactory()
    mine = SiteFactory(organization=org)
    theirs = SiteFactory(organization=OrganizationFactory())
    assert selectors.score_filters(org, site_id=mine.pk).site == mine
    with pytest.raises(ValidationError) as refused:
        selectors.score_filters(org, site_id=theirs.pk, source="twitter")
    assert refused.value.message_dict == {
        "site": ["No such site."],
        "source": [f"Must be one of {', '.join(Source.values)}."],
    }
