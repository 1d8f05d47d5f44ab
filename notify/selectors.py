"""Reads of the outbox for pages."""

from __future__ import annotations

from datetime import timedelta

from django.db.models import QuerySet
from django.utils import timezone

from accounts.models import Organization
from notify.models import EmailStatus, OutboundEmail

FAILED_EMAIL_DAYS = 30


def failed_emails(organization: Organization, *, limit: int = 20) -> QuerySet[OutboundEmail]:
    """The organization's messages that finally failed in the last 30 days, newest first."""
    since = timezone.now() - timedelta(days=FAILED_EMAIL_DAYS)
    return OutboundEmail.objects.for_organization(organization).filter(
        status=EmailStatus.FAILED, created_at__gte=since
    )[:limit]
