"""Which errors a Celery task may retry: those a later attempt can fix.

A lost or restarting database or broker, a deadlock or serialization failure (psycopg
raises those as OperationalError) heal by themselves; a bad argument, a missing row or a
bug fail the same way every time, so retrying them only repeats the traceback (and with
backoff, for minutes). Tasks declare `autoretry_for=TRANSIENT_ERRORS`.
"""

from __future__ import annotations

from django.db import InterfaceError, OperationalError
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

TRANSIENT_ERRORS: tuple[type[BaseException], ...] = (
    OperationalError,  # connection lost, database restarting, deadlock, serialization
    InterfaceError,  # the connection was already closed
    RedisConnectionError,
    RedisTimeoutError,
    ConnectionError,  # OS-level: refused, reset
    TimeoutError,
)
