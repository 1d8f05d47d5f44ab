"""Worked examples and properties of the reference scoring formulas (method v1)."""

from __future__ import annotations

import itertools
import math
import random
from datetime import UTC, date, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from scoring.formulas import (
    AT_RISK,
    DEFAULT_K,
    DEFAULT_MIN_N,
    DEFAULT_WINDOW_DAYS,
    INSUFFICIENT_DATA,
    LAST_IMPRESSION_FACTOR,
    MEETS,
    METHOD_VERSION,
    NUMERIC,
    SCALE,
    WEAK_LINK,
    YES_NO,
    Rubric,
    TouchPointStats,
    WeakLink,
    WeakLinkInput,
    WeekPoint,
    answer_score,
    criterion_means,
    evaluation_score,
    journey_score,
    mean_or_none,
    perception_gap,
    priority,
    rank_weak_links,
    status,
    touch_point_stats,
    trend_change,
    week_start,
    weekly_trend,
)

TIGHT = 1e-9
# st.datetimes() takes naive bounds and attaches the time zone itself.
POINTS_FROM, POINTS_TO = datetime(2023, 1, 1), datetime(2025, 1, 1)  # noqa: DTZ001
UNTIL_FROM, UNTIL_TO = datetime(2023, 6, 1), datetime(2024, 6, 1)  # noqa: DTZ001


def close(a: float | None, b: float | None) -> bool:
    if a is None or b is None:
        return a is b
    return math.isclose(a, b, rel_tol=0, abs_tol=TIGHT)


# ---------------------------------------------------------------------------
# Hypothesis strategies
# ---------------------------------------------------------------------------

weights = st.floats(min_value=0.01, max_value=100)
score_values = st.floats(min_value=0, max_value=100)
score_lists = st.lists(score_values, max_size=30)


@st.composite
def rubrics(draw: st.DrawFn, critical: bool | None = None) -> Rubric:
    kind = draw(st.sampled_from([SCALE, YES_NO, NUMERIC]))
    crit = draw(st.booleans()) if critical is None else critical
    w = draw(weights)
    if kind == SCALE:
        return Rubric(SCALE, w, critical=crit, scale_size=draw(st.integers(2, 10)))
    if kind == YES_NO:
        return Rubric(YES_NO, w, critical=crit)
    target = draw(st.floats(min_value=-1000, max_value=1000))
    worst = draw(st.floats(min_value=-1000, max_value=1000).filter(lambda x: x != target))
    return Rubric(NUMERIC, w, critical=crit, target=target, worst=worst)


@st.composite
def valid_values(draw: st.DrawFn, rubric: Rubric) -> float:
    if rubric.kind == SCALE:
        return float(draw(st.integers(1, rubric.scale_size)))
    if rubric.kind == YES_NO:
        return float(draw(st.integers(0, 1)))
    return draw(st.floats(min_value=-1e4, max_value=1e4))


@st.composite
def answers(draw: st.DrawFn, *, allow_na: bool = True) -> tuple[Rubric, float | None]:
    rubric = draw(rubrics())
    if allow_na and draw(st.booleans()):
        return rubric, None
    return rubric, draw(valid_values(rubric))


answer_lists = st.lists(answers(), max_size=12)


# ---------------------------------------------------------------------------
# Constants
# ---------------------------------------------------------------------------


def test_method_parameters_are_the_documented_version_1_values() -> None:
    assert METHOD_VERSION == 1
    assert DEFAULT_K == 5.0
    assert DEFAULT_MIN_N == 5
    assert DEFAULT_WINDOW_DAYS == 90
    assert LAST_IMPRESSION_FACTOR == 1.5


