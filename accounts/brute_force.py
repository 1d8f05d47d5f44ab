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
`check_password_guarded`; `begin_password_check` and `record_failure` are the parts of it.

Guesses sent in parallel (docs/reliability.md H8). Axes asks "is it locked?" when a request
arrives and counts its failure after the password check, so fifty guesses arriving together
all saw "not locked" and all had their password checked, past a limit of ten. So every
password check first takes a slot (`begin_password_check`): one atomic step in Redis
(core.throttle.SlidingWindow.attempt) per account identifier at the address and per
address, each sized like axes' limit, and only then reads axes' counts. A check is refused
unchecked when its slots are gone, or when the failures recorded plus the checks in flight
reach the limit. A slot is given back when its password was right, or once its failure is
in axes' table (LoginLockoutHandler.user_login_failed), never before: any two checks that
overlap, the later one counts the earlier in Redis or in axes. So the slots hold only
checks in flight (a process killed mid-check loses its slot after SLOT_SECONDS), axes stays
the record, and nobody is locked out for longer than axes says. Redis away: no slots, axes'
counts alone, as before (core.throttle fails open).
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from axes.handlers.database import AxesDatabaseHandler
from axes.handlers.proxy import AxesProxyHandler
from axes.helpers import get_cool_off, get_failure_limit
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
from core.throttle import Attempt, SlidingWindow

#: How long a slot stays taken if its check never ends (its process killed mid-check):
#: longer than any request may run (gunicorn's timeout), short beside axes' cool-off.
SLOT_SECONDS = 120
_SLOT = "touchstone_password_check"  # the request attribute holding the slots taken


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


@dataclass(frozen=True)
class _Slots:
    attempts: tuple[Attempt, ...]

    def release(self) -> None:
        for attempt in self.attempts:
            attempt.window.withdraw(attempt)


def _refuse(request: HttpRequest, identifier: str) -> None:
    """Flag the request as locked out: AxesMiddleware answers with the lockout page."""
    request.axes_locked_out = True  # type: ignore[attr-defined]
    request.axes_credentials = {"username": identifier}  # type: ignore[attr-defined]


def begin_password_check(request: HttpRequest, identifier: str) -> bool:
    """Take this request's slots for one password check of `identifier` (already
    `account_identifier`-normalised): True if the password may be checked now. False: the
    account at this address, or the address, has reached its limit counting the checks in
    flight; the request is flagged locked out and nothing is held. After a True, the caller
    checks the password, then calls `end_password_check` if it was right, or counts the
    failure (authenticate() and `record_failure` send user_login_failed, whose handler
    gives the slots back once axes has recorded it)."""
    if not getattr(settings, "AXES_ENABLED", True):
        return True
    AxesProxyHandler.update_request(request)
    ip = str(request.axes_ip_address)  # type: ignore[attr-defined]
    account_limit = get_failure_limit(request, {"username": identifier})
    address_limit = int(getattr(settings, "AXES_IP_FAILURE_LIMIT", 100))
    account = SlidingWindow("password-checks", limit=account_limit, window=SLOT_SECONDS)
    address = SlidingWindow("password-checks-ip", limit=address_limit, window=SLOT_SECONDS)
    # The identifier is hashed: Redis needs no email addresses, and keys stay short.
    at_address = hashlib.sha256(f"{identifier}\n{ip}".encode()).hexdigest()
    slots = _Slots((account.attempt(at_address), address.attempt(ip)))
    # axes' counts are read only now, after the slots: a check in flight is then counted
    # here as a slot or (its failure recorded before its slot is given back) as a failure.
    handler = AxesProxyHandler.get_implementation()
    in_flight_account, in_flight_address = (a.earlier for a in slots.attempts)
    if (
        any(a.over_limit for a in slots.attempts)
        or handler.get_failures(request, {"username": identifier}) + in_flight_account
        >= account_limit
        or address_failures(ip) + in_flight_address >= address_limit
    ):
        slots.release()
        _refuse(request, identifier)
        return False
    setattr(request, _SLOT, slots)
    return True


def end_password_check(request: HttpRequest | None) -> None:
    """Give back the slots `begin_password_check` took for this request, if any: its
    password was right, or its failure is now in axes' table."""
    slots = getattr(request, _SLOT, None) if request is not None else None
    if slots is not None:
        delattr(request, _SLOT)
        slots.release()


def check_password_guarded(
    request: HttpRequest,
    *,
    identifier: str,
    check: Callable[[], bool],
    entry_point: str,
) -> bool:
    """A password check outside authenticate() (password change, password reset, a token
    that asks for one), throttled like sign-in: refused unchecked while the identity is
    locked, or its limit is taken by checks in flight (request.axes_locked_out is then
    set, so AxesMiddleware answers 429, and the refusal is counted like a refused
    sign-in), a wrong password counted and logged. Returns
    whether the password was right."""
    identifier = account_identifier(identifier)
    if not begin_password_check(request, identifier):
        # Counted as axes counts a refused sign-in (authenticate() sends the signal for
        # it too), so every entry point ends a burst of guesses with the same lockout.
        user_login_failed.send(
            sender=__name__, credentials={"username": identifier}, request=request
        )
        return False
    if check():
        end_password_check(request)
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
        end_password_check(request)  # recorded: axes counts it from here on
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
