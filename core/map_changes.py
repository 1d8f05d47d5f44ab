"""The one hook for "the map changed": every write that can change a score, a status, a
priority, "is last" or a journey score calls map_changed, in its own transaction.

It does two things, in this order:

1. writes a JourneyStaleMark for each journey, in the caller's transaction: from the
   commit on, the journey's scores read `pending: true`, and the periodic sweep will
   recompute the journey even if the message below is lost;
2. queues the journey's recompute once the transaction has committed (never inside it:
   a worker must not read the journey before the change is visible), by the task's
   registered name, so this module needs nothing from the scoring app above it.

A failed publish (the broker down or slow) is logged and swallowed: the change is
committed and the mark is the record; the sweep catches up.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

from django.conf import settings
from django.db import transaction

from core import broker
from core.models import JourneyStaleMark

log = logging.getLogger(__name__)

#: The Celery task (scoring.tasks.recompute_journey) that recomputes a journey's scores.
RECOMPUTE_JOURNEY_TASK = "scoring.tasks.recompute_journey"


def map_changed(*, journey_ids: Iterable[int]) -> None:
    """Mark these journeys' scores stale in the caller's transaction and queue their
    recompute on commit. Must run inside the transaction that makes the change."""
    ids = sorted({int(pk) for pk in journey_ids})
    if not ids:
        return
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("map_changed must run in the transaction that changes the map.")
    JourneyStaleMark.objects.bulk_create([JourneyStaleMark(journey_id=pk) for pk in ids])
    transaction.on_commit(lambda: request_journey_recompute(ids))


def request_journey_recompute(journey_ids: Iterable[int]) -> None:
    """Queue a recompute of each journey, due SCORING_DEBOUNCE_SECONDS from now (a burst
    of edits then finds one recompute with work to do; the others find no mark and stop)."""
    try:
        for pk in journey_ids:
            broker.send_task(
                RECOMPUTE_JOURNEY_TASK,
                args=(pk,),
                kwargs={"full": False},
                countdown=settings.SCORING_DEBOUNCE_SECONDS,
            )
    except Exception:
        log.warning("Could not queue a journey recompute; the sweep will catch up.", exc_info=True)
