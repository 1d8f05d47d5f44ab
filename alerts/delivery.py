"""Webhook endpoints (register, change, remove, test, redeliver) and delivering them.

A delivery is a row; the database, not the broker, holds when it is due. A worker claims
due rows with a short lease (SELECT ... FOR UPDATE SKIP LOCKED), sends outside any
transaction, logs the attempt and schedules the next one from WEBHOOK_RETRY_SCHEDULE
(about a day in all). Celery ETAs are not used for the retries: with the Redis broker a
task due later than the visibility timeout is delivered twice (FIELD-NOTES).
"""

from __future__ import annotations

import json
import logging
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import connection, transaction
from django.utils import timezone

from accounts.access import membership_for
from accounts.models import Organization, Role, User
from accounts.services import record_audit
from alerts import webhooks
from alerts.models import (
    DeliveryState,
    EventKind,
    WebhookAttempt,
    WebhookDelivery,
    WebhookEndpoint,
)
from alerts.services import SEND_PENDING, new_msg_id, record_event
from core import broker
from core.text import clean_text, raise_if

log = logging.getLogger(__name__)

TEST_EVENT = "webhook.test"
#: The event types an endpoint may ask for (every event but the managers-only one).
EVENT_TYPES = [k.value for k in EventKind if k != EventKind.ENDPOINT_DISABLED]
LEASE = timedelta(minutes=5)
CLAIM_BATCH = 20
MAX_ENDPOINTS_PER_ORGANIZATION = 20


def _require_manager(actor: User, organization_id: int) -> None:
    membership = membership_for(actor, organization_id)
    if membership is None or membership.role != Role.MANAGER:
        raise PermissionDenied("Only managers manage webhooks.")


def _clean(data: dict[str, Any], *, partial: bool) -> dict[str, Any]:
    errors: dict[str, list[str]] = {}
    unknown = set(data) - {"url", "description", "event_types", "enabled"}
    if unknown:
        errors["__all__"] = [f"Unknown fields: {', '.join(sorted(unknown))}."]
    values: dict[str, Any] = {}
    if "url" in data or not partial:
        url = clean_text(errors, "url", data.get("url"), max_length=500, required=True)
        if url and "url" not in errors:
            try:
                webhooks.resolve(url)
            except ValidationError as refused:
                errors.setdefault("url", []).extend(refused.messages)
        values["url"] = url
    if "description" in data:
        values["description"] = clean_text(
            errors, "description", data["description"], max_length=200
        )
    if "event_types" in data or not partial:
        types = data.get("event_types")
        if (
            not isinstance(types, list)
            or not types
            or not all(isinstance(t, str) and t in EVENT_TYPES for t in types)
        ):
            errors["event_types"] = [f"Choose one or more of: {', '.join(EVENT_TYPES)}."]
        else:
            values["event_types"] = sorted(set(types))
    if "enabled" in data:
        if not isinstance(data["enabled"], bool):
            errors["enabled"] = ["Must be true or false."]
        values["enabled"] = data["enabled"]
    raise_if(errors)
    return values


@transaction.atomic
def register_endpoint(
    *, actor: User, organization: Organization, data: dict[str, Any]
) -> tuple[WebhookEndpoint, str]:
    """A new endpoint and its signing secret, which is returned this once."""
    _require_manager(actor, organization.pk)
    values = _clean(data, partial=False)
    values.pop("enabled", None)
    if (
        WebhookEndpoint.objects.for_organization(organization).count()
        >= MAX_ENDPOINTS_PER_ORGANIZATION
    ):
        raise ValidationError(
            {
                "__all__": [
                    f"An organization has at most {MAX_ENDPOINTS_PER_ORGANIZATION} endpoints."
                ]
            }
        )
    secret = webhooks.new_secret()
    endpoint = WebhookEndpoint.objects.create(
        organization=organization, secret=secret, created_by=actor, **values
    )
    record_audit(
        actor=actor,
        organization=organization,
        action="create",
        obj=endpoint,
        changes={"url": endpoint.url, "event_types": endpoint.event_types},
    )
    return endpoint, secret