# ---------------------------------------------------------------------------
# Rubric validation
# ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "kwargs",
    [
        {"kind": "stars", "weight": 1.0},
        {"kind": SCALE, "weight": 0.0},
        {"kind": SCALE, "weight": -1.0},
        {"kind": SCALE, "weight": math.inf},
        {"kind": SCALE, "weight": 1.0, "scale_size": 1},
        {"kind": NUMERIC, "weight": 1.0, "target": 20.0},
        {"kind": NUMERIC, "weight": 1.0, "worst": 120.0},
        {"kind": NUMERIC, "weight": 1.0, "target": 20.0, "worst": 20.0},
    ],
)
def test_invalid_rubrics_are_rejected(kwargs: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        Rubric(**kwargs)  # type: ignore[arg-type]


# ---------------------------------------------------------------------------
# answer_score
# ---------------------------------------------------------------------------

SECONDS = Rubric(NUMERIC, 1.0, target=20.0, worst=120.0)  # lower is better
SALES = Rubric(NUMERIC, 1.0, target=10.0, worst=0.0)  # higher is better


@pytest.mark.parametrize(
    ("rubric", "value", "expected"),
    [
        # scale 1..5: (v - 1) / 4 * 100
        (Rubric(SCALE, 1.0), 1, 0.0),
        (Rubric(SCALE, 1.0), 4, 75.0),  # 3/4 * 100
        (Rubric(SCALE, 1.0), 5, 100.0),
        (Rubric(SCALE, 1.0, scale_size=7), 4, 50.0),  # 3/6 * 100
        (Rubric(SCALE, 1.0, scale_size=3), 2, 50.0),  # 1/2 * 100
        (Rubric(SCALE, 1.0, scale_size=2), 2, 100.0),
        (Rubric(YES_NO, 1.0), 1, 100.0),
        (Rubric(YES_NO, 1.0), 0, 0.0),
        # seconds, target 20, worst 120: (120 - v) / 100 * 100
        (SECONDS, 70, 50.0),
        (SECONDS, 45, 75.0),
        (SECONDS, 20, 100.0),
        (SECONDS, 5, 100.0),  # better than target: clipped
        (SECONDS, 120, 0.0),
        (SECONDS, 300, 0.0),  # worse than worst: clipped
        # sales, target 10, worst 0: (v - 0) / 10 * 100
        (SALES, 2.5, 25.0),
        (SALES, 10, 100.0),
        (SALES, 12, 100.0),
        (SALES, -3, 0.0),
    ],
)
def test_answer_score_worked_examples(rubric: Rubric, value: float, expected: float) -> None:
    assert answer_score(rubric, value) == pytest.approx(expected, abs=TIGHT)


@pytest.mark.parametrize("rubric", [Rubric(SCALE, 1.0), Rubric(YES_NO, 1.0), SECONDS])
def test_not_applicable_answer_has_no_score(rubric: Rubric) -> None:
    assert answer_score(rubric, None) is None


@pytest.mark.parametrize(
    ("rubric", "value"),
    [
        (Rubric(SCALE, 1.0), 0),
        (Rubric(SCALE, 1.0), 6),
        (Rubric(SCALE, 1.0), 2.5),
        (Rubric(SCALE, 1.0), math.nan),
        (Rubric(YES_NO, 1.0), 0.5),
        (Rubric(YES_NO, 1.0), 2),
        (Rubric(YES_NO, 1.0), -1),
        (SECONDS, math.nan),
    ],
)
def test_out_of_range_answers_are_a_caller_bug(rubric: Rubric, value: float) -> None:
    with pytest.raises(ValueError):
        answer_score(rubric, value)


@given(answers(allow_na=False))
def test_every_answer_score_stays_in_0_to_100(answer: tuple[Rubric, float | None]) -> None:
    rubric, value = answer
    s = answer_score(rubric, value)
    assert s is not None
    assert 0.0 <= s <= 100.0


@given(st.data())
def test_numeric_answers_score_100_at_target_and_0_at_worst(data: st.DataObject) -> None:
    target = data.draw(st.floats(min_value=-1000, max_value=1000))
    worst = data.draw(
        st.floats(min_value=-1000, max_value=1000).filter(lambda x: abs(x - target) > 1e-6)
    )
    r = Rubric(NUMERIC, 1.0, target=target, worst=worst)
    assert answer_score(r, target) == pytest.approx(100.0, abs=TIGHT)
    assert answer_score(r, worst) == pytest.approx(0.0, abs=TIGHT)


# ---------------------------------------------------------------------------
# evaluation_score
# ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("answer_pairs", "expected"),
    [
        # weights 2, 1, 1 with scores 75, 100, 50: (150 + 100 + 50) / 4 = 75
        ([(Rubric(SCALE, 2.0), 4), (Rubric(YES_NO, 1.0), 1), (SECONDS, 70)], 75.0),
        # weights 1, 3 with scores 0, 100: 300 / 4 = 75
        ([(Rubric(YES_NO, 1.0), 0), (Rubric(YES_NO, 3.0), 1)], 75.0),
        # N/A drops out and the weights renormalise: only 100 (w=3) is left
        ([(Rubric(SCALE, 3.0), 5), (Rubric(YES_NO, 1.0), None)], 100.0),
        # critical "no" zeroes the evaluation, whatever the rest
        ([(Rubric(YES_NO, 1.0, critical=True), 0), (Rubric(SCALE, 9.0), 5)], 0.0),
        # critical scale answered at its bottom (1 of 5 = 0) zeroes it too
        ([(Rubric(SCALE, 1.0, critical=True), 1), (Rubric(YES_NO, 1.0), 1)], 0.0),
        # critical numeric at its worst value (0) zeroes it too
        (
            [
                (Rubric(NUMERIC, 1.0, critical=True, target=20, worst=120), 150),
                (Rubric(YES_NO, 1.0), 1),
            ],
            0.0,
        ),
        # critical but not applicable: no effect; only 3 of 5 = 50 remains
        ([(Rubric(YES_NO, 1.0, critical=True), None), (Rubric(SCALE, 1.0), 3)], 50.0),
        # critical with a low but non-zero score is just weighted: (25 + 100) / 2
        ([(Rubric(SCALE, 1.0, critical=True), 2), (Rubric(YES_NO, 1.0), 1)], 62.5),
        # nothing applicable: not scored
        ([(Rubric(YES_NO, 1.0), None), (Rubric(SCALE, 1.0), None)], None),
        ([], None),
    ],
)
def test_evaluation_score_worked_examples(
    answer_pairs: list[tuple[Rubric, float | None]], expected: float | None
) -> None:
    assert close(evaluation_score(answer_pairs), expected)


