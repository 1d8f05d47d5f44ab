"""Where touchpoints meets the apps beside it without an import against the layers.

Below it (journeys): deleting a journey or a stage asks whether evaluations depend on it
(journeys.in_use); touchpoints registers that check when its app is ready.

Above it (scoring): a submission stores evaluations, their answers and their scores
(touchpoints.answer_scores); what follows from them belongs to scoring (the day rollups,
the touch points' stale marks and their recompute on commit). Scoring registers a
receiver when its app is ready (scoring.apps), in the style of core.map_changes:
submit_evaluations calls every receiver inside its transaction, so whatever they write
commits or rolls back with the evaluations. A submission with no receiver registered is
refused rather than stored with scores that would never reach the rollups.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from django.core.exceptions import ImproperlyConfigured

from journeys import in_use
from touchpoints.models import Evaluation


def journey_evaluated(journey_id: int) -> bool:
    return Evaluation.objects.filter(journey_id=journey_id).exists()


def stage_evaluated(stage_id: int) -> bool:
    return Evaluation.objects.filter(touch_point__stage_id=stage_id).exists()


def register_in_use_checks() -> None:
    in_use.register("touchpoints.evaluations", journey=journey_evaluated, stage=stage_evaluated)


class EvaluationsStored(Protocol):
    def __call__(self, *, evaluation_ids: Sequence[int], touch_point_ids: Sequence[int]) -> None:
        """Evaluations (ids in submission order) and their touch points (sorted ids) were
        just stored and scored, in the caller's transaction."""


_receivers: dict[str, EvaluationsStored] = {}


def on_evaluations_stored(name: str, receiver: EvaluationsStored) -> None:
    """Register (or replace, under the same name) a receiver of stored evaluations."""
    _receivers[name] = receiver


def evaluations_stored(*, evaluation_ids: Sequence[int], touch_point_ids: Sequence[int]) -> None:
    """Tell every receiver, in registration order. Must run in the storing transaction."""
    if not _receivers:
        raise ImproperlyConfigured(
            "No app receives stored evaluations: is scoring in INSTALLED_APPS?"
        )
    for receiver in _receivers.values():
        receiver(evaluation_ids=evaluation_ids, touch_point_ids=touch_point_ids)
