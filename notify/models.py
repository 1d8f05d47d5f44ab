"""The outbox: one row per message, written in the caller's transaction.

The row, not the Celery message, is the record: a message lost with the broker is sent by
the sweep (notify.tasks.sweep_unsent). Bodies are kept only until the message is final
(sent or failed), because they hold sign-in links; recipient, subject and the last error
stay so managers can see what did not arrive.
"""

from __future__ import annotations

from django.db import models
from django.db.models import Q

from accounts.models import Organization, TenantQuerySet


class EmailStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    SENDING = "sending", "Sending"
    SENT = "sent", "Sent"
    FAILED = "failed", "Failed"


class OutboundEmail(models.Model):
    # None for messages that belong to no one organization (password reset).
    organization = models.ForeignKey(
        Organization, on_delete=models.CASCADE, null=True, blank=True, related_name="+"
    )
    to = models.EmailField()
    subject = models.CharField(max_length=300)
    text_body = models.TextField(blank=True)
    html_body = models.TextField(blank=True)
    # What the message is about, e.g. "invitation", for the managers' list.
    kind = models.CharField(max_length=40)
    status = models.CharField(
        max_length=10, choices=EmailStatus.choices, default=EmailStatus.QUEUED
    )
    attempts = models.PositiveSmallIntegerField(default=0)
    last_error = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    # When a queued message is due (its next retry); the sweep sends those overdue.
    next_attempt_at = models.DateTimeField(db_index=True)
    claimed_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    objects = TenantQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["organization", "status", "-created_at"])]
        constraints = [
            models.CheckConstraint(
                condition=Q(status__in=EmailStatus.values), name="outbound_email_status_valid"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.kind} to {self.to} ({self.status})"
