"""Action verification (PRODUCT.md method step 9) as pure functions.

A manager opens an action on a touch point ("greet returning customers by name"); the
action keeps the touch point's figures at that moment as its *baseline*. When the owner
marks it done at time ``t``, only evaluations *observed* after ``t`` count as evidence
that it worked. The verdict is mechanical, so a fix is never called a success on a
feeling:

* ``VERIFIED``           the evidence (observed in ``(t, t + review]``) has
                         ``n >= min_n`` and the lower end of its mean's 95 % confidence
                         interval lies strictly above the baseline mean;
* ``NOT_SHOWN_TO_WORK``  the review period (``t + review``) has ended without that;
* ``VERIFYING``          evidence is arriving but does not decide yet;
* ``DONE``               marked done and no evidence observed yet.

Before ``t`` the action is ``OPENED`` (``is_overdue`` says whether it is past its due
date). Whether the touch point now meets its *target* is a separate question, shown
beside the verdict and never mixed into it: a fix that lifted a score from 40 to 60
worked, even if the target is 80.

An action opened on a touch point without a baseline mean (no scored evaluation in the
window) has nothing to beat: it cannot be verified, and ends ``NOT_SHOWN_TO_WORK`` when
its review period is over. Evidence intervals use the same formula as every other
interval in the method (``formulas.stats_from_aggregates``; no shrinkage, k = 0).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta

from scoring import formulas

__all__ = [
    "DEFAULT_REVIEW_DAYS",
    "DONE",
    "FINAL_STATES",
    "NOT_SHOWN_TO_WORK",
    "OPENED",
    "STATES",
    "VERIFIED",
    "VERIFYING",
    "Evidence",
    "evidence_low",
    "is_overdue",
    "review_ends",
    "verdict",
]

OPENED = "opened"
DONE = "done"
VERIFYING = "verifying"
VERIFIED = "verified"
NOT_SHOWN_TO_WORK = "not_shown_to_work"
STATES = (OPENED, DONE, VERIFYING, VERIFIED, NOT_SHOWN_TO_WORK)
#: Once reached, a verdict never changes again.
FINAL_STATES = frozenset({VERIFIED, NOT_SHOWN_TO_WORK})

#: How long after "done" evidence may arrive before the action is judged not shown to work.
DEFAULT_REVIEW_DAYS = 30


@dataclass(frozen=True)
class Evidence:
    """The scored evaluations observed after the action was done, as the database
    aggregates them: count, mean and sample standard deviation (None when n < 2)."""

    n: int
    mean: float | None
    sd: float | None


NO_EVIDENCE = Evidence(n=0, mean=None, sd=None)


def evidence_low(evidence: Evidence) -> float | None:
    """Lower end of the 95 % interval of the evidence's mean,
    ``mean - 1.96 * sd / sqrt(n)`` clipped to 0..100; None when n < 2."""
    stats = formulas.stats_from_aggregates(
        n=evidence.n, mean=evidence.mean, sd=evidence.sd, prior=None, k=0.0
    )
    return stats.ci_low


def review_ends(done_at: datetime, review_days: int = DEFAULT_REVIEW_DAYS) -> datetime:
    """The end of the review period: evidence observed after it no longer counts."""
    if review_days < 1:
        raise ValueError(f"review_days must be >= 1, got {review_days!r}")
    return done_at + timedelta(days=review_days)


def verdict(
    *,
    baseline_mean: float | None,
    evidence: Evidence,
    done_at: datetime,
    now: datetime,
    min_n: int = formulas.DEFAULT_MIN_N,
    review_days: int = DEFAULT_REVIEW_DAYS,
) -> str:
    """The state of an action marked done at ``done_at``, judged at ``now``.

    ``evidence`` must be aggregated over evaluations observed in
    ``(done_at, review_ends(done_at, review_days)]``, so a late-arriving evaluation
    observed inside the review period still counts, and one observed after it never does.

    * ``VERIFIED``: ``evidence.n >= min_n`` and ``evidence_low(evidence) > baseline_mean``
    * else ``NOT_SHOWN_TO_WORK`` when ``now >= review_ends(done_at, review_days)``
    * else ``VERIFYING`` when ``evidence.n >= 1``, ``DONE`` when no evidence yet
    """
    if min_n < 1:
        raise ValueError(f"min_n must be >= 1, got {min_n!r}")
    low = evidence_low(evidence)
    if (
        baseline_mean is not None
        and evidence.n >= min_n
        and low is not None
        and low > baseline_mean
    ):
        return VERIFIED
    if now >= review_ends(done_at, review_days):
        return NOT_SHOWN_TO_WORK
    return VERIFYING if evidence.n > 0 else DONE


def is_overdue(*, state: str, due: date | None, today: date) -> bool:
    """An action is overdue when it is still open (not marked done) after its due date
    (the due day itself is not late)."""
    return state == OPENED and due is not None and today > due
