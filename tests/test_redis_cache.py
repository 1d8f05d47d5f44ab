"""core.redis_cache: Django's Redis cache, with incr in one round trip that still refuses
a missing key (and never recreates one without its expiry), as Django's incr does."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
import redis
from django.core.cache import caches


@contextmanager
def commands() -> Iterator[list[str]]:
    """The commands redis-py sends while the block runs."""
    sent: list[str] = []
    original = redis.Redis.execute_command

    def execute_command(self: Any, *args: Any, **options: Any) -> Any:
        sent.append(str(args[0]))
        return original(self, *args, **options)

    redis.Redis.execute_command = execute_command  # type: ignore[method-assign]
    try:
        yield sent
    finally:
        redis.Redis.execute_command = original  # type: ignore[method-assign]


def test_incr_adds_to_an_existing_counter_in_one_command() -> None:
    cache = caches["throttle"]
    assert cache.add("hits", 1, 60)
    cache.incr("hits")  # the script is loaded on first use
    with commands() as sent:
        assert cache.incr("hits", 5) == 7
    assert len(sent) == 1, sent
    assert cache.get("hits") == 7


def test_incr_of_a_missing_key_raises_and_creates_nothing() -> None:
    cache = caches["throttle"]
    with pytest.raises(ValueError, match="not found"):
        cache.incr("never-set")
    assert cache.get("never-set") is None


def test_incr_keeps_the_counters_expiry() -> None:
    cache = caches["throttle"]
    cache.add("window", 1, 60)
    cache.incr("window")
    client = cache._cache.get_client(write=True)  # type: ignore[attr-defined]
    ttl = client.ttl(cache.make_and_validate_key("window"))
    assert 0 < ttl <= 60
