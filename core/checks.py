"""System checks for what must hold in every deployment (registered by core.apps)."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.checks import Error, Warning


def check_utc_and_broker(app_configs: Any = None, **kwargs: Any) -> list[Error]:
    errors = []
    if settings.TIME_ZONE != "UTC" or not settings.USE_TZ:
        errors.append(
            Error(
                "Touchstone stores and computes in UTC: keep TIME_ZONE='UTC' and USE_TZ=True.",
                id="touchstone.E001",
            )
        )
    if not str(settings.CELERY_BROKER_URL).startswith(("redis://", "rediss://")):
        errors.append(
            Error("CELERY_BROKER_URL (or REDIS_URL) must be a redis:// URL.", id="touchstone.E002")
        )
    if settings.DATABASES["default"]["ENGINE"] != "django.db.backends.postgresql":
        errors.append(
            Error(
                "Touchstone needs PostgreSQL: set DATABASE_URL to a postgres:// URL.",
                id="touchstone.E003",
            )
        )
    return errors


def check_proxy_trust(app_configs: Any = None, **kwargs: Any) -> list[Warning]:
    """Trusting a proxy's X-Forwarded-Proto while counting the proxy's own address as the
    client's (or the reverse) is the contradiction TRUSTED_PROXIES exists to prevent: every
    client behind the proxy shares one throttle and one sign-in lockout."""
    trusts_scheme = getattr(settings, "SECURE_PROXY_SSL_HEADER", None) is not None
    counts_proxies = bool(settings.REST_FRAMEWORK.get("NUM_PROXIES"))
    if trusts_scheme == counts_proxies:
        return []
    return [
        Warning(
            "SECURE_PROXY_SSL_HEADER and REST_FRAMEWORK['NUM_PROXIES'] disagree about a proxy "
            "in front of Touchstone: "
            + (
                "the scheme is taken from the proxy but client addresses are not, so every "
                "client behind it shares one throttle and one sign-in lockout."
                if trusts_scheme
                else "client addresses are read behind a proxy whose scheme is not trusted."
            ),
            hint="Set only TRUSTED_PROXIES (the number of proxies) and let it set both.",
            id="touchstone.W010",
        )
    ]