@given(answer_lists)
def test_every_evaluation_score_stays_in_0_to_100(
    answer_pairs: list[tuple[Rubric, float | None]],
) -> None:
    s = evaluation_score(answer_pairs)
    applicable = [v for _, v in answer_pairs if v is not None]
    assert (s is None) == (not applicable)
    if s is not None:
        assert 0.0 <= s <= 100.0


@given(answer_lists, st.lists(rubrics(), min_size=1, max_size=5), st.randoms(use_true_random=False))
def test_not_applicable_answers_never_move_the_score(
    answer_pairs: list[tuple[Rubric, float | None]],
    extra_rubrics: list[Rubric],
    rnd: random.Random,
) -> None:
    mixed = list(answer_pairs)
    for rubric in extra_rubrics:
        mixed.insert(rnd.randint(0, len(mixed)), (rubric, None))
    assert close(evaluation_score(mixed), evaluation_score(answer_pairs))


@given(answer_lists, st.floats(min_value=1e-3, max_value=1e3))
def test_scaling_all_weights_by_a_constant_changes_nothing(
    answer_pairs: list[tuple[Rubric, float | None]], factor: float
) -> None:
    scaled = [
        (
            Rubric(
                r.kind,
                r.weight * factor,
                critical=r.critical,
                scale_size=r.scale_size,
                target=r.target,
                worst=r.worst,
            ),
            v,
        )
        for r, v in answer_pairs
    ]
    assert close(evaluation_score(scaled), evaluation_score(answer_pairs))


@st.composite
def failed_critical_answers(draw: st.DrawFn) -> tuple[Rubric, float]:
    rubric = draw(rubrics(critical=True))
    if rubric.kind == SCALE:
        return rubric, 1.0
    if rubric.kind == YES_NO:
        return rubric, 0.0
    assert rubric.worst is not None and rubric.target is not None
    # at the worst value, or anywhere beyond it, away from the target
    beyond = draw(st.floats(min_value=0, max_value=1e3))
    return rubric, rubric.worst + math.copysign(beyond, rubric.worst - rubric.target)


