"""Worked examples and properties of action verification (PRODUCT.md method step 9)."""

from __future__ import annotations

import math
import statistics
from datetime import UTC, date, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from scoring.verification import (
    DEFAULT_REVIEW_DAYS,
    DONE,
    NOT_SHOWN_TO_WORK,
    OPENED,
    VERIFIED,
    VERIFYING,
    Evidence,
    evidence_low,
    is_overdue,
    review_ends,
    verdict,
)

DONE_AT = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def evidence_of(scores: list[float]) -> Evidence:
    n = len(scores)
    return Evidence(
        n=n,
        mean=statistics.fmean(scores) if n else None,
        sd=statistics.stdev(scores) if n >= 2 else None,
    )


# (case, baseline mean, evidence scores, days after done, min_n, expected)
WORKED = [
    ("nothing observed yet", 50.0, [], 1, 5, DONE),
    ("some evidence, too little", 50.0, [90, 90, 90], 3, 5, VERIFYING),
    # mean 80, sd 0 -> interval 80..80, above 50
    ("five clear improvements", 50.0, [80, 80, 80, 80, 80], 5, 5, VERIFIED),
    # mean 70, sd 30, half width 1.96*30/sqrt(5) = 26.3 -> low 43.7 < 50
    ("better mean, too noisy", 50.0, [40, 40, 70, 100, 100], 5, 5, VERIFYING),
    # twice the evidence: sd 28.28, half width 1.96*28.28/sqrt(10) = 17.5 -> low 52.5 > 50
    ("same noise, more evidence", 50.0, [40, 40, 70, 100, 100] * 2, 9, 5, VERIFIED),
    ("unchanged scores", 50.0, [50, 50, 50, 50, 50, 50], 10, 5, VERIFYING),
    ("unchanged at review end", 50.0, [50, 50, 50, 50, 50, 50], 30, 5, NOT_SHOWN_TO_WORK),
    ("nothing at review end", 50.0, [], 31, 5, NOT_SHOWN_TO_WORK),
    ("low end equal to baseline is not above it", 80.0, [80, 80, 80, 80, 80], 5, 5, VERIFYING),
    ("verified even when judged after review end", 50.0, [80] * 5, 45, 5, VERIFIED),
    ("no baseline mean to beat", None, [100] * 8, 5, 5, VERIFYING),
    ("no baseline, review over", None, [100] * 8, 30, 5, NOT_SHOWN_TO_WORK),
    ("min_n 1, one evaluation has no interval", 10.0, [100], 2, 1, VERIFYING),
    ("min_n 1, two evaluations", 10.0, [100, 100], 2, 1, VERIFIED),
    ("perfect baseline cannot be beaten", 100.0, [100] * 20, 5, 5, VERIFYING),
]


@pytest.mark.parametrize(
    ("case", "baseline", "scores", "days", "min_n", "expected"),
    WORKED,
    ids=[row[0] for row in WORKED],
)
def test_worked_examples(
    case: str,
    baseline: float | None,
    scores: list[float],
    days: int,
    min_n: int,
    expected: str,
) -> None:
    got = verdict(
        baseline_mean=baseline,
        evidence=evidence_of([float(s) for s in scores]),
        done_at=DONE_AT,
        now=DONE_AT + timedelta(days=days),
        min_n=min_n,
    )
    assert got == expected


def test_evidence_low_is_the_method_interval() -> None:
    ev = evidence_of([40.0, 40.0, 70.0, 100.0, 100.0])
    assert ev.sd is not None
    assert evidence_low(ev) == pytest.approx(70.0 - 1.96 * ev.sd / math.sqrt(5), abs=1e-9)
    assert evidence_low(evidence_of([55.0])) is None
    assert evidence_low(evidence_of([])) is None


def test_review_period_defaults_to_thirty_days() -> None:
    assert DEFAULT_REVIEW_DAYS == 30
    assert review_ends(DONE_AT) == DONE_AT + timedelta(days=30)
    with pytest.raises(ValueError, match="review_days"):
        review_ends(DONE_AT, 0)


def test_min_n_below_one_is_a_caller_bug() -> None:
    with pytest.raises(ValueError, match="min_n"):
        verdict(baseline_mean=1.0, evidence=evidence_of([]), done_at=DONE_AT, now=DONE_AT, min_n=0)


@pytest.mark.parametrize(
    ("state", "due", "today", "overdue"),
    [
        (OPENED, date(2026, 3, 1), date(2026, 3, 2), True),
        (OPENED, date(2026, 3, 1), date(2026, 3, 1), False),  # the due day is not late
        (OPENED, None, date(2030, 1, 1), False),
        (DONE, date(2026, 3, 1), date(2026, 4, 1), False),
        (VERIFYING, date(2026, 3, 1), date(2026, 4, 1), False),
    ],
)
def test_overdue_only_while_not_done(
    state: str, due: date | None, today: date, overdue: bool
) -> None:
    assert is_overdue(state=state, due=due, today=today) is overdue


# --- Properties -----------------------------------------------------------------------------

scores = st.lists(st.floats(min_value=0, max_value=100, allow_nan=False), max_size=40)
baselines = st.none() | st.floats(min_value=0, max_value=100, allow_nan=False)
days = st.integers(min_value=0, max_value=90)


@given(baseline=baselines, sample=scores, day=days, min_n=st.integers(1, 10))
def test_verified_exactly_when_the_rule_holds(
    baseline: float | None, sample: list[float], day: int, min_n: int
) -> None:
    ev = evidence_of(sample)
    got = verdict(
        baseline_mean=baseline,
        evidence=ev,
        done_at=DONE_AT,
        now=DONE_AT + timedelta(days=day),
        min_n=min_n,
    )
    low = evidence_low(ev)
    rule = baseline is not None and ev.n >= min_n and low is not None and low > baseline
    assert (got == VERIFIED) is rule
    if not rule:
        assert got == (NOT_SHOWN_TO_WORK if day >= 30 else (VERIFYING if ev.n else DONE))


@given(baseline=baselines, sample=scores, day=days)
def test_a_verdict_only_moves_forward_in_time(
    baseline: float | None, sample: list[float], day: int
) -> None:
    """With the same evidence, a later judgement is never less final than an earlier one."""
    ev = evidence_of(sample)
    order = {DONE: 0, VERIFYING: 0, VERIFIED: 1, NOT_SHOWN_TO_WORK: 1}
    earlier = verdict(
        baseline_mean=baseline, evidence=ev, done_at=DONE_AT, now=DONE_AT + timedelta(days=day)
    )
    later = verdict(
        baseline_mean=baseline,
        evidence=ev,
        done_at=DONE_AT,
        now=DONE_AT + timedelta(days=day + 1),
    )
    assert order[later] >= order[earlier]
    if earlier == VERIFIED:
        assert later == VERIFIED


@given(baseline=st.floats(min_value=0, max_value=99, allow_nan=False), sample=scores)
def test_lower_baseline_never_undoes_a_verification(baseline: float, sample: list[float]) -> None:
    ev = evidence_of(sample)
    now = DONE_AT + timedelta(days=3)
    if verdict(baseline_mean=baseline, evidence=ev, done_at=DONE_AT, now=now) == VERIFIED:
        lower = baseline / 2
        assert verdict(baseline_mean=lower, evidence=ev, done_at=DONE_AT, now=now) == VERIFIED
