"""What "scores correct" means in the fault tests (RELIABILITY.md): every evaluation's
score and every touch point's snapshot equal the pure functions of scoring.formulas,
applied in Python to the stored rows under each answer's own rubric version, to 1e-6,
with no stale mark left."""

from __future__ import annotations

from collections import defaultdict

from journeys.models import Journey
from scoring import formulas
from scoring.models import StaleMark, TouchPointScore
from touchpoints.models import Answer, CriterionVersion, Evaluation, TouchPoint

TOLERANCE = 1e-6


def rubric_of(version: CriterionVersion) -> formulas.Rubric:
    return formulas.Rubric(
        kind=version.kind,
        weight=version.weight,
        critical=version.critical,
        scale_size=version.scale_size or 5,
        target=version.target_value,
        worst=version.worst_value,
    )


def reference_evaluation_scores(journey_ids: list[int]) -> dict[int, float | None]:
    """Evaluation id → its score by the formulas, from its answers' own rubric versions."""
    answers: dict[int, list[tuple[formulas.Rubric, float | None]]] = defaultdict(list)
    rubrics = {
        v.pk: rubric_of(v)
        for v in CriterionVersion.objects.filter(criterion__touch_point__journey_id__in=journey_ids)
    }
    for evaluation_id, version_id, value in Answer.objects.filter(
        evaluation__journey_id__in=journey_ids
    ).values_list("evaluation_id", "criterion_version_id", "value"):
        answers[evaluation_id].append((rubrics[version_id], value))
    ids = Evaluation.objects.filter(journey_id__in=journey_ids).values_list("pk", flat=True)
    return {pk: formulas.evaluation_score(answers[pk]) for pk in ids}


def _differs(actual: float | None, expected: float | None) -> bool:
    if actual is None or expected is None:
        return actual is not expected
    return abs(actual - expected) > TOLERANCE


def problems(journeys: list[Journey]) -> list[str]:
    """Everything that differs from the reference; empty when the scores are correct."""
    found: list[str] = []
    journey_ids = [j.pk for j in journeys]
    if StaleMark.objects.filter(touch_point__journey_id__in=journey_ids).exists():
        found.append("stale marks left")
    reference = reference_evaluation_scores(journey_ids)
    rows = list(
        Evaluation.objects.filter(journey_id__in=journey_ids).values_list(
            "pk", "journey_id", "touch_point_id", "observed_at", "score"
        )
    )
    found += [
        f"evaluation {pk} scored {score}, reference {reference[pk]}"
        for pk, _, _, _, score in rows
        if _differs(score, reference[pk])
    ]
    for journey in journeys:
        snapshots = {s.touch_point_id: s for s in TouchPointScore.objects.filter(journey=journey)}
        active = TouchPoint.objects.filter(
            journey=journey, archived_at__isnull=True, stage__archived_at__isnull=True
        )
        k = journey.organization.smoothing_k
        for tp in active:
            snapshot = snapshots.get(tp.pk)
            if snapshot is None:
                found.append(f"touch point {tp.pk} has no snapshot")
                continue
            in_window = [
                (tp_id, reference[pk])
                for pk, j, tp_id, observed, _ in rows
                if j == journey.pk
                and snapshot.window_start <= observed < snapshot.window_end
                and reference[pk] is not None
            ]
            prior = formulas.mean_or_none(score for _, score in in_window)
            mine = [score for tp_id, score in in_window if tp_id == tp.pk]
            stats = formulas.touch_point_stats(mine, prior=prior, k=k)
            if snapshot.n != stats.n or _differs(snapshot.smoothed, stats.smoothed):
                found.append(
                    f"touch point {tp.pk}: n={snapshot.n} smoothed={snapshot.smoothed}, "
                    f"reference n={stats.n} smoothed={stats.smoothed}"
                )
    return found


def scores_are_correct(journeys: list[Journey]) -> bool:
    return not problems(journeys)