@transaction.atomic
def update_endpoint(
    *, actor: User, endpoint: WebhookEndpoint, data: dict[str, Any]
) -> WebhookEndpoint:
    """Change the URL, description, event types, or enable/disable. Enabling again clears
    the failure clock and lets pending deliveries go out."""
    _require_manager(actor, endpoint.organization_id)
    values = _clean(data, partial=True)
    changes = {k: [getattr(endpoint, k), v] for k, v in values.items() if getattr(endpoint, k) != v}
    for key, value in values.items():
        setattr(endpoint, key, value)
    if values.get("enabled") is True:
        endpoint.disabled_at = None
        endpoint.disabled_reason = ""
        endpoint.failing_since = None
    elif values.get("enabled") is False and "enabled" in changes:
        endpoint.disabled_at = timezone.now()
        endpoint.disabled_reason = "Disabled by a manager."
    endpoint.save()
    if changes:
        record_audit(
            actor=actor,
            organization=endpoint.organization_id,
            action="update",
            obj=endpoint,
            changes={k: [str(a), str(b)] for k, (a, b) in changes.items()},
        )
    return endpoint


@transaction.atomic
def delete_endpoint(*, actor: User, endpoint: WebhookEndpoint) -> None:
    _require_manager(actor, endpoint.organization_id)
    record_audit(actor=actor, organization=endpoint.organization_id, action="delete", obj=endpoint)
    endpoint.delete()


@transaction.atomic
def send_test(*, actor: User, endpoint: WebhookEndpoint) -> WebhookDelivery:
    """Queue a "webhook.test" message to one endpoint (even a disabled one's URL is
    only tried if it is enabled)."""
    _require_manager(actor, endpoint.organization_id)
    now = timezone.now()
    body = json.dumps(
        {
            "type": TEST_EVENT,
            "timestamp": now.isoformat(),
            "data": {
                "organization": endpoint.organization.slug,
                "summary": "A test event from Touchstone: your endpoint receives and verifies webhooks.",
            },
        },
        separators=(",", ":"),
    )
    delivery = WebhookDelivery.objects.create(
        organization_id=endpoint.organization_id,
        endpoint=endpoint,
        msg_id=new_msg_id(),
        event_type=TEST_EVENT,
        payload=body,
        next_attempt_at=now,
        created_at=now,
    )
    transaction.on_commit(_kick)
    return delivery


@transaction.atomic
def redeliver(*, actor: User, delivery: WebhookDelivery) -> WebhookDelivery:
    """Send a message again, same id and body (receivers deduplicate on webhook-id), with
    a fresh series of retries."""
    _require_manager(actor, delivery.organization_id)
    locked: WebhookDelivery = WebhookDelivery.objects.select_for_update().get(pk=delivery.pk)
    locked.state = DeliveryState.PENDING
    locked.attempts = 0
    locked.next_attempt_at = timezone.now()
    locked.lease_until = None
    locked.save(update_fields=["state", "attempts", "next_attempt_at", "lease_until"])
    transaction.on_commit(_kick)
    return locked


def _kick() -> None:
    try:
        broker.send_task(SEND_PENDING)
    except Exception:
        log.warning("Could not queue webhook sending; the beat task will.", exc_info=True)


# --- Delivering ----------------------------------------------------------------------------------


def claim_due(limit: int = CLAIM_BATCH) -> list[int]:
    """Lease up to `limit` due deliveries of enabled endpoints to this worker."""
    table = WebhookDelivery._meta.db_table
    endpoints = WebhookEndpoint._meta.db_table
    now = timezone.now()  # not SQL now(): that is when the surrounding transaction began
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            f"""
            UPDATE {table} SET lease_until = %s
            WHERE id IN (
                SELECT d.id FROM {table} d JOIN {endpoints} e ON e.id = d.endpoint_id
                WHERE d.state = %s AND d.next_attempt_at <= %s AND e.enabled
                  AND (d.lease_until IS NULL OR d.lease_until < %s)
                ORDER BY d.next_attempt_at, d.id
                LIMIT %s
                FOR UPDATE OF d SKIP LOCKED
            )
            RETURNING id
            """,  # noqa: S608 (model table names; values are parameters)
            [now + LEASE, DeliveryState.PENDING, now, now, limit],
        )
        return [row[0] for row in cursor.fetchall()]


