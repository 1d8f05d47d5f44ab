"""Webhooks: Standard Webhooks signing, the address guard, and sending one attempt.

Signing (https://www.standardwebhooks.com): each delivery carries
``webhook-id`` (the same for every retry of one message), ``webhook-timestamp`` (Unix
seconds of this attempt) and ``webhook-signature: v1,<base64 HMAC-SHA256>`` of
``"{id}.{timestamp}.{body}"`` keyed with the endpoint's secret (``whsec_`` + base64 of 32
random bytes). Receivers verify with any Standard Webhooks library.

Server-side request forgery: a manager types the URL, the worker fetches it. Outside
DEBUG an endpoint whose host resolves to a loopback, private, link-local, multicast,
reserved or unspecified address is refused when it is registered *and* at every
attempt, and the connection goes to the address that was checked (no second lookup a
rebinding DNS server could answer differently). Redirects are not followed.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import http.client
import ipaddress
import secrets
import socket
import ssl
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

from django.conf import settings
from django.core.exceptions import ValidationError

SECRET_PREFIX = "whsec_"  # noqa: S105 (the scheme's prefix, not a secret)
USER_AGENT = "Touchstone-Webhooks/1"


def new_secret() -> str:
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(32)).decode()


def sign(secret: str, msg_id: str, timestamp: int, body: str) -> str:
    """The ``webhook-signature`` header value for one attempt."""
    key = base64.b64decode(secret.removeprefix(SECRET_PREFIX))
    digest = hmac.new(key, f"{msg_id}.{timestamp}.{body}".encode(), hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def signed_headers(
    secret: str, msg_id: str, body: str, *, now: float | None = None
) -> dict[str, str]:
    timestamp = int(now if now is not None else time.time())
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": sign(secret, msg_id, timestamp, body),
        "content-type": "application/json",
        "user-agent": USER_AGENT,
    }


# --- Address guard -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Target:
    scheme: str
    host: str
    port: int
    path: str
    address: str  # the resolved IP the request goes to


def _forbidden(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return (
        ip.is_loopback
        or ip.is_private
        or ip.is_link_local
        or ip.is_multicast
        or ip.is_reserved
        or ip.is_unspecified
        or not ip.is_global
    )


def check_url(url: str) -> None:
    """Refuse (ValidationError on ``url``) what may never be an endpoint, without a DNS
    lookup: the scheme (https; http only in DEBUG), credentials, a missing host."""
    try:
        parts = urlsplit(url)
    except ValueError:  # e.g. an unclosed [IPv6 literal
        raise ValidationError({"url": ["This is not a valid address."]}) from None
    allowed = ("https", "http") if settings.WEBHOOK_ALLOW_HTTP else ("https",)
    if parts.scheme not in allowed:
        raise ValidationError({"url": ["Use an https:// address."]})
    if not parts.hostname:
        raise ValidationError({"url": ["The address names no host."]})
    if parts.username or parts.password:
        raise ValidationError({"url": ["Put no user name or password in the address."]})
    try:
        parts.port  # noqa: B018 (raises on a malformed port)
    except ValueError:
        raise ValidationError({"url": ["The port is not a number from 1 to 65535."]}) from None


def resolve(url: str) -> Target:
    """Check ``url`` and resolve its host to the address a request will be sent to.
    ValidationError (on ``url``) when it does not resolve or, outside DEBUG, resolves to
    an address inside a private network (every address of the host is checked)."""
    check_url(url)
    parts = urlsplit(url)
    host = parts.hostname or ""
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError):
        raise ValidationError({"url": ["The host name does not resolve."]}) from None
    addresses = []
    for info in infos:
        raw = str(info[4][0]).split("%")[0]
        addresses.append(ipaddress.ip_address(raw))
    if not addresses:
        raise ValidationError({"url": ["The host name does not resolve."]})
    if not settings.WEBHOOK_ALLOW_PRIVATE_ADDRESSES and any(_forbidden(a) for a in addresses):
        raise ValidationError(
            {"url": ["The address points into a private network; use a public address."]}
        )
    path = parts.path or "/"
    if parts.query:
        path += "?" + parts.query
    return Target(parts.scheme, host, port, path, str(addresses[0]))


# --- Sending ---------------------------------------------------------------------------------------


class _PinnedHTTPConnection(http.client.HTTPConnection):
    def __init__(self, target: Target, timeout: float):
        super().__init__(target.host, target.port, timeout=timeout)
        self._address = target.address

    def connect(self) -> None:
        self.sock = socket.create_connection((self._address, self.port), self.timeout)


class _PinnedHTTPSConnection(http.client.HTTPSConnection):
    """TLS to the checked address, with the host name for SNI and certificate checks."""

    def __init__(self, target: Target, timeout: float):
        super().__init__(
            target.host, target.port, timeout=timeout, context=ssl.create_default_context()
        )
        self._address = target.address

    def connect(self) -> None:
        sock = socket.create_connection((self._address, self.port), self.timeout)
        self.sock = self._context.wrap_socket(sock, server_hostname=self.host)  # type: ignore[attr-defined]


@dataclass(frozen=True)
class Outcome:
    status_code: int | None
    latency_ms: int
    error: str

    @property
    def ok(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


def post(url: str, headers: dict[str, str], body: str) -> Outcome:
    """One POST with the configured timeout. Never raises: a refused address, a timeout or
    a broken connection is an Outcome with no status and the reason."""
    started = time.monotonic()

    def done(status: int | None, error: str = "") -> Outcome:
        return Outcome(status, int((time.monotonic() - started) * 1000), error[:300])

    try:
        target = resolve(url)
    except ValidationError as refused:
        return done(None, "; ".join(refused.messages))
    timeout = settings.WEBHOOK_TIMEOUT_SECONDS
    conn_class = _PinnedHTTPSConnection if target.scheme == "https" else _PinnedHTTPConnection
    conn = conn_class(target, timeout)
    try:
        conn.request("POST", target.path, body=body.encode(), headers=headers)
        response = conn.getresponse()
        response.read(64 * 1024)  # a little of the answer, never all of a huge one
        return done(response.status)
    except TimeoutError:
        return done(None, f"No answer within {timeout:g} s.")
    except (OSError, http.client.HTTPException) as error:
        return done(None, f"{type(error).__name__}: {error}")
    finally:
        conn.close()
