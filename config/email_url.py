"""EMAIL_URL: the whole outgoing-mail configuration in one environment variable.

    smtp://user:password@host:587/?tls=true   SMTP, STARTTLS after connecting (port 25 by default)
    smtps://user:password@host:465/           SMTP over TLS from the first byte (port 465 by default)
    console://                                print each message to the process's output

User and password are percent-decoded (a password with @, : or / must be encoded). Query
parameters: `tls` (true/false, smtp:// only), `timeout` (seconds, default 10). Anything else
is refused, so a typo fails at start-up instead of at the first invitation.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

from django.core.exceptions import ImproperlyConfigured

_BACKENDS = {
    "smtp": "django.core.mail.backends.smtp.EmailBackend",
    "smtps": "django.core.mail.backends.smtp.EmailBackend",
    "console": "django.core.mail.backends.console.EmailBackend",
}
_TRUE, _FALSE = ("1", "true", "yes", "on"), ("0", "false", "no", "off")


def parse_email_url(url: str) -> dict[str, Any]:
    """Django's EMAIL_* settings for `url`; ImproperlyConfigured with the reason if it is wrong."""
    parts = urlsplit(url.strip())
    scheme = parts.scheme.lower()
    if scheme not in _BACKENDS:
        raise ImproperlyConfigured(
            f"EMAIL_URL must start with smtp://, smtps:// or console://, not {url.split(':')[0]!r}."
        )
    config: dict[str, Any] = {"EMAIL_BACKEND": _BACKENDS[scheme]}
    if scheme == "console":
        return config
    if not parts.hostname:
        raise ImproperlyConfigured("EMAIL_URL names no mail server host (smtp://host:port/).")
    query = dict(parse_qsl(parts.query, keep_blank_values=True))
    unknown = set(query) - {"tls", "timeout"}
    if unknown:
        raise ImproperlyConfigured(
            f"EMAIL_URL has unknown parameters {sorted(unknown)}; only tls and timeout exist."
        )
    tls = _flag(query.get("tls", "false"))
    if tls and scheme == "smtps":
        raise ImproperlyConfigured("EMAIL_URL: smtps:// is already TLS; drop ?tls=true.")
    try:
        port = parts.port
        timeout = float(query.get("timeout", "10"))
    except ValueError:
        raise ImproperlyConfigured(
            "EMAIL_URL has a port or timeout that is not a number."
        ) from None
    config.update(
        EMAIL_HOST=parts.hostname,
        EMAIL_PORT=port or (465 if scheme == "smtps" else 25),
        EMAIL_HOST_USER=unquote(parts.username or ""),
        EMAIL_HOST_PASSWORD=unquote(parts.password or ""),
        EMAIL_USE_TLS=tls,
        EMAIL_USE_SSL=scheme == "smtps",
        EMAIL_TIMEOUT=timeout,
    )
    return config


def _flag(raw: str) -> bool:
    if raw.lower() in _TRUE:
        return True
    if raw.lower() in _FALSE:
        return False
    raise ImproperlyConfigured(f"EMAIL_URL: tls must be true or false, not {raw!r}.")
