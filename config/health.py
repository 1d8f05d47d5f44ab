"""Liveness and readiness probes for load balancers and orchestrators.

/healthz: the process answers (nothing else is touched). /readyz: the database answers
SELECT 1, the broker answers PING, and a worker heartbeat (scoring/heartbeat.py) is at
most HEARTBEAT_MAX_AGE_SECONDS old. Both are unauthenticated, write nothing and give no
internals away: failure details go to the log, the body names only the failed check.
"""

from __future__ import annotations

import logging
import time
from typing import Any

import redis
from django.db import DatabaseError, connection
from django.http import HttpRequest, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_safe

from scoring import heartbeat

log = logging.getLogger(__name__)

# A worker beats every 2 s; 15 missed beats mean it is gone. Well inside the promise that
# /readyz reports a dead worker within 60 s of its death (tests/test_health.py).
HEARTBEAT_MAX_AGE_SECONDS = 30.0

Check = dict[str, Any]
OK: Check = {"status": "ok"}


def _fail(detail: str, **extra: Any) -> Check:
    return {"status": "fail", "detail": detail, **extra}


@never_cache
@require_safe
def healthz(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"status": "ok"})


@never_cache
@require_safe
def readyz(request: HttpRequest) -> JsonResponse:
    checks = {"database": _database(), "broker": _broker(), "worker": _worker()}
    ready = all(check["status"] == "ok" for check in checks.values())
    return JsonResponse(
        {"status": "ok" if ready else "unavailable", "checks": checks},
        status=200 if ready else 503,
    )


def _database() -> Check:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except DatabaseError:
        log.warning("Readiness: the database did not answer.", exc_info=True)
        return _fail("The database did not answer.")
    return OK


def _broker() -> Check:
    try:
        heartbeat.ping_broker()
    except redis.RedisError:
        log.warning("Readiness: the broker did not answer.", exc_info=True)
        return _fail("The broker did not answer.")
    return OK


def _worker() -> Check:
    try:
        last = heartbeat.last_heartbeat()
    except redis.RedisError:
        return _fail("Unknown: the broker did not answer.")
    if last is None:
        return _fail("No worker heartbeat recorded.")
    age = round(max(time.time() - last, 0.0), 1)
    if age > HEARTBEAT_MAX_AGE_SECONDS:
        return _fail(
            f"The newest worker heartbeat is older than {HEARTBEAT_MAX_AGE_SECONDS:.0f} s.",
            age_seconds=age,
        )
    return {**OK, "age_seconds": age}
