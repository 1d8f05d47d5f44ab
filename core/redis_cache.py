"""Django's Redis cache backend, keeping one client per connection pool.

Django's RedisCacheClient builds a new redis.Redis for every operation (get_client), and
redis-py fills each new client's table of some 200 response callbacks: on the public
feedback page that cost more CPU than the rate limits' round trips to Redis (two limits,
six commands, six clients per POST). A redis.Redis is safe to share between threads
(its pool hands each command a connection), and the pool it wraps resets itself in a
forked process, so one client per pool is enough. Everything else is Django's.
"""

from __future__ import annotations

from typing import Any

from django.core.cache.backends.redis import RedisCache as DjangoRedisCache
from django.core.cache.backends.redis import RedisCacheClient as DjangoRedisCacheClient


class RedisCacheClient(DjangoRedisCacheClient):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._clients: dict[int, Any] = {}

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
