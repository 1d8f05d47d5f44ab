"""What changed between a journey's old snapshot and the one a recompute is writing.

The recompute calls ``record`` once, in its transaction, just before it overwrites the
snapshot rows: whatever crossed a line is written as a ScoreTransition with the figures
of that moment. Detection is here, beside the method, because "became a weak link" is a
statement about statuses; who hears about it (feeds, emails, webhooks) is the business of
the apps above, which read and delete the rows. A touch point or journey without an old
snapshot (its first recompute) has nothing to compare with and records nothing.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from scoring import formulas
from scoring.models import JourneyScore, ScoreTransition, TouchPointScore

if TYPE_CHECKING:
    from journeys.models import Journey
    from scoring.services import JourneyResult, TouchPointResult

WEAK_LINK_ENTERED = "weak_link.entered"
WEAK_LINK_LEFT = "weak_link.left"
BLIND_SPOT_SCORED = "blind_spot.scored"
JOURNEY_TARGET_CROSSED = "journey.target_crossed"
KINDS = (WEAK_LINK_ENTERED, WEAK_LINK_LEFT, BLIND_SPOT_SCORED, JOURNEY_TARGET_CROSSED)


def touch_point_kinds(before: str, after: str) -> list[str]:
    """The transitions between two statuses of one touch point (none, one or two: a blind
    spot can become a weak link straight away)."""
    kinds = []
    if before == formulas.INSUFFICIENT_DATA and after != formulas.INSUFFICIENT_DATA:
        kinds.append(BLIND_SPOT_SCORED)
    if before != formulas.WEAK_LINK and after == formulas.WEAK_LINK:
        kinds.append(WEAK_LINK_ENTERED)
    if before == formulas.WEAK_LINK and after != formulas.WEAK_LINK:
        kinds.append(WEAK_LINK_LEFT)
    return kinds


def crossing(before: float | None, after: float | None, target: float) -> str | None:
    """ "up" when the journey score reaches its target from below, "down" when it falls
    below it, None otherwise (no score before or after counts as no crossing)."""
    if before is None or after is None:
        return None
    if before < target <= after:
        return "up"
    if after < target <= before:
        return "down"
    return None


def _figures(r: TouchPointResult, before: str, journey_score: float | None) -> dict[str, Any]:
    s = r.stats
    return {
        "touch_point_name": r.touch_point.name,
        "status_before": before,
        "status": r.status,
        "n": s.n,
        "mean": s.mean,
        "smoothed": s.smoothed,
        "ci_low": s.ci_low,
        "ci_high": s.ci_high,
        "target": r.target,
        "priority": r.priority,
        "journey_score": journey_score,
    }


def record(
    journey: Journey,
    result: JourneyResult,
    *,
    now: datetime,
    before: tuple[dict[int, str], float | None] | None = None,
) -> int:
    """Compare the stored snapshot (still the old one) with ``result`` and write a
    ScoreTransition per change. Returns how many were written. ``before``: the stored
    statuses by touch point and the stored journey score, when the caller has read them
    already (the per-touch-point recompute does); otherwise they are read here."""
    if before is None:
        statuses = dict(
            TouchPointScore.objects.filter(journey_id=journey.pk).values_list(
                "touch_point_id", "status"
            )
        )
        old_score = (
            JourneyScore.objects.filter(journey_id=journey.pk)
            .values_list("score", flat=True)
            .first()
        )
    else:
        statuses, old_score = before
    rows: list[ScoreTransition] = []
    for r in result.touch_points:
        old = statuses.get(r.touch_point.pk)
        if old is None:
            continue
        rows.extend(
            ScoreTransition(
                organization_id=journey.organization_id,
                journey_id=journey.pk,
                touch_point_id=r.touch_point.pk,
                kind=kind,
                figures=_figures(r, old, result.score),
                at=now,
            )
            for kind in touch_point_kinds(old, r.status)
        )
    direction = crossing(old_score, result.score, journey.target)
    if direction is not None:
        rows.append(
            ScoreTransition(
                organization_id=journey.organization_id,
                journey_id=journey.pk,
                kind=JOURNEY_TARGET_CROSSED,
                figures={
                    "direction": direction,
                    "score_before": old_score,
                    "score": result.score,
                    "target": journey.target,
                    "n": result.prior.n,
                },
                at=now,
            )
        )
    if rows:
        ScoreTransition.objects.bulk_create(rows)
    return len(rows)
