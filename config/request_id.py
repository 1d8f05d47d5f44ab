"""One id per web request, on every log line it causes, here and in the Celery tasks it queues.

The id comes from the client's (or the proxy's) X-Request-ID when that is a sane token,
else it is made here; it goes back in the response's X-Request-ID. It lives in a
contextvar, so the logging filter finds it without being handed the request, and the
Celery signals below copy it into the headers of each task published meanwhile and
restore it in the worker while that task runs.

config/celery.py imports this module so the Celery signals are connected in every
process; nothing here may touch settings or models at import time.
"""

from __future__ import annotations

import logging
import logging.config
import re
import uuid
from collections.abc import Callable
from contextvars import ContextVar
from typing import Any

from celery.signals import before_task_publish, setup_logging, task_postrun, task_prerun
from django.conf import settings
from django.core.signals import request_finished
from django.dispatch import receiver
from django.http import HttpRequest, HttpResponse

HEADER = "X-Request-ID"
# The key in a Celery message's headers.
TASK_HEADER = "request_id"
# What we accept from outside: short, and nothing that could forge a log line or a header.
VALID = re.compile(r"[A-Za-z0-9._-]{1,64}")

current: ContextVar[str | None] = ContextVar("request_id", default=None)


def accept(candidate: str | None) -> str:
    """The client's id if it is a sane token, otherwise a new one."""
    if candidate and VALID.fullmatch(candidate):
        return candidate
    return uuid.uuid4().hex


class RequestIdMiddleware:
    """Sets the request id for everything the request does, and returns it in the response.

    The id stays set until the response is closed (request_finished), not just until the
    view returns, so Django's own "Not Found" and "Internal Server Error" lines, logged
    after the middleware chain, carry it too.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        request_id = accept(request.headers.get(HEADER))
        current.set(request_id)
        response = self.get_response(request)
        response[HEADER] = request_id
        return response


@receiver(request_finished)
def _clear_after_response(**kwargs: Any) -> None:
    """A thread serves many requests: no id may outlive its own."""
    current.set(None)


class RequestIdFilter(logging.Filter):
    """Adds `request_id` (None outside a request or task) to every record a handler emits."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = current.get()
        return True


# --- Celery ----------------------------------------------------------------------------------


@before_task_publish.connect
def _add_to_task_headers(headers: dict[str, Any] | None = None, **kwargs: Any) -> None:
    """A task queued during a request (or during a task) carries the same id."""
    request_id = current.get()
    if request_id is not None and headers is not None:
        headers.setdefault(TASK_HEADER, request_id)


@task_prerun.connect
def _set_for_task(task: Any = None, **kwargs: Any) -> None:
    request_id = getattr(task.request, TASK_HEADER, None) if task is not None else None
    current.set(request_id if isinstance(request_id, str) and VALID.fullmatch(request_id) else None)


@task_postrun.connect
def _clear_after_task(**kwargs: Any) -> None:
    current.set(None)


@setup_logging.connect
def _log_like_django(**kwargs: Any) -> None:
    """Workers and beat log through settings.LOGGING (JSON in production, with the
    request id) instead of Celery's own format: connecting here tells Celery not to
    configure logging itself."""
    logging.config.dictConfig(settings.LOGGING)
