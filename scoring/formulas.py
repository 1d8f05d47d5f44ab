"""Reference definition of the Touchstone scoring method (version 1) as pure functions.

Everything the product reports as a score is defined here, on a 0..100 scale,
without Django or the database. Other implementations (the SQL aggregation in
particular) are tested against these functions to 1e-9, so when the method
changes, it changes here first and ``METHOD_VERSION`` is bumped.

The chain of the method is:

1. ``answer_score``      one answer to one criterion        -> 0..100 or N/A
2. ``evaluation_score``  one evaluation (all its answers)    -> 0..100 or N/A
3. ``touch_point_stats`` all evaluation scores of a touch point in the window
                         -> n, mean, sd, 95 % CI, smoothed score
4. ``journey_score``     smoothed touch point scores         -> journey score
5. ``status`` / ``priority`` / ``rank_weak_links``           -> what to fix first
6. ``weekly_trend`` / ``trend_change`` / ``perception_gap``   -> context views
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Callable, Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Generic, TypeVar

__all__ = [
    "AT_RISK",
    "CUSTOMER_SOURCES",
    "DEFAULT_AT_RISK_BAND",
    "DEFAULT_K",
    "DEFAULT_MIN_N",
    "DEFAULT_WINDOW_DAYS",
    "INSUFFICIENT_DATA",
    "INTERNAL_SOURCES",
    "LAST_IMPRESSION_FACTOR",
    "MAX_SCORE",
    "MEETS",
    "METHOD_VERSION",
    "MIN_SCORE",
    "NUMERIC",
    "RUBRIC_KINDS",
    "SCALE",
    "WEAK_LINK",
    "YES_NO",
    "Z_95",
    "Rubric",
    "TouchPointStats",
    "WeakLink",
    "WeakLinkInput",
    "WeekPoint",
    "answer_score",
    "clip",
    "criterion_means",
    "evaluation_score",
    "journey_score",
    "mean_or_none",
    "perception_gap",
    "priority",
    "rank_by_priority",
    "rank_weak_links",
    "status",
    "touch_point_stats",
    "trend_change",
    "week_start",
    "weekly_trend",
]

K = TypeVar("K", bound=Hashable)
T = TypeVar("T")

# --------------------------------------------------------------------------
# Method parameters
# --------------------------------------------------------------------------

METHOD_VERSION = 1

MIN_SCORE = 0.0
MAX_SCORE = 100.0

#: Pseudo-count of the shrinkage towards the prior: a touch point needs about
#: this many evaluations before its own data outweighs the prior.
DEFAULT_K = 5.0
#: Below this many scored evaluations a touch point is "insufficient data".
DEFAULT_MIN_N = 5
#: Length of the default reporting window, in days.
DEFAULT_WINDOW_DAYS = 90
#: How far (in score points) below target a touch point is "at risk" rather
#: than a "weak link".
DEFAULT_AT_RISK_BAND = 10.0
#: Normal quantile for a two-sided 95 % confidence interval.
Z_95 = 1.96
#: The last touch point of a journey is what customers remember (peak-end
#: effect), so its shortfall weighs 1.5 times as much in the priority.
LAST_IMPRESSION_FACTOR = 1.5

# Rubric kinds.
SCALE = "scale"
YES_NO = "yes_no"
NUMERIC = "numeric"
RUBRIC_KINDS = (SCALE, YES_NO, NUMERIC)

# Touch point statuses.
INSUFFICIENT_DATA = "insufficient_data"
MEETS = "meets"
AT_RISK = "at_risk"
WEAK_LINK = "weak_link"

# Evaluation sources, split by whose eyes they see the touch point with.
INTERNAL_SOURCES = ("self_check", "supervisor", "audit")
CUSTOMER_SOURCES = ("mystery_shopper", "customer_survey")


def clip(x: float) -> float:
    """Clip ``x`` to ``[MIN_SCORE, MAX_SCORE]``.

    Weighted means of values in 0..100 are mathematically in 0..100, but
    floating-point rounding can overshoot by an ulp; clipping keeps the
    documented range a hard guarantee without changing any value by more than
    that rounding error.
    """
    return min(MAX_SCORE, max(MIN_SCORE, x))


def _check_score(x: float) -> None:
    if not (MIN_SCORE <= x <= MAX_SCORE):  # also rejects NaN
        raise ValueError(f"score {x!r} is outside {MIN_SCORE}..{MAX_SCORE}")


# --------------------------------------------------------------------------
# 1-2. Answers
# --------------------------------------------------------------------------


@dataclass(frozen=True)
class Rubric:
    """How the answers to one criterion are scored.

    * ``kind``: ``SCALE``, ``YES_NO`` or ``NUMERIC``.
    * ``weight``: relative weight of the criterion within an evaluation (> 0).
    * ``critical``: a critical criterion that scores 0 zeroes the whole
      evaluation (e.g. "the customer was greeted" failing means the visit
      failed, however good the rest was).
    * ``scale_size``: K for a 1..K scale (>= 2).
    * ``target`` / ``worst``: for ``NUMERIC`` only (ignored otherwise), the
      measured value that earns 100 and the one that earns 0; which one is
      larger decides whether lower or higher values are better.
    """

    kind: str
    weight: float
    critical: bool = False
    scale_size: int = 5
    target: float | None = None
    worst: float | None = None

    def __post_init__(self) -> None:
        if self.kind not in RUBRIC_KINDS:
            raise ValueError(f"unknown rubric kind {self.kind!r}")
        if not (math.isfinite(self.weight) and self.weight > 0):
            raise ValueError(f"rubric weight must be finite and > 0, got {self.weight!r}")
        if self.kind == SCALE and self.scale_size < 2:
            raise ValueError(f"scale_size must be >= 2, got {self.scale_size!r}")
        if self.kind == NUMERIC:
            if self.target is None or self.worst is None:
                raise ValueError("a numeric rubric needs both target and worst")
            if not (math.isfinite(self.target) and math.isfinite(self.worst)):
                raise ValueError("numeric target and worst must be finite")
            if self.target == self.worst:
                raise ValueError("numeric target and worst must differ")


def answer_score(rubric: Rubric, value: float | None) -> float | None:
    """Score one answer on 0..100; ``None`` means "not applicable".

    * not applicable (``value is None``) -> ``None``
    * ``SCALE`` 1..K:  ``(v - 1) / (K - 1) * 100``; v must be an integer in 1..K
    * ``YES_NO``:      1 -> 100, 0 -> 0; nothing else is allowed
    * ``NUMERIC``:     100 at or better than ``target``, 0 at or worse than
      ``worst``, linear in between:

      - ``target < worst`` (lower is better):
        ``clip((worst - v) / (worst - target) * 100, 0, 100)``
      - ``target > worst`` (higher is better):
        ``clip((v - worst) / (target - worst) * 100, 0, 100)``

    Out-of-range scale or yes/no values are a caller bug (the form should not
    let them through), so they raise ``ValueError`` rather than being clipped.
    """
    if value is None:
        return None
    if math.isnan(value):
        raise ValueError("answer value is NaN")
    if rubric.kind == SCALE:
        k = rubric.scale_size
        if not (1 <= value <= k) or value != int(value):
            raise ValueError(f"scale answer {value!r} is not an integer in 1..{k}")
        return (value - 1) / (k - 1) * MAX_SCORE
    if rubric.kind == YES_NO:
        if value == 1:
            return MAX_SCORE
        if value == 0:
            return MIN_SCORE
        raise ValueError(f"yes/no answer must be 0 or 1, got {value!r}")
    target, worst = rubric.target, rubric.worst
    if target is None or worst is None:  # pragma: no cover - __post_init__ rules it out
        raise ValueError("a numeric rubric needs both target and worst")
    if target < worst:
        raw = (worst - value) / (worst - target) * MAX_SCORE
    else:
        raw = (value - worst) / (target - worst) * MAX_SCORE
    return clip(raw)


def evaluation_score(answers: Sequence[tuple[Rubric, float | None]]) -> float | None:
    """Score one evaluation from its ``(rubric, answer value)`` pairs.

    ``score = sum(w_i * s_i) / sum(w_i)`` over the *answered* criteria only
    (those whose answer score ``s_i`` is not ``None``), i.e. the weights are
    renormalised over what was applicable, so "not applicable" never moves
    the score.

    If any critical criterion scores exactly 0 the evaluation scores 0.0
    (a critical criterion answered "not applicable" does not trigger this).

    With no applicable answer at all the result is ``None``: such an
    evaluation is not scored and callers count it apart.
    """
    weighted_sum = 0.0
    weight_total = 0.0
    critical_failed = False
    for rubric, value in answers:
        s = answer_score(rubric, value)
        if s is None:
            continue
        if rubric.critical and s == MIN_SCORE:
            critical_failed = True
        weighted_sum += rubric.weight * s
        weight_total += rubric.weight
    if weight_total == 0.0:
        return None
    if critical_failed:
        return MIN_SCORE
    return clip(weighted_sum / weight_total)


# --------------------------------------------------------------------------
# 3-5. Touch points and criteria
# --------------------------------------------------------------------------


@dataclass(frozen=True)
class TouchPointStats:
    """Summary of a touch point's evaluation scores in a window.

    See ``touch_point_stats`` for the definition of each field.
    """

    n: int
    mean: float | None
    sd: float | None
    ci_low: float | None
    ci_high: float | None
    smoothed: float | None


def mean_or_none(values: Iterable[float]) -> float | None:
    """Arithmetic mean of ``values`` (``math.fsum`` based), ``None`` if empty."""
    vals = list(values)
    if not vals:
        return None
    return statistics.fmean(vals)


def touch_point_stats(
    scores: Sequence[float], *, prior: float | None, k: float = DEFAULT_K
) -> TouchPointStats:
    """Describe the scored evaluations of one touch point in a window.

    ``scores`` are the evaluation scores that are not ``None`` (each in 0..100).

    * ``n``     = ``len(scores)``
    * ``mean``  = ``sum(scores) / n``; ``None`` if n = 0
    * ``sd``    = sample standard deviation,
      ``sqrt(sum((x - mean)^2) / (n - 1))``; ``None`` if n < 2
    * ``ci_low`` / ``ci_high`` = ``mean -/+ Z_95 * sd / sqrt(n)`` with
      ``Z_95 = 1.96``, each clipped to 0..100; ``None`` if n < 2
    * ``smoothed`` = ``(n * mean + k * prior) / (n + k)``; ``None`` if n = 0.
      This shrinks small samples towards the prior (a few lucky or unlucky
      visits should not make a touch point look best or worst). If ``prior``
      is ``None`` the mean is used as the prior, i.e. no shrinkage.

    ``k`` must be >= 0 (0 disables the shrinkage).
    """
    for x in scores:
        _check_score(x)
    n = len(scores)
    return stats_from_aggregates(
        n=n,
        mean=mean_or_none(scores),
        sd=statistics.stdev(scores) if n >= 2 else None,
        prior=prior,
        k=k,
    )


def stats_from_aggregates(
    *, n: int, mean: float | None, sd: float | None, prior: float | None, k: float = DEFAULT_K
) -> TouchPointStats:
    """``touch_point_stats`` from the aggregates the database computes (count, avg,
    stddev_samp) instead of the scores themselves: the production path's entry point,
    so both paths share every formula after the aggregation."""
    if not (math.isfinite(k) and k >= 0):
        raise ValueError(f"k must be finite and >= 0, got {k!r}")
    if prior is not None:
        _check_score(prior)
    if n == 0 or mean is None:
        return TouchPointStats(n=0, mean=None, sd=None, ci_low=None, ci_high=None, smoothed=None)
    mean = clip(mean)
    effective_prior = mean if prior is None else prior
    smoothed = clip((n * mean + k * effective_prior) / (n + k))
    if n < 2 or sd is None:
        return TouchPointStats(
            n=n, mean=mean, sd=None, ci_low=None, ci_high=None, smoothed=smoothed
        )
    half_width = Z_95 * sd / math.sqrt(n)
    return TouchPointStats(
        n=n,
        mean=mean,
        sd=sd,
        ci_low=clip(mean - half_width),
        ci_high=clip(mean + half_width),
        smoothed=smoothed,
    )


def criterion_means(
    rows: Iterable[tuple[K, float | None]],
) -> dict[K, tuple[int, float | None]]:
    """Per criterion: how often it was answered and its mean answer score.

    ``rows`` are ``(criterion key, answer score)`` pairs. Answer scores that
    are ``None`` ("not applicable") are ignored, so the result maps each key
    to ``(n answered, mean of the answered scores)``; a criterion seen only
    with "not applicable" answers maps to ``(0, None)``. Keys keep the order
    of their first appearance.
    """
    collected: dict[K, list[float]] = {}
    for key, score in rows:
        bucket = collected.setdefault(key, [])
        if score is not None:
            bucket.append(score)
    return {key: (len(vals), mean_or_none(vals)) for key, vals in collected.items()}


def journey_score(items: Sequence[tuple[float | None, float]]) -> float | None:
    """Importance-weighted mean of the touch points' smoothed scores.

    ``items`` are ``(smoothed score, importance)`` per touch point.
    ``score = sum(importance_i * smoothed_i) / sum(importance_i)`` over the
    items whose smoothed score is not ``None`` (touch points without data
    neither help nor hurt the journey). ``None`` if no such item, or if their
    importances sum to 0 (there is then no weighted mean to take).
    Importances must be >= 0.
    """
    weighted_sum = 0.0
    weight_total = 0.0
    for smoothed, importance in items:
        if not (math.isfinite(importance) and importance >= 0):
            raise ValueError(f"importance must be finite and >= 0, got {importance!r}")
        if smoothed is None:
            continue
        _check_score(smoothed)
        weighted_sum += importance * smoothed
        weight_total += importance
    if weight_total == 0.0:
        return None
    return clip(weighted_sum / weight_total)


# --------------------------------------------------------------------------
# 7-9. Status, priority, weak links
# --------------------------------------------------------------------------


def status(
    *,
    n: int,
    smoothed: float | None,
    target: float,
    min_n: int = DEFAULT_MIN_N,
    at_risk_band: float = DEFAULT_AT_RISK_BAND,
) -> str:
    """Classify a touch point against its target.

    * ``n < min_n`` (or no smoothed score)  -> ``INSUFFICIENT_DATA``
    * ``smoothed >= target``                -> ``MEETS``
    * ``smoothed >= target - at_risk_band`` -> ``AT_RISK``
    * otherwise                             -> ``WEAK_LINK``
    """
    if n < min_n or smoothed is None:
        return INSUFFICIENT_DATA
    if smoothed >= target:
        return MEETS
    if smoothed >= target - at_risk_band:
        return AT_RISK
    return WEAK_LINK


def priority(*, target: float, smoothed: float, importance: float, is_last: bool) -> float:
    """How urgently a touch point needs fixing.

    ``priority = (target - smoothed) * importance * f`` where
    ``f = LAST_IMPRESSION_FACTOR`` (1.5) for the last touch point of the
    journey and 1 otherwise: the size of the shortfall, weighted by how much
    the touch point matters, with the final impression counting extra.
    """
    factor = LAST_IMPRESSION_FACTOR if is_last else 1.0
    return (target - smoothed) * importance * factor


@dataclass(frozen=True)
class WeakLinkInput(Generic[K]):
    """One touch point as ``rank_weak_links`` sees it."""

    key: K
    n: int
    smoothed: float | None
    target: float
    importance: float
    is_last: bool


@dataclass(frozen=True)
class WeakLink(Generic[K]):
    """A touch point classified ``WEAK_LINK``: ``gap = target - smoothed``."""

    key: K
    priority: float
    gap: float


def rank_weak_links(
    items: Sequence[WeakLinkInput[K]],
    *,
    min_n: int = DEFAULT_MIN_N,
    at_risk_band: float = DEFAULT_AT_RISK_BAND,
) -> tuple[list[WeakLink[K]], list[K]]:
    """Return ``(weak links, blind spots)``.

    * weak links: the items whose ``status`` is ``WEAK_LINK``, as
      ``WeakLink(key, priority, gap=target - smoothed)``, sorted by priority,
      highest first; ties keep input order (stable sort).
    * blind spots: keys of the items with ``n < min_n``, in input order.
      These are never weak links: too little data to call them weak, but the
      team should know it is flying blind there.
    """
    weak: list[WeakLink[K]] = []
    blind: list[K] = []
    for item in items:
        if item.n < min_n:
            blind.append(item.key)
        st = status(
            n=item.n,
            smoothed=item.smoothed,
            target=item.target,
            min_n=min_n,
            at_risk_band=at_risk_band,
        )
        # status() is WEAK_LINK only with a smoothed score; the None check is
        # for the type checker.
        if st != WEAK_LINK or item.smoothed is None:
            continue
        weak.append(
            WeakLink(
                key=item.key,
                priority=priority(
                    target=item.target,
                    smoothed=item.smoothed,
                    importance=item.importance,
                    is_last=item.is_last,
                ),
                gap=item.target - item.smoothed,
            )
        )
    return rank_by_priority(weak, priority=lambda w: w.priority), blind


def rank_by_priority(items: Iterable[T], *, priority: Callable[[T], float]) -> list[T]:
    """The weak-link order: highest priority first; equal priorities keep their input
    order (map order), since sorted() is stable. The one ranking every read uses: the
    snapshot's, the on-demand one, a journey's and the organization's."""
    return sorted(items, key=lambda item: -priority(item))


