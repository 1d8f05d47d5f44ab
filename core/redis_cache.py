"""Django's Redis cache backend, keeping one client per connection pool.

Django's RedisCacheClient builds a new redis.Redis for every operation (get_client), and
redis-py fills each new client's table of some 200 response callbacks: on the public
feedback page that cost more CPU than the rate limits' round trips to Redis (two limits,
six commands, six clients per POST). A redis.Redis is safe to share between threads
(its pool hands each command a connection), and the pool it wraps resets itself in a
forked process, so one client per pool is enough.

incr is one round trip instead of Django's two (EXISTS, then INCRBY): a script that adds
to the key only if it exists, as Django's does, so a key expiring in between is never
recreated without its expiry. django-ratelimit counts each limit with add (SET NX EX,
the window's first request) or incr: two limits on the feedback page, 2 to 4 commands.
Everything else is Django's.
"""

from __future__ import annotations

from typing import Any

from django.core.cache.backends.redis import RedisCache as DjangoRedisCache
from django.core.cache.backends.redis import RedisCacheClient as DjangoRedisCacheClient

# INCRBY on an existing key only; nil (None) when it does not exist.
_INCR_EXISTING = """
if redis.call('EXISTS', KEYS[1]) == 1 then return redis.call('INCRBY', KEYS[1], ARGV[1]) end
return false
"""


class RedisCacheClient(DjangoRedisCacheClient):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._clients: dict[int, Any] = {}
        self._incr_existing: Any = None

    def incr(self, key: Any, delta: int) -> int:
        client = self.get_client(key, write=True)
        if self._incr_existing is None:
            # Only hashes the script; EVALSHA loads it on first use in each server.
            self._incr_existing = client.register_script(_INCR_EXISTING)
        value = self._incr_existing(keys=[key], args=[delta], client=client)
        if value is None:
            raise ValueError(f"Key '{key}' not found.")
        return int(value)

    def get_client(self, key: Any = None, *, write: bool = False) -> Any:
        # Django's own private helpers, which its stubs do not declare.
        django: Any = self
        index = django._get_connection_pool_index(write)
        client = self._clients.get(index)
        if client is None:
            pool = django._get_connection_pool(write)
            # Two threads may both build one here; either is fine to keep.
            client = self._clients.setdefault(index, django._client(connection_pool=pool))
        return client


class RedisCache(DjangoRedisCache):
    def __init__(self, server: str, params: dict[str, Any]) -> None:
        super().__init__(server, params)
        self._class = RedisCacheClient
