"""The site's error views: JSON under /api/v1/ (every API answer is JSON, the 500 included),
the plain error pages elsewhere. Django calls these with DEBUG off."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views import defaults

from config import request_id

API_PREFIX = "/api/"


def _is_api(request: HttpRequest) -> bool:
    return request.path.startswith(API_PREFIX)


def server_error(request: HttpRequest, template_name: str = "500.html") -> HttpResponse:
    """An unhandled exception: the request id (from the log line) helps support find it."""
    if _is_api(request):
        return JsonResponse(
            {
                "detail": "Something went wrong on our side; nothing was changed unless a "
                "retry with the same Idempotency-Key says otherwise.",
                "request_id": request_id.current.get(),
            },
            status=500,
        )
    return defaults.server_error(request, template_name)


def bad_request(
    request: HttpRequest, exception: Exception, template_name: str = "400.html"
) -> HttpResponse:
    if _is_api(request):
        return JsonResponse({"detail": "Bad request."}, status=400)
    return defaults.bad_request(request, exception, template_name)


def permission_denied(
    request: HttpRequest, exception: Exception, template_name: str = "403.html"
) -> HttpResponse:
    if _is_api(request):
        return JsonResponse({"detail": "You do not have permission to do this."}, status=403)
    return defaults.permission_denied(request, exception, template_name)
