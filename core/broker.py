"""Broker access for every app: the broker's Redis with short timeouts, and publishing a
task by its name.

Publishing by name keeps the import graph pointing one way: a service that queues work
does not import the module of tasks that call it back (scoring.services and
scoring.tasks), and the Celery app (config/celery.py), which imports modules that publish,
is never imported by them. The app is the current one: config/__init__.py creates it
before anything else runs, and a test that points it at another broker
(tests/processes.publishing_to) is followed here, since the URL is read on every call.

No Django models are imported here: config/celery.py loads scoring.heartbeat, and with it
this module, before Django is set up.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import redis
from celery import current_app

_redis_clients: dict[str, redis.Redis] = {}


def broker_redis() -> redis.Redis:
    """A client for the broker's Redis with short timeouts: a slow broker must not hold
    up the request that already committed its evaluations. Half a second: a frozen broker
    (accepting connections, answering nothing) cost each request a full second at 1 s, and
    p99 went past RELIABILITY R1's 2 s under load; a busy but healthy Redis answers in
    milliseconds, and a missed enqueue only waits for the sweep."""
    url = str(current_app.conf.broker_url)
    client = _redis_clients.get(url)
    if client is None:
        client = redis.Redis.from_url(url, socket_timeout=0.5, socket_connect_timeout=0.5)
        _redis_clients[url] = client
    return client


def send_task(
    name: str,
    *,
    args: Sequence[Any] = (),
    kwargs: dict[str, Any] | None = None,
    countdown: float | None = None,
) -> None:
    """Publish the task registered as `name` (e.g. "scoring.tasks.recompute_journey").

    Raises what the producer raises when the broker cannot be reached; callers that must
    not fail (a request that already committed) catch it and leave the work to a sweep.
    """
    current_app.send_task(name, args=tuple(args), kwargs=kwargs or {}, countdown=countdown)
