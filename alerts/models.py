"""Closing the loop: actions judged by re-measurement, events, who hears what, webhooks.

Events are facts with the figures of their moment (Event). Each member has a feed entry
per event of their organization (Notification), carrying how they hear it by email.
Integrations hear through signed webhooks (WebhookEndpoint, WebhookDelivery, one
WebhookAttempt per try). Actions are fixes with a baseline, judged by
scoring.verification.
"""

from __future__ import annotations

from datetime import time

from django.db import models
from django.db.models import Q

from accounts.models import Membership, Organization, TenantQuerySet, User
from journeys.models import Journey
from scoring import verification
from touchpoints.models import TouchPoint


class ActionState(models.TextChoices):
    OPENED = verification.OPENED, "Opened"
    DONE = verification.DONE, "Done"
    VERIFYING = verification.VERIFYING, "Verifying"
    VERIFIED = verification.VERIFIED, "Verified"
    NOT_SHOWN_TO_WORK = verification.NOT_SHOWN_TO_WORK, "Not shown to work"


class Action(models.Model):
    """A fix on a touch point: what will change, who owns it, by when; judged by the
    evaluations observed after it was done against the baseline taken at opening."""

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="+")
    journey = models.ForeignKey(Journey, on_delete=models.CASCADE, related_name="+")
    touch_point = models.ForeignKey(TouchPoint, on_delete=models.CASCADE, related_name="actions")
    description = models.TextField(max_length=2000, help_text="What will change.")
    owner = models.ForeignKey(User, on_delete=models.PROTECT, related_name="owned_actions")
    due = models.DateField(null=True, blank=True)
    review_days = models.PositiveSmallIntegerField(default=verification.DEFAULT_REVIEW_DAYS)
    opened_by = models.ForeignKey(User, on_delete=models.SET_NULL, null=True, related_name="+")
    opened_at = models.DateTimeField()
    # The baseline: the touch point's snapshot when the action was opened.
    baseline_n = models.PositiveIntegerField(default=0)
    baseline_mean = models.FloatField(null=True, blank=True)
    baseline_smoothed = models.FloatField(null=True, blank=True)
    baseline_ci_low = models.FloatField(null=True, blank=True)
    baseline_ci_high = models.FloatField(null=True, blank=True)
    baseline_window_start = models.DateTimeField(null=True, blank=True)
    baseline_window_end = models.DateTimeField(null=True, blank=True)
    done_at = models.DateTimeField(null=True, blank=True)
    done_by = models.ForeignKey(User, on_delete=models.SET_NULL, null=True, related_name="+")
    state = models.CharField(max_length=20, choices=ActionState.choices, default=ActionState.OPENED)
    state_changed_at = models.DateTimeField()
    # The evidence at the last judgement (observed after done_at, within the review period).
    evidence_n = models.PositiveIntegerField(default=0)
    evidence_mean = models.FloatField(null=True, blank=True)
    evidence_sd = models.FloatField(null=True, blank=True)
    evidence_low = models.FloatField(null=True, blank=True)
    judged_at = models.DateTimeField(null=True, blank=True)

    objects = TenantQuerySet.as_manager()

    class Meta:
        ordering = ["-opened_at", "-id"]
        indexes = [
            models.Index(fields=["touch_point", "-opened_at"], name="action_tp_opened"),
            models.Index(
                fields=["state"],
                name="action_awaiting_verdict",
                condition=Q(state__in=[verification.DONE, verification.VERIFYING]),
            ),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(state__in=ActionState.values), name="action_state_valid"
            ),
            models.CheckConstraint(
                condition=Q(state=verification.OPENED) | Q(done_at__isnull=False),
                name="action_done_has_time",
            ),
            models.CheckConstraint(condition=Q(review_days__gte=1), name="action_review_days"),
        ]

    def __str__(self) -> str:
        return self.description[:80]

    @property
    def is_final(self) -> bool:
        return self.state in verification.FINAL_STATES


class EventKind(models.TextChoices):
    WEAK_LINK_ENTERED = "weak_link.entered", "Became a weak link"
    WEAK_LINK_LEFT = "weak_link.left", "No longer a weak link"
    BLIND_SPOT_SCORED = "blind_spot.scored", "Blind spot now scored"
    JOURNEY_TARGET_CROSSED = "journey.target_crossed", "Journey crossed its target"
    CRITICAL_FAILURE = "evaluation.critical_failure", "Critical criterion failed"
    ACTION_OPENED = "action.opened", "Action opened"
    ACTION_DONE = "action.done", "Action done"
    ACTION_VERIFYING = "action.verifying", "Action verifying"
    ACTION_VERIFIED = "action.verified", "Action verified"
    ACTION_NOT_SHOWN = "action.not_shown_to_work", "Action not shown to work"
    ENDPOINT_DISABLED = "webhook.endpoint_disabled", "Webhook endpoint disabled"


class Event(models.Model):
    """Something worth telling, with the figures of its moment. Append-only; `key` makes
    recording it twice (a redelivered task, a retried outbox read) a no-op."""

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="+")
    kind = models.CharField(max_length=40, choices=EventKind.choices)
    journey = models.ForeignKey(
        Journey, on_delete=models.CASCADE, null=True, blank=True, related_name="+"
    )
    touch_point = models.ForeignKey(
        TouchPoint, on_delete=models.CASCADE, null=True, blank=True, related_name="+"
    )
    action = models.ForeignKey(
        Action, on_delete=models.CASCADE, null=True, blank=True, related_name="events"
    )
    summary = models.CharField(max_length=400)
    data = models.JSONField(default=dict)
    occurred_at = models.DateTimeField()
    key = models.CharField(max_length=120, unique=True)

    objects = TenantQuerySet.as_manager()

    class Meta:
        ordering = ["-occurred_at", "-id"]
        indexes = [models.Index(fields=["organization", "-occurred_at"], name="event_org_time")]

    def __str__(self) -> str:
        return self.summary


