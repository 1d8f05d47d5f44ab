"""Sign-in brute force (RELIABILITY S9): django-axes, extended to count per address too.

Axes locks a (username, address) pair out after AXES_FAILURE_LIMIT failures, so one
person's typos never lock a whole office out. That alone lets one address try a few
passwords against every account; LoginLockoutHandler also locks an address out once its
failures across all usernames reach AXES_IP_FAILURE_LIMIT, both for the cool-off time.
The counts live in axes' AccessAttempt table, so every gunicorn worker sees the same ones.

One throttle identity per account: every place that checks a password (sign-in, admin
sign-in, password change, password reset) counts its failures under `account_identifier`
of what was typed, the very normalisation authentication looks the account up by
(accounts.backends), so no spelling and no entry point gets tries of its own. Entry
points that check a password themselves (not through authenticate()) call
`check_password_guarded`; `is_locked` and `record_failure` are the parts of it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from axes.handlers.database import AxesDatabaseHandler
from axes.handlers.proxy import AxesProxyHandler
from axes.helpers import get_cool_off
from axes.models import AccessAttempt
from django.conf import settings
from django.contrib.auth.signals import user_login_failed
from django.db.models import Sum
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone
from rest_framework.settings import api_settings
from rest_framework.throttling import BaseThrottle

from accounts.identity import account_identifier


def client_ip(request: HttpRequest) -> str | None:
    """The client's address, as the API's AuthFailureThrottle sees it: the socket address,
    unless API_NUM_PROXIES trusted proxies are configured (then X-Forwarded-For, counted
    from the right). A client cannot choose it by sending X-Forwarded-For itself."""
    if api_settings.NUM_PROXIES:
        return str(BaseThrottle().get_ident(request))  # type: ignore[arg-type]
    return request.META.get("REMOTE_ADDR") or None


security_log = logging.getLogger("touchstone.security")


def attempted_username(request: HttpRequest, credentials: dict[str, Any] | None) -> str | None:
    """The account a password check tried, as axes counts it: `account_identifier` of the
    typed email. Axes would look for the credential named after USERNAME_FIELD ("email"),
    but the sign-in form and authenticate() call it "username"."""
    raw = (credentials or {}).get("username")
    if raw is None:
        raw = request.POST.get("username") if request is not None else None
    return account_identifier(raw) or None if raw else None


def is_locked(request: HttpRequest, identifier: str) -> bool:
    """Whether password checks for `identifier` from this request's address are locked
    (the account's limit at this address, or the address's own limit)."""
    return bool(AxesProxyHandler.is_locked(request, {"username": identifier}))


def record_failure(request: HttpRequest, identifier: str, *, entry_point: str) -> None:
    """Count one failed password check for `identifier` (as a failed sign-in: the same
    counters) and log it. Axes flags the request when this failure reaches a limit."""
    ip = getattr(request, "axes_ip_address", None) or client_ip(request)
    security_log.warning(
        "Password check failed: entry_point=%s ip=%s",
        entry_point,
        ip,
        extra={"event": "password_check_failed", "entry_point": entry_point, "ip": ip},
    )
    user_login_failed.send(sender=__name__, credentials={"username": identifier}, request=request)


def check_password_guarded(
    request: HttpRequest,
    *,
    identifier: str,
    check: Callable[[], bool],
    entry_point: str,
) -> bool:
    """A password check outside authenticate() (password change, password reset, a token
    that asks for one), throttled like sign-in: refused unchecked while the identity is
    locked (request.axes_locked_out is then set, so AxesMiddleware answers 429), a wrong
    password counted and logged. Returns whether the password was right."""
    identifier = account_identifier(identifier)
    if is_locked(request, identifier):
        request.axes_locked_out = True  # type: ignore[attr-defined]
        request.axes_credentials = {"username": identifier}  # type: ignore[attr-defined]
        return False
    if check():
        return True
    record_failure(request, identifier, entry_point=entry_point)
    return False


def address_failures(ip_address: str) -> int:
    """Failed sign-ins from one address within the cool-off, whatever the username."""
    attempts = AccessAttempt.objects.filter(ip_address=ip_address)
    cool_off = get_cool_off()
    if cool_off is not None:
        attempts = attempts.filter(attempt_time__gte=timezone.now() - cool_off)
    return int(attempts.aggregate(n=Sum("failures_since_start"))["n"] or 0)


class LoginLockoutHandler(AxesDatabaseHandler):  # type: ignore[misc]  # django-axes ships no type information
    """Axes' database handler plus the per-address limit."""

    @staticmethod
    def address_locked(request: Any) -> bool:
        limit = int(getattr(settings, "AXES_IP_FAILURE_LIMIT", 100))
        return address_failures(request.axes_ip_address) >= limit

    def is_locked(self, request: Any, credentials: dict[str, Any] | None = None) -> bool:
        return super().is_locked(request, credentials) or self.address_locked(request)

    def user_login_failed(
        self, sender: Any, credentials: dict[str, Any], request: Any = None, **kwargs: Any
    ) -> None:
        """Axes flags the request for its lockout page only when the username's count is
        reached; flag it when the address's is too."""
        super().user_login_failed(sender, credentials, request, **kwargs)
        flagged = request is None or getattr(request, "axes_locked_out", False)
        if not flagged and self.address_locked(request):
            request.axes_locked_out = True
            request.axes_credentials = credentials


def lockout_response(
    request: HttpRequest, original_response: Any = None, credentials: Any = None
) -> HttpResponse:
    """What a locked-out sign-in gets: the same page whether the username exists or not,
    429 with Retry-After (the whole cool-off: the lock is not lifted early)."""
    cool_off = get_cool_off(request)
    seconds = int(cool_off.total_seconds()) if cool_off is not None else 3600
    response = render(
        request,
        "registration/locked_out.html",
        {"cool_off_minutes": max(seconds // 60, 1)},
        status=429,
    )
    response["Retry-After"] = str(seconds)
    return response
