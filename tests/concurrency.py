"""Requests that arrive together, for the tests that prove a limit holds under them
(tests/web/test_export_limits.py, tests/accounts/test_parallel_guesses.py)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

from django.core.servers.basehttp import WSGIServer

T = TypeVar("T")

#: The most calls a test releases together.
MOST_AT_ONCE = 64


def all_at_once(calls: list[Callable[[], T]]) -> list[T]:
    """Run every call in its own thread, released together by a barrier."""
    assert len(calls) <= MOST_AT_ONCE, "raise MOST_AT_ONCE (the live server's backlog) first"
    barrier = threading.Barrier(len(calls))

    def run(call: Callable[[], T]) -> T:
        barrier.wait()
        return call()

    with ThreadPoolExecutor(max_workers=len(calls)) as pool:
        return list(pool.map(run, calls))


def room_for_everyone_at_once() -> None:
    """The live server (pytest-django's, session-wide) listens with a backlog of 10: fifty
    connections at once overflow it and the kernel resets some. A deployment's gunicorn
    listens with 2048; the test server gets room for every call released together.
    Called from tests/conftest.py before any server starts."""
    WSGIServer.request_queue_size = max(WSGIServer.request_queue_size, 4 * MOST_AT_ONCE)
