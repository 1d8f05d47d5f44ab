"""The API's access point: token authentication, which organization a request acts in,
role checks, and the base viewset that scopes every query to that organization.

Another organization's objects are answered as if they did not exist (404), whatever
the caller's role: object lookups go through the scoped queryset before any role check.
"""

from __future__ import annotations

import logging
import re
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import RequestDataTooBig
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db.models import Model, QuerySet
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse
from rest_framework import exceptions, status
from rest_framework.authentication import BaseAuthentication, get_authorization_header
from rest_framework.pagination import PageNumberPagination
from rest_framework.permissions import SAFE_METHODS, BasePermission
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.settings import api_settings
from rest_framework.throttling import SimpleRateThrottle

if TYPE_CHECKING:
    # rest_framework.views reads these very classes from settings at import: import it
    # lazily, or settings would import a half-loaded module.
    from rest_framework.views import APIView

from accounts.concurrency import ErrorSerializer
from accounts.models import ROLES_THAT_EDIT_STRUCTURE, Membership, Role, User
from accounts.tokens import TOKEN_PREFIX, authenticate_token
from config.database_unavailable import RETRY_AFTER_SECONDS, database_unavailable
from core.ids import parse_id

security_log = logging.getLogger("touchstone.security")

ORGANIZATION_HEADER = "X-Organization"

ORGANIZATION_PARAMETER = OpenApiParameter(
    name=ORGANIZATION_HEADER,
    type=str,
    location=OpenApiParameter.HEADER,
    required=False,
    description=(
        "Slug or id of the organization to act in. Required when the caller belongs to "
        "more than one organization; otherwise their only organization is used."
    ),
)

FIELD_ERRORS_SCHEMA = {
    "type": "object",
    "description": 'Messages by field: {"field": ["message", ...]}.',
    "additionalProperties": {"type": "array", "items": {"type": "string"}},
}
# What any operation can refuse before its own code runs: the token check
# (BearerTokenAuthentication, AuthFailureThrottle) and request_membership.
ACCESS_REFUSALS: dict[int, tuple[Any, str]] = {
    400: (
        FIELD_ERRORS_SCHEMA,
        "X-Organization is missing and you belong to several organizations.",
    ),
    401: (ErrorSerializer, "Missing, invalid or revoked token."),
    403: (ErrorSerializer, "You are not a member of any organization."),
    404: (ErrorSerializer, "X-Organization names none of your organizations."),
    429: (
        ErrorSerializer,
        "Too many failed token checks from your address; retry after Retry-After seconds.",
    ),
}


def with_access_refusals(responses: dict[int, Any]) -> dict[int, Any]:
    """An operation's documented responses plus the refusals every operation can give
    (ACCESS_REFUSALS): a status the operation documents itself keeps its body and
    examples, and its description gains the access reason."""
    merged = dict(responses)
    for code, (body, reason) in ACCESS_REFUSALS.items():
        own = merged.get(code)
        if own is None:
            merged[code] = OpenApiResponse(body, description=reason)
        elif isinstance(own, OpenApiResponse):
            merged[code] = OpenApiResponse(
                own.response, description=f"{own.description} Or: {reason}", examples=own.examples
            )
        else:
            raise TypeError(f"Document {code} as an OpenApiResponse, with its description.")
    return merged


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
    target_class = "accounts.api.BearerTokenAuthentication"
    name = "bearerAuth"

    def get_security_definition(self, auto_schema: Any) -> dict[str, str]:
        return {"type": "http", "scheme": "bearer", "description": "An API token: tst_…"}


