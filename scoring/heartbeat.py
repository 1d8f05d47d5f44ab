"""The worker heartbeat that /readyz reads (config/health.py).

Every Celery worker sends a heartbeat event every 2 s from its consumer loop; on each one
this module writes the time to the broker's Redis. The newest write wins, so the key says
"some worker's consumer loop was alive at this time". It lives in the broker's Redis
because a worker that cannot reach the broker cannot take work either. Workers started
with both --without-heartbeat and --without-gossip send no heartbeat, and /readyz says so.

No Django models are imported at module level: config/celery.py imports this module
before Django is set up, so the receiver is connected before the worker's heartbeat starts.
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING, Any

import redis
from celery.signals import heartbeat_sent

from core.broker import broker_redis

if TYPE_CHECKING:
    from celery.worker.heartbeat import Heart

log = logging.getLogger(__name__)

HEARTBEAT_KEY = "touchstone:worker-heartbeat"
# Far longer than any readiness threshold: the key only has to vanish eventually once no
# worker is left, so a retired deployment leaves nothing behind.
HEARTBEAT_TTL_SECONDS = 600

_failing = False


@heartbeat_sent.connect
def record_heartbeat(sender: Heart | None = None, **kwargs: Any) -> None:
    """Store this moment as the latest worker heartbeat; never raises into the worker."""
    global _failing  # one flag, so a broker outage is logged once, not every 2 s
    try:
        broker_redis().set(HEARTBEAT_KEY, repr(time.time()), ex=HEARTBEAT_TTL_SECONDS)
    except redis.RedisError:
        if not _failing:
            log.warning("Could not record the worker heartbeat in Redis.", exc_info=True)
        _failing = True
    else:
        _failing = False


def last_heartbeat() -> float | None:
    """Unix time of the newest worker heartbeat, or None if none is recorded.

    Raises redis.RedisError when the broker cannot be reached.
    """
    raw = broker_redis().get(HEARTBEAT_KEY)
    return None if raw is None else float(raw)


def ping_broker() -> None:
    """Raises redis.RedisError unless the broker answers within its short timeouts."""
    broker_redis().ping()