@given(answer_lists, failed_critical_answers(), st.integers(min_value=0, max_value=12))
def test_a_failed_critical_criterion_gives_zero(
    answer_pairs: list[tuple[Rubric, float | None]],
    failed: tuple[Rubric, float],
    position: int,
) -> None:
    assert answer_score(*failed) == 0.0
    mixed = list(answer_pairs)
    mixed.insert(min(position, len(mixed)), failed)
    assert evaluation_score(mixed) == 0.0


# ---------------------------------------------------------------------------
# touch_point_stats
# ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("scores", "prior", "k", "expected"),
    [
        ([], 70.0, 5.0, TouchPointStats(0, None, None, None, None, None)),
        # one score: no sd/CI; smoothed (1*80 + 5*60) / 6 = 380/6
        ([80.0], 60.0, 5.0, TouchPointStats(1, 80.0, None, None, None, 380 / 6)),
        # mean 70, sd = sqrt((100 + 100) / 1) = sqrt(200);
        # half-width 1.96 * sqrt(200) / sqrt(2) = 1.96 * 10 = 19.6;
        # smoothed (2*70 + 5*70) / 7 = 70
        ([60.0, 80.0], 70.0, 5.0, TouchPointStats(2, 70.0, math.sqrt(200), 50.4, 89.6, 70.0)),
        # mean 290/3; squared deviations 100/9 + 100/9 + 400/9 = 600/9,
        # / (n - 1) = 300/9 -> sd = sqrt(300)/3;
        # half-width 1.96 * sd / sqrt(3) = 1.96 * 10/3 = 6.5333..;
        # high 96.67 + 6.53 = 103.2 is clipped to 100;
        # smoothed (290 + 5*70) / 8 = 80
        (
            [100.0, 100.0, 90.0],
            70.0,
            5.0,
            TouchPointStats(3, 290 / 3, math.sqrt(300) / 3, 290 / 3 - 19.6 / 3, 100.0, 80.0),
        ),
        # both bounds clipped: mean 50, sd sqrt(5000), half-width 1.96 * 50 = 98
        ([0.0, 100.0], 50.0, 5.0, TouchPointStats(2, 50.0, math.sqrt(5000), 0.0, 100.0, 50.0)),
        # no spread: CI collapses onto the mean
        ([50.0] * 4, 50.0, 5.0, TouchPointStats(4, 50.0, 0.0, 50.0, 50.0, 50.0)),
        # ten 90s against a prior of 60: (10*90 + 5*60) / 15 = 80
        ([90.0] * 10, 60.0, 5.0, TouchPointStats(10, 90.0, 0.0, 90.0, 90.0, 80.0)),
        # no prior: the mean is used, i.e. no shrinkage
        ([40.0, 60.0], None, 5.0, TouchPointStats(2, 50.0, math.sqrt(200), 30.4, 69.6, 50.0)),
        # k = 0: no shrinkage either
        ([80.0], 20.0, 0.0, TouchPointStats(1, 80.0, None, None, None, 80.0)),
    ],
)
def test_touch_point_stats_worked_examples(
    scores: list[float], prior: float | None, k: float, expected: TouchPointStats
) -> None:
    got = touch_point_stats(scores, prior=prior, k=k)
    assert got.n == expected.n
    for field in ("mean", "sd", "ci_low", "ci_high", "smoothed"):
        assert close(getattr(got, field), getattr(expected, field)), field


def test_touch_point_stats_defaults_to_k_5() -> None:
    # (1*100 + 5*40) / 6 = 50
    assert close(touch_point_stats([100.0], prior=40.0).smoothed, 50.0)


@pytest.mark.parametrize(
    ("scores", "prior", "k"),
    [([101.0], 50.0, 5.0), ([-1.0], 50.0, 5.0), ([math.nan], 50.0, 5.0), ([50.0], 50.0, -1.0)],
)
def test_touch_point_stats_rejects_impossible_inputs(
    scores: list[float], prior: float, k: float
) -> None:
    with pytest.raises(ValueError):
        touch_point_stats(scores, prior=prior, k=k)


