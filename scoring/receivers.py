"""What scoring does when touchpoints has stored evaluations (touchpoints.hooks), inside
the storing transaction: add them to the day rollups, mark their touch points stale and
ask for their recompute on commit (scoring.services.mark_stale). Registered when the app
is ready (scoring.apps), so touchpoints, below scoring, never imports it."""

from __future__ import annotations

from collections.abc import Sequence

from scoring import services, sql


def evaluations_stored(*, evaluation_ids: Sequence[int], touch_point_ids: Sequence[int]) -> None:
    if evaluation_ids:
        sql.roll_up("e.id = ANY(%s)", [list(evaluation_ids)])
    services.mark_stale(touch_point_ids)