# --------------------------------------------------------------------------
# 10. Trend
# --------------------------------------------------------------------------


@dataclass(frozen=True)
class WeekPoint:
    """One ISO week of a trend: its Monday (UTC), count and mean score."""

    week_start: date
    n: int
    mean: float | None


def week_start(dt: datetime) -> date:
    """The Monday (UTC date) of the ISO week containing ``dt``.

    ``dt`` must be timezone-aware; it is converted to UTC first so that the
    bucketing does not depend on the server's or the user's time zone.
    """
    if dt.tzinfo is None or dt.tzinfo.utcoffset(dt) is None:
        raise ValueError("week_start needs a timezone-aware datetime")
    d = dt.astimezone(UTC).date()
    return d - timedelta(days=d.weekday())


def weekly_trend(
    points: Sequence[tuple[datetime, float]],
    *,
    until: datetime,
    weeks: int = 12,
) -> list[WeekPoint]:
    """Weekly counts and means of ``(when, score)`` points.

    Returns exactly ``weeks`` entries, one per ISO week (UTC), oldest first,
    the last one being the week that contains ``until``. A point belongs to
    the week ``week_start(when)``; points whose week is not among these are
    ignored. Weeks without points have ``n = 0`` and ``mean = None``.
    """
    if weeks < 1:
        raise ValueError(f"weeks must be >= 1, got {weeks!r}")
    last = week_start(until)
    starts = [last - timedelta(weeks=weeks - 1 - i) for i in range(weeks)]
    buckets: dict[date, list[float]] = {s: [] for s in starts}
    for when, score in points:
        bucket = buckets.get(week_start(when))
        if bucket is not None:
            bucket.append(score)
    return [
        WeekPoint(week_start=s, n=len(buckets[s]), mean=mean_or_none(buckets[s])) for s in starts
    ]