@pytest.mark.parametrize(
    ("values", "expected"), [([], None), ([1.0, 2.0, 6.0], 3.0), ((x for x in [4.0]), 4.0)]
)
def test_mean_or_none(values: list[float], expected: float | None) -> None:
    assert close(mean_or_none(values), expected)


priors = st.one_of(st.none(), score_values)
ks = st.floats(min_value=0, max_value=50)


@given(score_lists, priors, ks)
def test_touch_point_statistics_stay_in_0_to_100(
    scores: list[float], prior: float | None, k: float
) -> None:
    stats = touch_point_stats(scores, prior=prior, k=k)
    assert stats.n == len(scores)
    for value in (stats.mean, stats.smoothed, stats.ci_low, stats.ci_high):
        assert value is None or 0.0 <= value <= 100.0
    if stats.ci_low is not None:
        assert stats.ci_high is not None and stats.mean is not None
        assert stats.ci_low <= stats.mean <= stats.ci_high
    assert (stats.mean is None) == (not scores)
    assert (stats.sd is None) == (stats.ci_low is None) == (len(scores) < 2)


@given(st.lists(score_values, min_size=1, max_size=30), priors, ks)
def test_smoothed_lies_between_mean_and_prior(
    scores: list[float], prior: float | None, k: float
) -> None:
    stats = touch_point_stats(scores, prior=prior, k=k)
    assert stats.mean is not None and stats.smoothed is not None
    anchor = stats.mean if prior is None else prior
    assert min(stats.mean, anchor) - TIGHT <= stats.smoothed <= max(stats.mean, anchor) + TIGHT


@given(
    st.lists(score_values, min_size=1, max_size=30),
    score_values,
    st.integers(min_value=1, max_value=30),
    st.floats(min_value=0.1, max_value=50),
)
def test_evaluations_at_the_prior_never_pull_the_smoothed_score_away_from_it(
    scores: list[float], prior: float, extra: int, k: float
) -> None:
    before = touch_point_stats(scores, prior=prior, k=k).smoothed
    after = touch_point_stats(scores + [prior] * extra, prior=prior, k=k).smoothed
    assert before is not None and after is not None
    assert abs(after - prior) <= abs(before - prior) + TIGHT


@given(st.lists(score_values, min_size=2, max_size=30), priors)
def test_doubling_a_stable_set_of_scores_never_widens_the_ci(
    scores: list[float], prior: float | None
) -> None:
    once = touch_point_stats(scores, prior=prior)
    twice = touch_point_stats(scores + scores, prior=prior)
    assert once.ci_low is not None and once.ci_high is not None
    assert twice.ci_low is not None and twice.ci_high is not None
    assert close(twice.mean, once.mean)
    assert twice.ci_low >= once.ci_low - TIGHT
    assert twice.ci_high <= once.ci_high + TIGHT


# ---------------------------------------------------------------------------
# criterion_means
# ---------------------------------------------------------------------------


def test_criterion_means_ignore_not_applicable_answers() -> None:
    rows: list[tuple[str, float | None]] = [
        ("greeting", 100.0),
        ("wait", None),
        ("greeting", 50.0),
        ("farewell", None),
        ("farewell", None),
        ("wait", 25.0),
    ]
    got = criterion_means(rows)
    # greeting: (100 + 50) / 2; wait: only 25 counts; farewell: only N/A
    assert list(got) == ["greeting", "wait", "farewell"]
    assert got["greeting"][0] == 2
    assert close(got["greeting"][1], 75.0)
    assert got["wait"][0] == 1
    assert close(got["wait"][1], 25.0)
    assert got["farewell"] == (0, None)
    assert criterion_means([]) == {}


# ---------------------------------------------------------------------------
# journey_score
# ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("items", "expected"),
    [
        # (2*80 + 1*50) / 3 = 70; the touch point without data is left out
        ([(80.0, 2.0), (50.0, 1.0), (None, 5.0)], 70.0),
        ([(80.0, 0.0), (40.0, 1.0)], 40.0),
        ([(80.0, 0.0)], None),
        ([(None, 1.0)], None),
        ([], None),
    ],
)
def test_journey_score_worked_examples(
    items: list[tuple[float | None, float]], expected: float | None
) -> None:
    assert close(journey_score(items), expected)


