"""Celery tasks: a few lines each, taking ids and calling scoring.services.

Every task is safe to run twice or concurrently (the per-journey lock and the stale
marks see to it), which is what at-least-once delivery with late acks needs.
"""

from __future__ import annotations

import time

from celery import shared_task

from core.broker import broker_redis
from core.retry import TRANSIENT_ERRORS
from scoring import services

# A recompute that failed for a reason that heals (the database restarting) is retried
# with backoff; anything else (a bad argument, a bug) fails at once, as a retry would
# only repeat it. Either way the stale marks remain and the sweep tries again later.


@shared_task(acks_late=True, autoretry_for=TRANSIENT_ERRORS, retry_backoff=True, max_retries=5)
def recompute_touch_point(touch_point_id: int) -> bool:
    services.clear_pending(touch_point_id)
    return services.recompute_touch_point(touch_point_id)


@shared_task(acks_late=True, autoretry_for=TRANSIENT_ERRORS, retry_backoff=True, max_retries=5)
def recompute_journey(journey_id: int, full: bool = True) -> bool:
    return services.recompute_journey(journey_id, full=full)


@shared_task(acks_late=True)
def sweep_stale() -> int:
    queued = services.sweep_stale()
    broker_redis().set(services.LAST_SWEEP_KEY, repr(time.time()))
    return queued


@shared_task(acks_late=True)
def recompute_all(organization_id: int | None = None, rescore: bool = False) -> int:
    return services.recompute_all(organization_id=organization_id, rescore=rescore)
