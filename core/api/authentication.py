"""The API's token authentication: `Authorization: Bearer tst_…`, with failed attempts
throttled per client address across processes (RELIABILITY S9) without refusing a token
that already worked from that address, and logged without any part of the secret.

DRF reads BearerTokenAuthentication from settings while rest_framework.views is loading,
so this module must not import rest_framework.views (nor anything that does).
"""

from __future__ import annotations

import logging
import re
import time
from typing import Any

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import exceptions
from rest_framework.authentication import BaseAuthentication, get_authorization_header
from rest_framework.request import Request
from rest_framework.settings import api_settings
from rest_framework.throttling import BaseThrottle, SimpleRateThrottle

from accounts.models import User
from accounts.tokens import TOKEN_PREFIX, authenticate_token
from core.throttle import Attempt, SlidingWindow, remember, remembered

security_log = logging.getLogger("touchstone.security")

THROTTLED = "Too many failed authentication attempts from your address."


class AuthFailureThrottle:
    """Failed token authentications per client address (RELIABILITY S9, issue 19).

    Failures count against settings.AUTH_FAILURE_RATE (default 30/min) in Redis, so every
    gunicorn worker sees the same count (core.throttle; it fails open while Redis is
    away). Once an address is over the limit its guesses are refused unchecked (429, no
    token lookup: a right guess shows nothing), as before. But a token that has already
    worked from that address (remembered for KNOWN_GOOD_SECONDS) is still checked and, if
    right, served: one misconfigured client behind an office NAT no longer locks every
    other client of that office out, and guessing gains nothing from it (a guess's prefix
    is not one that worked from the guesser's address).
    """

    KNOWN_GOOD_SECONDS = 24 * 3600
    MAX_REMEMBERED_HERE = 10_000
    _remembered_here: dict[tuple[str, str], float] = {}

    def __init__(self) -> None:
        limit, window = SimpleRateThrottle.parse_rate(
            None,  # type: ignore[arg-type]  # parse_rate does not use self
            str(getattr(settings, "AUTH_FAILURE_RATE", "30/min")),
        )
        if limit is None or window is None:
            raise ImproperlyConfigured("AUTH_FAILURE_RATE must be a rate such as 30/min.")
        self.window = SlidingWindow("auth-failures", limit=int(limit), window=int(window))

    def get_ident(self, request: Request) -> str:
        # DRF trusts the whole X-Forwarded-For when NUM_PROXIES is unset, so a guesser
        # could send a fresh "address" with every request. Without a configured proxy
        # count, the socket address is the one thing a client cannot choose.
        if api_settings.NUM_PROXIES:
            return str(BaseThrottle().get_ident(request))
        return str(request.META.get("REMOTE_ADDR") or "unknown")

    def record_failure(self, ip: str) -> int:
        """Count a failure seen elsewhere (another process, a test)."""
        return self.window.record(ip)

    @staticmethod
    def known_good(ip: str, prefix: str) -> bool:
        return prefix != "-" and remembered("auth-good", f"{ip}:{prefix}")

    @classmethod
    def known_good_here(cls, ip: str, prefix: str) -> bool:
        """Whether this process saw the token work from this address lately: then it is
        known good wherever the count stands (Redis holds the same fact for longer), and
        the request needs no look at the count before its token is checked."""
        seen = cls._remembered_here.get((ip, prefix))
        return seen is not None and time.monotonic() - seen < cls.KNOWN_GOOD_SECONDS

    @classmethod
    def record_success(cls, ip: str, prefix: str) -> None:
        """Remember that this token worked from this address (written to Redis at most
        every ten minutes per process, not on every request)."""
        now = time.monotonic()
        last = cls._remembered_here.get((ip, prefix))
        if last is not None and now - last < 600:
            return
        if len(cls._remembered_here) >= cls.MAX_REMEMBERED_HERE:
            cls._remembered_here.clear()  # a bound, not a policy: Redis still knows
        cls._remembered_here[(ip, prefix)] = now
        remember("auth-good", f"{ip}:{prefix}", seconds=cls.KNOWN_GOOD_SECONDS)


_PUBLIC_PREFIX = re.compile(rf"^{TOKEN_PREFIX}([0-9a-f]{{1,12}})_")


def _public_prefix(raw: str) -> str:
    """The token's public prefix, for logs; never any part of the secret."""
    match = _PUBLIC_PREFIX.match(raw)
    return match.group(1) if match else "-"


class BearerTokenAuthentication(BaseAuthentication):
    """`Authorization: Bearer tst_…` (the keyword `Token` is accepted too).

    A bad, revoked or deactivated user's token answers 401 and is logged to
    "touchstone.security" with the client address and the token's public prefix; an
    address with too many failures answers 429 with Retry-After (AuthFailureThrottle).
    """

    def authenticate(self, request: Request) -> tuple[User, Any] | None:
        header = get_authorization_header(request).decode("latin-1")
        scheme, _, raw = header.partition(" ")
        if scheme.lower() not in ("bearer", "token"):
            return None
        raw = raw.strip()
        throttle = AuthFailureThrottle()
        ip, prefix = throttle.get_ident(request), _public_prefix(raw)
        # One round trip to Redis before the token is looked up counts this request as a
        # failure (unless the address is over its limit) and says where the count stood:
        # a wrong token then costs nothing more, a right one takes its count back. A token
        # this process saw work from this address skips it (the count matters to it only
        # if it fails, and is taken then).
        attempt: Attempt | None = None
        if not throttle.known_good_here(ip, prefix):
            attempt = throttle.window.attempt(ip)
            if attempt.over_limit and not throttle.known_good(ip, prefix):
                security_log.warning(
                    "API token refused, address throttled: ip=%s token_prefix=%s",
                    ip,
                    prefix,
                    extra={"event": "api_token_throttled", "ip": ip, "token_prefix": prefix},
                )
                raise exceptions.Throttled(wait=attempt.retry_after(), detail=THROTTLED)
        token = authenticate_token(raw)
        if token is None:
            if attempt is None:
                attempt = throttle.window.attempt(ip)
            security_log.warning(
                "API token rejected: ip=%s token_prefix=%s failures=%d",
                ip,
                prefix,
                attempt.count,
                extra={
                    "event": "api_token_rejected",
                    "ip": ip,
                    "token_prefix": prefix,
                    "failures": attempt.count,
                },
            )
            if attempt.over_limit:
                raise exceptions.Throttled(wait=attempt.retry_after(), detail=THROTTLED)
            raise exceptions.AuthenticationFailed("Invalid or revoked token.")
        if attempt is not None:
            throttle.window.withdraw(attempt)  # it worked: not a failure
        throttle.record_success(ip, prefix)
        return token.user, token

    def authenticate_header(self, request: Request) -> str:
        return 'Bearer realm="api"'


class BearerTokenScheme(OpenApiAuthenticationExtension):  # type: ignore[no-untyped-call]
    target_class = "core.api.authentication.BearerTokenAuthentication"
    name = "bearerAuth"

    def get_security_definition(self, auto_schema: Any) -> dict[str, str]:
        return {"type": "http", "scheme": "bearer", "description": "An API token: tst_…"}
