"""Admin for the alerts app, for support staff answering "why did (or didn't) I hear about
this?".

What happened stays as it happened: events, feed entries, actions (their baselines and
verdicts are the evidence a fix is judged by), webhook deliveries and their attempts are
read-only. Endpoints are read-only too (a URL changed here would skip the address checks
of alerts.delivery) and their signing secret is never shown, not even to staff. What a
member or manager merely chose can be corrected: a member's email choice per journey, the
organization's digest time (audited like a manager's change).
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from accounts.admin import AnyModelAdmin, AuditedAdmin, ReadOnlyAdmin, ReadOnlyTabularInline
from alerts.models import (
    Action,
    AlertSettings,
    Event,
    Notification,
    NotificationSetting,
    WebhookAttempt,
    WebhookDelivery,
    WebhookEndpoint,
)


@admin.register(Event)
class EventAdmin(ReadOnlyAdmin):
    list_display = ("occurred_at", "organization", "kind", "summary")
    list_filter = ("kind", "organization")
    list_select_related = ("organization",)
    search_fields = ("summary",)
    date_hierarchy = "occurred_at"
    show_full_result_count = False  # events grow with every recompute: no COUNT(*) per page


@admin.register(Notification)
class NotificationAdmin(ReadOnlyAdmin):
    list_display = ("event", "user", "organization", "email", "read_at", "emailed_at")
    list_filter = ("email", "organization")
    list_select_related = ("event", "user", "organization")
    search_fields = ("user__email", "event__summary")
    show_full_result_count = False


@admin.register(NotificationSetting)
class NotificationSettingAdmin(AnyModelAdmin):
    """A member's email choice for one journey; deleting it returns them to the default."""

    list_display = ("membership", "journey", "mode")
    list_filter = ("mode",)
    list_select_related = ("membership__user", "membership__organization", "journey")
    search_fields = ("membership__user__email", "journey__name")
    readonly_fields = ("membership", "journey")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # members choose for themselves, per journey


@admin.register(AlertSettings)
class AlertSettingsAdmin(AuditedAdmin):
    list_display = ("organization", "digest_time", "last_digest_on")
    list_select_related = ("organization",)
    search_fields = ("organization__name",)
    readonly_fields = ("last_digest_on",)

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        return ("organization", "last_digest_on") if obj is not None else ("last_digest_on",)


@admin.register(Action)
class ActionAdmin(ReadOnlyAdmin):
    list_display = ("description", "touch_point", "organization", "owner", "state", "due")
    list_filter = ("state", "organization")
    list_select_related = ("touch_point", "organization", "owner")
    search_fields = ("description", "touch_point__name", "owner__email")


@admin.register(WebhookEndpoint)
class WebhookEndpointAdmin(ReadOnlyAdmin):
    list_display = ("url", "organization", "enabled", "failing_since", "created_at")
    list_filter = ("enabled", "organization")
    list_select_related = ("organization",)
    search_fields = ("url", "description")
    # The signing secret is shown once, to the manager who registers the endpoint.
    exclude = ("secret",)


class AttemptInline(ReadOnlyTabularInline):
    model = WebhookAttempt
    fields = ("at", "status_code", "latency_ms", "error")
    readonly_fields = fields


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(ReadOnlyAdmin):
    list_display = ("msg_id", "event_type", "endpoint", "organization", "state", "attempts")
    list_filter = ("state", "event_type", "organization")
    list_select_related = ("endpoint", "organization")
    search_fields = ("msg_id", "endpoint__url")
    exclude = ("lease_until",)
    inlines = (AttemptInline,)
    show_full_result_count = False