def test_journey_score_rejects_negative_importance() -> None:
    with pytest.raises(ValueError):
        journey_score([(50.0, -1.0)])


@given(
    st.lists(
        st.tuples(st.one_of(st.none(), score_values), st.floats(min_value=0.01, max_value=10)),
        max_size=20,
    )
)
def test_journey_score_stays_in_0_to_100_between_its_touch_points(
    items: list[tuple[float | None, float]],
) -> None:
    s = journey_score(items)
    scored = [sm for sm, _ in items if sm is not None]
    assert (s is None) == (not scored)
    if s is not None:
        assert 0.0 <= s <= 100.0
        assert min(scored) - TIGHT <= s <= max(scored) + TIGHT


# ---------------------------------------------------------------------------
# status, priority, weak links
# ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "expected"),
    [
        ({"n": 4, "smoothed": 99.0}, INSUFFICIENT_DATA),  # too few, however good
        ({"n": 0, "smoothed": None, "min_n": 0}, INSUFFICIENT_DATA),
        ({"n": 5, "smoothed": 80.0}, MEETS),  # exactly on target
        ({"n": 5, "smoothed": 95.0}, MEETS),
        ({"n": 5, "smoothed": 79.99}, AT_RISK),
        ({"n": 5, "smoothed": 70.0}, AT_RISK),  # exactly target - 10
        ({"n": 5, "smoothed": 69.99}, WEAK_LINK),
        ({"n": 50, "smoothed": 10.0}, WEAK_LINK),
        ({"n": 5, "smoothed": 74.0, "at_risk_band": 5.0}, WEAK_LINK),
        ({"n": 3, "smoothed": 10.0, "min_n": 3}, WEAK_LINK),
    ],
)
def test_status_against_a_target_of_80(kwargs: dict[str, float], expected: str) -> None:
    assert status(target=80.0, **kwargs) == expected  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("kwargs", "expected"),
    [
        # (80 - 60) * 2 = 40
        ({"target": 80.0, "smoothed": 60.0, "importance": 2.0, "is_last": False}, 40.0),
        # (80 - 60) * 2 * 1.5 = 60
        ({"target": 80.0, "smoothed": 60.0, "importance": 2.0, "is_last": True}, 60.0),
        # above target: negative priority
        ({"target": 80.0, "smoothed": 90.0, "importance": 1.0, "is_last": False}, -10.0),
    ],
)
def test_priority_worked_examples(kwargs: dict[str, object], expected: float) -> None:
    assert priority(**kwargs) == pytest.approx(expected, abs=TIGHT)  # type: ignore[arg-type]


@given(score_values, score_values, st.floats(min_value=0, max_value=10))
def test_the_last_touch_point_weighs_one_and_a_half_times(
    target: float, smoothed: float, importance: float
) -> None:
    last = priority(target=target, smoothed=smoothed, importance=importance, is_last=True)
    other = priority(target=target, smoothed=smoothed, importance=importance, is_last=False)
    assert math.isclose(last, 1.5 * other, rel_tol=1e-12, abs_tol=1e-12)


def test_rank_weak_links_worked_example() -> None:
    items = [
        # (80 - 50) * 1 = 30
        WeakLinkInput("a", n=10, smoothed=50.0, target=80.0, importance=1.0, is_last=False),
        # too few evaluations: a blind spot, never a weak link
        WeakLinkInput("b", n=3, smoothed=10.0, target=80.0, importance=5.0, is_last=False),
        # (80 - 65) * 3 * 1.5 = 67.5
        WeakLinkInput("c", n=8, smoothed=65.0, target=80.0, importance=3.0, is_last=True),
        # 5 below target: at risk, not a weak link
        WeakLinkInput("d", n=20, smoothed=75.0, target=80.0, importance=9.0, is_last=False),
        # (80 - 60) * 1.5 = 30: ties with "a", which came first
        WeakLinkInput("e", n=6, smoothed=60.0, target=80.0, importance=1.5, is_last=False),
        WeakLinkInput("f", n=0, smoothed=None, target=80.0, importance=1.0, is_last=False),
    ]
    weak, blind = rank_weak_links(items)
    assert [w.key for w in weak] == ["c", "a", "e"]
    assert [w.priority for w in weak] == pytest.approx([67.5, 30.0, 30.0], abs=TIGHT)
    assert [w.gap for w in weak] == pytest.approx([15.0, 30.0, 20.0], abs=TIGHT)
    assert all(isinstance(w, WeakLink) for w in weak)
    assert blind == ["b", "f"]