def request_membership(request: Request) -> Membership:
    """The caller's membership in the organization this request acts in (cached)."""
    cached = getattr(request, "_touchstone_membership", None)
    if cached is not None:
        return cached  # type: ignore[no-any-return]
    user = request.user
    if not user or not user.is_authenticated:
        raise exceptions.NotAuthenticated()
    memberships = Membership.objects.select_related("organization").filter(user_id=user.pk)
    ref = (request.headers.get(ORGANIZATION_HEADER) or "").strip()
    if ref:
        match = memberships.filter(organization__slug=ref).first()
        if match is None and parse_id(ref) is not None:
            match = memberships.filter(organization_id=parse_id(ref)).first()
        if match is None:
            raise exceptions.NotFound(f"You are not a member of an organization {ref!r}.")
    else:
        found = list(memberships[:2])
        if not found:
            raise exceptions.PermissionDenied("You are not a member of any organization.")
        if len(found) > 1:
            raise exceptions.ValidationError(
                {
                    ORGANIZATION_HEADER: [
                        "You belong to several organizations: send the X-Organization "
                        "header with the slug or id of the one to act in."
                    ]
                }
            )
        match = found[0]
    request._touchstone_membership = match  # type: ignore[attr-defined]
    return match


class RolePermission(BasePermission):
    """Reads: any member. Writes: the view's `write_roles` (managers by default).

    On detail routes the role is checked after the object was found in the caller's
    organization, so another organization's id answers 404 to every role.
    """

    def has_permission(self, request: Request, view: APIView) -> bool:
        membership = request_membership(request)
        if request.method in SAFE_METHODS or view.kwargs.get("pk") is not None:
            return True
        return self._allowed(membership, view)

    def has_object_permission(self, request: Request, view: APIView, obj: Model) -> bool:
        if request.method in SAFE_METHODS:
            return True
        return self._allowed(request_membership(request), view)

    @staticmethod
    def _allowed(membership: Membership, view: APIView) -> bool:
        roles = getattr(view, "write_roles", ROLES_THAT_EDIT_STRUCTURE)
        if membership.role not in roles:
            raise exceptions.PermissionDenied(
                f"Your role ({Role(membership.role).label.lower()}) cannot do this."
            )
        return True


class TenantScopedMixin:
    """Scopes `queryset` to the request's organization: the one tenant filter of the API."""

    request: Request
    queryset: QuerySet[Any]

    def get_queryset(self) -> QuerySet[Any]:
        membership = request_membership(self.request)
        return self.queryset.filter(organization_id=membership.organization_id)

    @property
    def membership(self) -> Membership:
        return request_membership(self.request)


class Pagination(PageNumberPagination):
    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 500  # larger requests are clamped, not refused


# DRF's pagination answers a page it cannot serve with 404 "Invalid page.".
NO_SUCH_PAGE = {
    404: OpenApiResponse(
        ErrorSerializer,
        description="No such page: `page` is not a whole number from 1, or is past the last page.",
    )
}


def api_exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    """JSON errors everywhere: service ValidationErrors become 400 with their fields,
    oversized bodies 413, a lost database 503 with Retry-After."""
    if isinstance(exc, RequestDataTooBig):
        return Response(
            {"detail": "The request body is too large (limit 1 MB)."},
            status=status.HTTP_413_REQUEST_ENTITY_TOO_LARGE,
        )
    if isinstance(exc, DjangoValidationError):
        detail: Any = exc.message_dict if hasattr(exc, "error_dict") else {"detail": exc.messages}
        if "__all__" in detail:
            detail["non_field_errors"] = detail.pop("__all__")
        return Response(detail, status=status.HTTP_400_BAD_REQUEST)
    if isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied(str(exc) or None)
    if database_unavailable(exc):
        # Not "nothing was stored": a connection lost during COMMIT may follow a durable
        # commit (seen in the R8 crash test). The key's replay tells the client which.
        return Response(
            {
                "detail": (
                    "The database is unavailable. Retry shortly with the same "
                    "Idempotency-Key: a request that was stored is then answered, not "
                    "stored twice."
                )
            },
            status=status.HTTP_503_SERVICE_UNAVAILABLE,
            headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
        )
    from rest_framework.views import exception_handler

    return exception_handler(exc, context)