def trend_change(*, current_mean: float | None, previous_mean: float | None) -> float | None:
    """``current_mean - previous_mean``; ``None`` if either is ``None``.

    The previous window is the same-length window immediately before
    ``[since, until)``; the caller computes both means with
    ``touch_point_stats``.
    """
    if current_mean is None or previous_mean is None:
        return None
    return current_mean - previous_mean


# --------------------------------------------------------------------------
# 11. Perception gap
# --------------------------------------------------------------------------


def perception_gap(
    scores_by_source: Mapping[str, Sequence[float]], *, min_n: int = DEFAULT_MIN_N
) -> float | None:
    """How much rosier the inside view is than the customer's view.

    ``gap = mean(internal scores) - mean(customer scores)``, where the
    internal side pools all scores of ``INTERNAL_SOURCES`` and the customer
    side pools all scores of ``CUSTOMER_SOURCES`` (other sources are
    ignored). Positive means the organisation rates itself higher than its
    customers do. ``None`` unless each pooled side has at least ``min_n``
    scores.
    """
    internal = [s for src in INTERNAL_SOURCES for s in scores_by_source.get(src, ())]
    customer = [s for src in CUSTOMER_SOURCES for s in scores_by_source.get(src, ())]
    return perception_gap_from_pooled(
        internal=(len(internal), mean_or_none(internal)),
        customer=(len(customer), mean_or_none(customer)),
        min_n=min_n,
    )


def pooled(parts: Iterable[tuple[int, float | None]]) -> tuple[int, float | None]:
    """Pool group means into one: ``(sum n, sum(n * mean) / sum n)`` over groups with n > 0."""
    groups = [(n, mean) for n, mean in parts if n > 0 and mean is not None]
    total = sum(n for n, _ in groups)
    if total == 0:
        return 0, None
    return total, math.fsum(n * mean for n, mean in groups) / total


def perception_gap_from_pooled(
    *,
    internal: tuple[int, float | None],
    customer: tuple[int, float | None],
    min_n: int = DEFAULT_MIN_N,
) -> float | None:
    """``perception_gap`` from each side's pooled (n, mean), as the database gives them."""
    (n_in, mean_in), (n_out, mean_out) = internal, customer
    if n_in < max(min_n, 1) or n_out < max(min_n, 1) or mean_in is None or mean_out is None:
        return None
    return mean_in - mean_out