class EmailMode(models.TextChoices):
    IMMEDIATE = "immediate", "Email at once"
    DIGEST = "digest", "Daily digest"
    NONE = "none", "No email"


#: What a manager hears by email without having chosen: the events that need a decision.
MANAGER_DEFAULT_KINDS = (EventKind.WEAK_LINK_ENTERED, EventKind.CRITICAL_FAILURE)


class NotificationSetting(models.Model):
    """How one member hears about one journey's events (every kind). Without a row,
    managers get MANAGER_DEFAULT_KINDS at once and everyone else no email."""

    membership = models.ForeignKey(Membership, on_delete=models.CASCADE, related_name="+")
    journey = models.ForeignKey(Journey, on_delete=models.CASCADE, related_name="+")
    mode = models.CharField(max_length=12, choices=EmailMode.choices)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["membership", "journey"], name="notification_setting_once"
            ),
            models.CheckConstraint(
                condition=Q(mode__in=EmailMode.values), name="notification_mode_valid"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.membership_id} {self.journey_id}: {self.mode}"


class Notification(models.Model):
    """One event in one member's feed, and how they hear it by email (decided when the
    event was fanned out, so a later change of setting does not rewrite the past)."""

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="+")
    # No one-column indexes on event and user: the unique (event, user) and the feed's
    # (user, organization, -id) start with them, and a fan-out writes a row per member
    # per event, so every index costs (bench/events_bench.py).
    event = models.ForeignKey(
        Event, on_delete=models.CASCADE, related_name="notifications", db_index=False
    )
    user = models.ForeignKey(
        User, on_delete=models.CASCADE, related_name="notifications", db_index=False
    )
    email = models.CharField(max_length=12, choices=EmailMode.choices)
    read_at = models.DateTimeField(null=True, blank=True)
    emailed_at = models.DateTimeField(null=True, blank=True)

    objects = TenantQuerySet.as_manager()

    class Meta:
        ordering = ["-event__occurred_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["event", "user"], name="notification_once"),
        ]
        indexes = [
            models.Index(fields=["user", "organization", "-id"], name="notification_feed"),
            models.Index(
                fields=["user", "organization"],
                name="notification_unread",
                condition=Q(read_at__isnull=True),
            ),
            models.Index(
                fields=["organization", "user"],
                name="notification_digest_due",
                condition=Q(email="digest", emailed_at__isnull=True),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.user_id}: {self.event_id}"


class AlertSettings(models.Model):
    """Per organization: when the daily digest goes out (UTC)."""

    organization = models.OneToOneField(
        Organization, on_delete=models.CASCADE, related_name="alert_settings"
    )
    digest_time = models.TimeField(default=time(7, 0))
    last_digest_on = models.DateField(null=True, blank=True)

    objects = TenantQuerySet.as_manager()

    def __str__(self) -> str:
        return f"Daily digest at {self.digest_time:%H:%M} UTC"


class WebhookEndpoint(models.Model):
    """An integration's URL and the event types it wants. The secret signs every delivery
    (Standard Webhooks) and is shown once, at creation."""

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="+")
    url = models.URLField(max_length=500)
    description = models.CharField(max_length=200, blank=True)
    event_types = models.JSONField(default=list)
    secret = models.CharField(max_length=100)
    enabled = models.BooleanField(default=True)
    disabled_at = models.DateTimeField(null=True, blank=True)
    disabled_reason = models.CharField(max_length=200, blank=True)
    failing_since = models.DateTimeField(null=True, blank=True)
    created_by = models.ForeignKey(User, on_delete=models.SET_NULL, null=True, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    objects = TenantQuerySet.as_manager()

    class Meta:
        ordering = ["created_at", "id"]

    def __str__(self) -> str:
        return self.url


class DeliveryState(models.TextChoices):
    PENDING = "pending", "Pending"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed (no more retries)"


class WebhookDelivery(models.Model):
    """One message to one endpoint: its id (webhook-id) and body never change between
    attempts, so a receiver can deduplicate retries."""

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="+")
    endpoint = models.ForeignKey(
        WebhookEndpoint, on_delete=models.CASCADE, related_name="deliveries"
    )
    event = models.ForeignKey(
        Event, on_delete=models.CASCADE, null=True, blank=True, related_name="+"
    )
    msg_id = models.CharField(max_length=64, unique=True)
    event_type = models.CharField(max_length=40)
    payload = models.TextField()
    state = models.CharField(
        max_length=12, choices=DeliveryState.choices, default=DeliveryState.PENDING
    )
    attempts = models.PositiveSmallIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    lease_until = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField()

    objects = TenantQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(
                fields=["next_attempt_at"],
                name="delivery_due",
                condition=Q(state="pending"),
            ),
            models.Index(fields=["endpoint", "-created_at"], name="delivery_endpoint_time"),
        ]

    def __str__(self) -> str:
        return f"{self.event_type} → {self.endpoint_id} ({self.state})"


class WebhookAttempt(models.Model):
    """One try of a delivery: when, the HTTP status (None when no answer), how long."""

    delivery = models.ForeignKey(
        WebhookDelivery, on_delete=models.CASCADE, related_name="attempt_log"
    )
    at = models.DateTimeField()
    status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    latency_ms = models.PositiveIntegerField()
    error = models.CharField(max_length=300, blank=True)

    class Meta:
        ordering = ["at", "id"]

    def __str__(self) -> str:
        return f"{self.delivery_id} at {self.at}: {self.status_code or self.error}"