@st.composite
def weak_link_inputs(draw: st.DrawFn) -> list[WeakLinkInput[int]]:
    items = []
    for key in range(draw(st.integers(min_value=0, max_value=15))):
        n = draw(st.integers(min_value=0, max_value=12))
        items.append(
            WeakLinkInput(
                key,
                n=n,
                smoothed=None if n == 0 else draw(score_values),
                target=draw(st.sampled_from([60.0, 75.0, 80.0, 90.0])),
                importance=draw(st.sampled_from([0.5, 1.0, 2.0, 3.0])),
                is_last=draw(st.booleans()),
            )
        )
    return items


@given(weak_link_inputs(), st.integers(min_value=1, max_value=8))
def test_weak_links_exclude_insufficient_data_and_are_sorted_by_priority(
    items: list[WeakLinkInput[int]], min_n: int
) -> None:
    weak, blind = rank_weak_links(items, min_n=min_n)
    by_key = {item.key: item for item in items}
    assert blind == [item.key for item in items if item.n < min_n]
    assert all(by_key[w.key].n >= min_n for w in weak)
    expected_keys = {
        item.key
        for item in items
        if status(n=item.n, smoothed=item.smoothed, target=item.target, min_n=min_n) == WEAK_LINK
    }
    assert {w.key for w in weak} == expected_keys
    assert len(weak) == len(expected_keys)
    for first, second in itertools.pairwise(weak):
        assert first.priority >= second.priority
        if first.priority == second.priority:
            assert first.key < second.key  # keys are in input order
    for w in weak:
        item = by_key[w.key]
        assert item.smoothed is not None
        assert close(w.gap, item.target - item.smoothed)
        assert w.gap > 10.0


# ---------------------------------------------------------------------------
# Trend
# ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("dt", "expected"),
    [
        (datetime(2024, 1, 3, 12, 0, tzinfo=UTC), date(2024, 1, 1)),  # Wednesday
        (datetime(2024, 1, 7, 23, 30, tzinfo=UTC), date(2024, 1, 1)),  # Sunday night
        (datetime(2024, 1, 8, 0, 0, tzinfo=UTC), date(2024, 1, 8)),  # Monday midnight
        # Monday 00:30 at +02:00 is still Sunday 22:30 in UTC
        (datetime(2024, 1, 8, 0, 30, tzinfo=timezone(timedelta(hours=2))), date(2024, 1, 1)),
        # Sunday 20:00 at -05:00 is already Monday 01:00 in UTC
        (datetime(2024, 1, 7, 20, 0, tzinfo=timezone(timedelta(hours=-5))), date(2024, 1, 8)),
        # ISO week across the new year
        (datetime(2020, 12, 31, 9, 0, tzinfo=UTC), date(2020, 12, 28)),
    ],
)
def test_week_start_is_the_utc_monday(dt: datetime, expected: date) -> None:
    assert week_start(dt) == expected


def test_week_start_rejects_naive_datetimes() -> None:
    with pytest.raises(ValueError):
        week_start(datetime(2024, 1, 3, 12, 0))  # noqa: DTZ001 - naive on purpose


