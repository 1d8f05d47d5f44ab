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


class SlidingWindow:
    """Events per identity within the last `window` seconds, exactly (a sorted set of
    their times per identity, so a burst across a minute boundary is not counted twice
    as small), and atomic across processes."""

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

    def over_limit(self, ident: str) -> bool:
        return len(self.times(ident)) >= self.limit

    def retry_after(self, ident: str) -> int:
        """Seconds until one more event fits in the window."""
        return self.wait_from(self.times(ident))

    def wait_from(self, times: list[float]) -> int:
        """Seconds until one more event fits, given the times in the window (0: it fits)."""
        if len(times) < self.limit:
            return 0
        frees_at = times[len(times) - self.limit] + self.window
        return max(int(frees_at - time.time()) + 1, 1)

    def attempt(self, ident: str) -> Attempt:
        """Count one event if the window has room, and tell what it held before: in one
        round trip, for a caller that must know the count before it acts and count the
        event if it then fails (core.api.authentication). `withdraw` takes it back."""
        member = f"{time.time()}:{uuid.uuid4().hex[:8]}"

        def run() -> Attempt:
            key = self._key(ident)
            now = time.time()
            added, flat = self._client(key).eval(
                _ATTEMPT_SCRIPT, 1, key, repr(now), self.window, self.limit, member
            )
            earlier = tuple(float(score) for score in flat[1::2])
            return Attempt(self, ident, earlier, member if added else None)

        return _guarded(run, Attempt(self, ident, (), None))

    def withdraw(self, attempt: Attempt) -> None:
        """Uncount an attempt that turned out not to be an event (a token that worked)."""
        if attempt.member is not None:
            key = self._key(attempt.ident)
            _guarded(lambda: self._client(key).zrem(key, attempt.member), None)

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
    """One event offered to a SlidingWindow (SlidingWindow.attempt): the times already in
    the window before it, and the member it was counted as (None: not counted, because the
    window was full, or Redis is away)."""

    window: SlidingWindow
    ident: str
    earlier: tuple[float, ...]
    member: str | None

    @property
    def over_limit(self) -> bool:
        """The window was full before this event."""
        return len(self.earlier) >= self.window.limit

    @property
    def count(self) -> int:
        """Events in the window, this one included if it was counted."""
        return len(self.earlier) + (self.member is not None)

    def retry_after(self) -> int:
        """Seconds until one more event fits (at least 1)."""
        return self.window.wait_from(list(self.earlier)) or 1


# Prune, read what is left, and count the new event only while the window has room: one
# round trip, atomic (a Lua script runs alone), so a refusal over the limit is not counted
# and two processes cannot both take the last place.
_ATTEMPT_SCRIPT = """
local now, window, limit = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
redis.call('ZREMRANGEBYSCORE', KEYS[1], 0, now - window)
local earlier = redis.call('ZRANGE', KEYS[1], 0, -1, 'WITHSCORES')
if #earlier / 2 < limit then
  redis.call('ZADD', KEYS[1], ARGV[1], ARGV[4])
  redis.call('EXPIRE', KEYS[1], window + 1)
  return {1, earlier}
end
return {0, earlier}
"""


def remember(scope: str, ident: str, *, seconds: int) -> None:
    """Note that `ident` was seen (e.g. a token that worked from an address)."""
    _guarded(lambda: _cache().set(f"{scope}:{ident}", 1, seconds), None)


def remembered(scope: str, ident: str) -> bool:
    return bool(_guarded(lambda: _cache().get(f"{scope}:{ident}"), None))
