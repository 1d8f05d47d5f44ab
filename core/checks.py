"""System checks for what must hold in every deployment (registered by core.apps)."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.checks import Error


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