def test_weekly_trend_worked_example() -> None:
    until = datetime(2024, 3, 13, 10, 0, tzinfo=UTC)  # a Wednesday
    points = [
        (datetime(2024, 2, 26, 9, 0, tzinfo=UTC), 60.0),
        (datetime(2024, 2, 28, 9, 0, tzinfo=UTC), 80.0),
        (datetime(2024, 3, 12, 9, 0, tzinfo=UTC), 90.0),
        (datetime(2024, 2, 25, 9, 0, tzinfo=UTC), 0.0),  # Sunday before: too old
        (datetime(2024, 3, 18, 9, 0, tzinfo=UTC), 0.0),  # week after until
    ]
    assert weekly_trend(points, until=until, weeks=3) == [
        WeekPoint(date(2024, 2, 26), 2, 70.0),  # (60 + 80) / 2
        WeekPoint(date(2024, 3, 4), 0, None),
        WeekPoint(date(2024, 3, 11), 1, 90.0),
    ]


def test_weekly_trend_rejects_an_empty_range() -> None:
    with pytest.raises(ValueError):
        weekly_trend([], until=datetime(2024, 3, 13, tzinfo=UTC), weeks=0)


@given(
    st.lists(
        st.tuples(
            st.datetimes(
                min_value=POINTS_FROM,
                max_value=POINTS_TO,
                timezones=st.just(UTC),
            ),
            score_values,
        ),
        max_size=40,
    ),
    st.datetimes(min_value=UNTIL_FROM, max_value=UNTIL_TO, timezones=st.just(UTC)),
    st.integers(min_value=1, max_value=20),
)
def test_weekly_trend_has_one_entry_per_consecutive_week_ending_at_until(
    points: list[tuple[datetime, float]], until: datetime, weeks: int
) -> None:
    trend = weekly_trend(points, until=until, weeks=weeks)
    assert len(trend) == weeks
    assert trend[-1].week_start == week_start(until)
    assert all(p.week_start.weekday() == 0 for p in trend)
    assert all(
        b.week_start - a.week_start == timedelta(days=7) for a, b in itertools.pairwise(trend)
    )
    first = trend[0].week_start
    inside = [s for when, s in points if first <= week_start(when) <= trend[-1].week_start]
    assert sum(p.n for p in trend) == len(inside)
    for p in trend:
        assert (p.mean is None) == (p.n == 0)
        assert p.mean is None or 0.0 <= p.mean <= 100.0


@pytest.mark.parametrize(
    ("current", "previous", "expected"),
    [
        (80.0, 70.0, 10.0),
        (60.0, 72.5, -12.5),
        (None, 70.0, None),
        (70.0, None, None),
        (None, None, None),
    ],
)
def test_trend_change(
    current: float | None, previous: float | None, expected: float | None
) -> None:
    assert close(trend_change(current_mean=current, previous_mean=previous), expected)


# ---------------------------------------------------------------------------
# Perception gap
# ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("scores_by_source", "min_n", "expected"),
    [
        # internal pooled: 3*90 + 2*80 = 430 / 5 = 86;
        # customer pooled: 4*70 + 60 = 340 / 5 = 68; gap 86 - 68 = 18
        (
            {
                "self_check": [90.0] * 3,
                "audit": [80.0] * 2,
                "mystery_shopper": [70.0] * 4,
                "customer_survey": [60.0],
                "unknown_source": [0.0] * 10,  # neither side: ignored
            },
            5,
            18.0,
        ),
        # only 4 internal scores: not enough
        ({"supervisor": [90.0] * 4, "customer_survey": [60.0] * 9}, 5, None),
        # only 4 customer-side scores: not enough either
        (
            {
                "supervisor": [90.0] * 9,
                "customer_survey": [60.0] * 2,
                "mystery_shopper": [60.0] * 2,
            },
            5,
            None,
        ),
        # customers rate it higher: negative gap, (50) - (70 + 90) / 2
        ({"supervisor": [50.0], "mystery_shopper": [70.0], "customer_survey": [90.0]}, 1, -30.0),
        ({"supervisor": [50.0]}, 0, None),
        ({}, 5, None),
    ],
)
def test_perception_gap_worked_examples(
    scores_by_source: dict[str, list[float]], min_n: int, expected: float | None
) -> None:
    assert close(perception_gap(scores_by_source, min_n=min_n), expected)
