"""The API's token authentication: `Authorization: Bearer tst_…`, with failed attempts
throttled per client address (RELIABILITY S9) and logged without any part of the secret.

DRF reads BearerTokenAuthentication from settings while rest_framework.views is loading,
so this module must not import rest_framework.views (nor anything that does).
"""

from __future__ import annotations

import logging
import re
from typing import TYPE_CHECKING, Any

from django.conf import settings
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import exceptions
from rest_framework.authentication import BaseAuthentication, get_authorization_header
from rest_framework.request import Request
from rest_framework.settings import api_settings
from rest_framework.throttling import SimpleRateThrottle

from accounts.models import User
from accounts.tokens import TOKEN_PREFIX, authenticate_token

if TYPE_CHECKING:
    # For annotations only: importing it here would be an import cycle (see above).
    from rest_framework.views import APIView

security_log = logging.getLogger("touchstone.security")


class AuthFailureThrottle(SimpleRateThrottle):
    """Failed token authentications per client address (RELIABILITY S9).

    Only failures count, against settings.AUTH_FAILURE_RATE (default 30/min). Once an
    address is over the limit, its Bearer requests are refused before any token lookup,
    valid token or not: a guesser must learn nothing from a right guess while throttled.
    Counters live in the default cache (per process; see CACHES in settings).
    """

    scope = "auth_failures"
    num_requests: int  # set by SimpleRateThrottle.__init__ from the rate
    duration: int

    def get_rate(self) -> str:
        return str(getattr(settings, "AUTH_FAILURE_RATE", "30/min"))

    def get_ident(self, request: Request) -> str:
        # DRF trusts the whole X-Forwarded-For when NUM_PROXIES is unset, so a guesser
        # could send a fresh "address" with every request. Without a configured proxy
        # count, the socket address is the one thing a client cannot choose.
        if api_settings.NUM_PROXIES:
            return str(super().get_ident(request))
        return str(request.META.get("REMOTE_ADDR") or "unknown")

    def get_cache_key(self, request: Request, view: APIView | None = None) -> str:
        return self.cache_format % {"scope": self.scope, "ident": self.get_ident(request)}

    def over_limit(self, request: Request) -> bool:
        """Whether this address has used up its failures; records nothing."""
        self.key = self.get_cache_key(request)
        self.now = self.timer()
        self.history = [t for t in self.cache.get(self.key, []) if t > self.now - self.duration]
        return len(self.history) >= self.num_requests

    def wait(self) -> float:
        """Seconds until enough failures have aged out of the window to let one through."""
        if not self.history or self.num_requests < 1:
            return float(self.duration)
        blocking = float(self.history[min(self.num_requests, len(self.history)) - 1])
        return max(self.duration - (self.now - blocking), 1.0)

    def record_failure(self) -> int:
        """Count one more failure (after over_limit()); returns the failures in the window."""
        self.history.insert(0, self.now)
        self.cache.set(self.key, self.history, self.duration)
        return len(self.history)


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
        if throttle.over_limit(request):
            security_log.warning(
                "API token refused, address throttled: ip=%s token_prefix=%s",
                ip,
                prefix,
                extra={"event": "api_token_throttled", "ip": ip, "token_prefix": prefix},
            )
            raise exceptions.Throttled(
                wait=throttle.wait(),
                detail="Too many failed authentication attempts from your address.",
            )
        token = authenticate_token(raw)
        if token is None:
            failures = throttle.record_failure()
            security_log.warning(
                "API token rejected: ip=%s token_prefix=%s failures=%d",
                ip,
                prefix,
                failures,
                extra={
                    "event": "api_token_rejected",
                    "ip": ip,
                    "token_prefix": prefix,
                    "failures": failures,
                },
            )
            raise exceptions.AuthenticationFailed("Invalid or revoked token.")
        return token.user, token

    def authenticate_header(self, request: Request) -> str:
        return 'Bearer realm="api"'


class BearerTokenScheme(OpenApiAuthenticationExtension):  # type: ignore[no-untyped-call]
    target_class = "core.api.authentication.BearerTokenAuthentication"
    name = "bearerAuth"

    def get_security_definition(self, auto_schema: Any) -> dict[str, str]:
        return {"type": "http", "scheme": "bearer", "description": "An API token: tst_…"}
