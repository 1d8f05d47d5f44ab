"""Counters every process shares (the "throttle" cache alias, on Redis), failing open.

A limit kept per gunicorn worker is N times looser than it says, and restarts with the
worker; these live in Redis so every process counts the same failures. Redis is never
allowed to stop the API (evaluations are stored in PostgreSQL): every call here has
short socket timeouts (settings.CACHES["throttle"]) and, when Redis does not answer,
behaves as if nothing were counted and skips Redis for SKIP_SECONDS, so an outage costs
one timeout per process every few seconds, not one per request. The failure is logged.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from django.core.cache import caches
from redis.exceptions import RedisError

log = logging.getLogger("touchstone.throttle")

SKIP_SECONDS = 5.0
T = TypeVar("T")

_skip_until = 0.0  # per process: while Redis is known to be away, do not wait on it


def _cache() -> Any:
    return caches["throttle"]


def _guarded(operation: Callable[[], T], fallback: T) -> T:
    """`operation()`, or `fallback` when Redis is away (and for SKIP_SECONDS after)."""
    global _skip_until
    if time.monotonic() < _skip_until:
        return fallback
    try:
        return operation()
    except (RedisError, OSError) as exc:
        _skip_until = time.monotonic() + SKIP_SECONDS
        log.warning(
            "Throttle counters unavailable, failing open for %.0f s: %s",
            SKIP_SECONDS,
            exc,
            extra={"event": "throttle_cache_unavailable"},
        )
        return fallback


def reset_circuit() -> None:
    """Forget that Redis was away (tests that restore it)."""
    global _skip_until
    _skip_until = 0.0


#: SlidingWindow.attempt: drop what left the window; add the event if fewer than the limit
#: remain; return {the count before it} then, else {the count, the time of the event whose
#: leaving frees a place}. One script, so it runs alone: two processes cannot both take the
#: last place, and a refusal over the limit is not counted.
_ATTEMPT = """
local key, now, window, limit = KEYS[1], tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
redis.call('ZREMRANGEBYSCORE', key, 0, now - window)
local count = redis.call('ZCARD', key)
if count < limit then
  redis.call('ZADD', key, now, ARGV[4])
  redis.call('EXPIRE', key, math.ceil(window) + 1)
  return {count}
end
local frees = redis.call('ZRANGE', key, count - limit, count - limit, 'WITHSCORES')
return {count, frees[2] or ARGV[1]}  -- a limit of 0: nothing ever fits, ask after a window
"""


_attempt: Any = None  # the Script, hashed once per process (EVALSHA loads it per server)


def _attempt_script(client: Any) -> Any:
    """_ATTEMPT as a redis-py Script, made once, as core.redis_cache keeps its incr script:
    register_script hashes the text, and attempts run on every failed token, password
    check and export."""
    global _attempt
    if _attempt is None:
        _attempt = client.register_script(_ATTEMPT)
    return _attempt


class SlidingWindow:
    """Events per identity within the last `window` seconds, exactly (a sorted set of
    their times per identity, so a burst across a minute boundary is not counted twice
    as small). Each call is atomic across processes. A limit on what may start is taken
    with `attempt` or `acquire`, which look and count in one step: looking first and
    counting after let parallel callers all pass between the two."""

    def __init__(self, scope: str, *, limit: int, window: int) -> None:
        self.scope, self.limit, self.window = scope, limit, window

    def _key(self, ident: str) -> str:
        return str(_cache().make_and_validate_key(f"{self.scope}:{ident}"))

    def _client(self, key: str) -> Any:
        return _cache()._cache.get_client(key, write=True)

    def times(self, ident: str) -> list[float]:
        """The recorded times still inside the window, oldest first ([] if Redis is away)."""

        def read() -> list[float]:
            key = self._key(ident)
            now = time.time()
            pipe = self._client(key).pipeline()
            pipe.zremrangebyscore(key, 0, now - self.window)
            pipe.zrange(key, 0, -1, withscores=True)
            return [score for _member, score in pipe.execute()[1]]

        return _guarded(read, [])

    def attempt(self, ident: str) -> Attempt:
        """Count one event if it fits in the window, and say where the count stood: one
        round trip. For a caller that must know the count before it acts and count the
        event if it then fails (core.api.authentication); `withdraw` takes it back.
        Redis away: nothing counted, not over the limit (fail open)."""

        def run() -> Attempt:
            key = self._key(ident)
            now = time.time()
            member = f"{now}:{uuid.uuid4().hex[:8]}"
            client = self._client(key)
            reply = _attempt_script(client)(
                keys=[key], args=[now, self.window, self.limit, member], client=client
            )
            if len(reply) == 1:
                return Attempt(self, ident, int(reply[0]), member, None)
            return Attempt(self, ident, int(reply[0]), None, float(reply[1]))

        return _guarded(run, Attempt(self, ident, 0, None, None))

    def withdraw(self, attempt: Attempt) -> None:
        """Uncount an attempt that turned out not to be an event (a token that worked)."""
        if attempt.member is not None:
            key = self._key(attempt.ident)
            _guarded(lambda: self._client(key).zrem(key, attempt.member), None)

    def acquire(self, ident: str) -> int:
        """Count one event if it fits in the window: 0 when it was counted, else the seconds
        until one fits (nothing is counted then). Atomic, so callers racing in parallel
        processes can never start more than `limit` between them, as asking `retry_after`
        and then calling `record` could. Redis away: 0 (fail open)."""
        return self.attempt(ident).retry_after()

    def record(self, ident: str) -> int:
        """Count one event; returns the events in the window (0 if Redis is away)."""

        def write() -> int:
            key = self._key(ident)
            now = time.time()
            pipe = self._client(key).pipeline()
            pipe.zremrangebyscore(key, 0, now - self.window)
            pipe.zadd(key, {f"{now}:{uuid.uuid4().hex[:8]}": now})
            pipe.zcard(key)
            pipe.expire(key, self.window + 1)
            return int(pipe.execute()[2])

        return _guarded(write, 0)


@dataclass(frozen=True)
class Attempt:
    """One event offered to a SlidingWindow (SlidingWindow.attempt)."""

    window: SlidingWindow
    ident: str
    earlier: int  # events in the window before this one
    member: str | None  # what it was counted as; None: not counted
    frees_at: float | None  # the window was full: when the event freeing a place leaves it

    @property
    def over_limit(self) -> bool:
        """The window was full before this event (so it was not counted)."""
        return self.frees_at is not None

    @property
    def count(self) -> int:
        """Events in the window, this one included if it was counted."""
        return self.earlier + (self.member is not None)

    def retry_after(self) -> int:
        """Seconds until one more event fits: 0 if this one did, else at least 1."""
        if self.frees_at is None:
            return 0
        return max(int(self.frees_at + self.window.window - time.time()) + 1, 1)


def remember(scope: str, ident: str, *, seconds: int) -> None:
    """Note that `ident` was seen (e.g. a token that worked from an address)."""
    _guarded(lambda: _cache().set(f"{scope}:{ident}", 1, seconds), None)


def remembered(scope: str, ident: str) -> bool:
    return bool(_guarded(lambda: _cache().get(f"{scope}:{ident}"), None))