def attempt(delivery_id: int) -> webhooks.Outcome | None:
    """Send one claimed delivery once and record the attempt. Runs no transaction while
    the request is in flight."""
    delivery = WebhookDelivery.objects.select_related("endpoint").filter(pk=delivery_id).first()
    if delivery is None or delivery.state != DeliveryState.PENDING:
        return None
    endpoint = delivery.endpoint
    headers = webhooks.signed_headers(endpoint.secret, delivery.msg_id, delivery.payload)
    outcome = webhooks.post(endpoint.url, headers, delivery.payload)
    _record(delivery.pk, outcome)
    return outcome


@transaction.atomic
def _record(delivery_id: int, outcome: webhooks.Outcome) -> None:
    now = timezone.now()
    delivery = (
        WebhookDelivery.objects.select_for_update().select_related("endpoint").get(pk=delivery_id)
    )
    endpoint = WebhookEndpoint.objects.select_for_update().get(pk=delivery.endpoint_id)
    WebhookAttempt.objects.create(
        delivery=delivery,
        at=now,
        status_code=outcome.status_code,
        latency_ms=outcome.latency_ms,
        error=outcome.error,
    )
    delivery.attempts += 1
    delivery.lease_until = None
    schedule = settings.WEBHOOK_RETRY_SCHEDULE
    if outcome.ok:
        delivery.state = DeliveryState.SUCCEEDED
        delivery.next_attempt_at = None
        if endpoint.failing_since is not None:
            endpoint.failing_since = None
            endpoint.save(update_fields=["failing_since"])
    else:
        if delivery.attempts > len(schedule):
            delivery.state = DeliveryState.FAILED
            delivery.next_attempt_at = None
        else:
            delivery.next_attempt_at = now + timedelta(seconds=schedule[delivery.attempts - 1])
        if endpoint.failing_since is None:
            endpoint.failing_since = now
            endpoint.save(update_fields=["failing_since"])
        elif endpoint.enabled and (now - endpoint.failing_since).total_seconds() >= (
            settings.WEBHOOK_DISABLE_AFTER_SECONDS
        ):
            _disable(endpoint, now=now)
    delivery.save(update_fields=["attempts", "lease_until", "state", "next_attempt_at"])


def _disable(endpoint: WebhookEndpoint, *, now: Any) -> None:
    hours = settings.WEBHOOK_DISABLE_AFTER_SECONDS / 3600
    endpoint.enabled = False
    endpoint.disabled_at = now
    endpoint.disabled_reason = f"Every delivery failed for {hours:g} hours."
    endpoint.save(update_fields=["enabled", "disabled_at", "disabled_reason"])
    record_audit(
        actor=None,
        organization=endpoint.organization_id,
        action="disable",
        obj=endpoint,
        changes={"reason": endpoint.disabled_reason},
    )
    record_event(
        organization=endpoint.organization,
        kind=EventKind.ENDPOINT_DISABLED,
        key=f"endpoint-disabled:{endpoint.pk}:{int(now.timestamp())}",
        summary=f"Webhook endpoint {endpoint.url[:200]} was disabled: {endpoint.disabled_reason}",
        data={
            "endpoint_id": endpoint.pk,
            "url": endpoint.url,
            "failing_since": endpoint.failing_since.isoformat() if endpoint.failing_since else None,
        },
        occurred_at=now,
        managers_only=True,
    )


def deliver_due(*, max_batches: int = 50) -> int:
    """Send what is due, batch after batch, until nothing is due (or `max_batches`, so one
    task never runs for ever). Returns attempts made."""
    made = 0
    for _ in range(max_batches):
        ids = claim_due()
        if not ids:
            break
        for delivery_id in ids:
            if attempt(delivery_id) is not None:
                made += 1
    return made
