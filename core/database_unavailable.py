"""A lost database answers 503 with Retry-After, not a 500: the outage is temporary (a
restart, a failover), so the client should retry: with the same Idempotency-Key an API
request that did commit before the connection died is answered, not stored twice.

The API's exception handler (core.api.errors) answers JSON by the same rule; the middleware
below gives the browser pages a page that says so.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from django.db import DatabaseError, InterfaceError, OperationalError
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.template import loader

log = logging.getLogger(__name__)

RETRY_AFTER_SECONDS = 5


def database_unavailable(error: BaseException) -> bool:
    """Whether `error` means the database could not be reached or the connection was lost
    (at connect time or mid-request), as opposed to a bug in a query."""
    return isinstance(error, OperationalError | InterfaceError) or (
        isinstance(error, DatabaseError) and "connection" in str(error).lower()
    )


class DatabaseUnavailableMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if not database_unavailable(exception):
            return None
        log.warning("The database is unavailable: %s", exception)
        if request.path.startswith("/api/"):
            # The API answers JSON, as its schema says (core.api.schema_hooks).
            response: HttpResponse = JsonResponse(
                {"detail": "The database is unavailable for a moment; retry shortly."}, status=503
            )
        else:
            # Rendered without a request or context, like 500.html: the database is gone.
            response = HttpResponse(loader.render_to_string("503.html"), status=503)
        response["Retry-After"] = str(RETRY_AFTER_SECONDS)
        return response
