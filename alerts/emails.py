"""Emails about events: one at once per event for members who chose it, and one daily
digest per member listing the rest, at the organization's digest time (UTC).

Which feed entries still need an email is the record (Notification.email / emailed_at);
a sender claims entries with SKIP LOCKED and marks them sent in the same transaction that
queues the message, so two workers never send the same entry twice.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from accounts.models import Organization
from alerts.models import AlertSettings, EmailMode, Notification
from notify.services import send_email

CLAIM_BATCH = 200


def _queue_email(
    *, organization: Organization, to: str, subject: str, template: str, context: dict[str, Any]
) -> None:
    """Into the mail outbox (notify), in the transaction that marks the entries emailed:
    both happen or neither, and the outbox retries a mail server that is away."""
    send_email(
        organization=organization,
        to=to,
        subject=subject,
        template=template,
        context=context,
        kind="alert",
    )


def _claim(**filters: object) -> list[Notification]:
    return list(
        Notification.objects.select_for_update(skip_locked=True, of=("self",))
        .filter(emailed_at__isnull=True, **filters)
        .select_related("user", "organization", "event__journey", "event__touch_point")
        .order_by("id")[:CLAIM_BATCH]
    )


def send_immediate() -> int:
    """One email per feed entry whose member hears its journey at once. Returns how many."""
    sent = 0
    while True:
        with transaction.atomic():
            batch = _claim(email=EmailMode.IMMEDIATE)
            if not batch:
                return sent
            now = timezone.now()
            for n in batch:
                if n.user.is_active and n.user.email:
                    _queue_email(
                        organization=n.organization,
                        to=n.user.email,
                        subject=n.event.summary[:150],
                        template="email/alert_event",
                        context={"event": n.event, "site_url": settings.SITE_URL},
                    )
                    sent += 1
            Notification.objects.filter(pk__in=[n.pk for n in batch]).update(emailed_at=now)


def digest_due(settings_row: AlertSettings, now: datetime) -> bool:
    """Once a day, at or after the organization's digest time (UTC)."""
    today = now.date()
    return settings_row.last_digest_on != today and now.time() >= settings_row.digest_time


def send_digests(*, now: datetime | None = None) -> int:
    """For each organization whose digest time has come today: one message per member
    with digest entries waiting, never an empty one. Returns messages sent."""
    now = now or timezone.now()
    org_ids = set(
        Notification.objects.filter(email=EmailMode.DIGEST, emailed_at__isnull=True)
        .values_list("organization_id", flat=True)
        .distinct()
    )
    sent = 0
    for org_id in sorted(org_ids):
        with transaction.atomic():
            row, _ = AlertSettings.objects.get_or_create(organization_id=org_id)
            row = AlertSettings.objects.select_for_update().get(pk=row.pk)
            if not digest_due(row, now):
                continue
            pending = list(
                Notification.objects.select_for_update(skip_locked=True, of=("self",))
                .filter(organization_id=org_id, email=EmailMode.DIGEST, emailed_at__isnull=True)
                .select_related("user", "organization", "event__journey", "event__touch_point")
                .order_by("user_id", "event__occurred_at", "id")
            )
            by_user: dict[int, list[Notification]] = defaultdict(list)
            for n in pending:
                by_user[n.user_id].append(n)
            for entries in by_user.values():
                user = entries[0].user
                if not (user.is_active and user.email):
                    continue
                _queue_email(
                    organization=entries[0].organization,
                    to=user.email,
                    subject=f"Daily digest: {len(entries)} event{'s' if len(entries) != 1 else ''}",
                    template="email/alert_digest",
                    context={
                        "events": [n.event for n in entries],
                        "site_url": settings.SITE_URL,
                        "day": now.date(),
                    },
                )
                sent += 1
            Notification.objects.filter(pk__in=[n.pk for n in pending]).update(emailed_at=now)
            row.last_digest_on = now.date()
            row.save(update_fields=["last_digest_on"])
    return sent
