"""Celery tasks of the outbox: ids in, notify.services called."""

from __future__ import annotations

from celery import Task, shared_task

from notify import services


@shared_task(bind=True, acks_late=True, max_retries=None)
def deliver_email(self: Task[[int], str], email_id: int) -> str:
    """Send one message; a transient failure comes back after the backoff the outbox row
    records (EMAIL_MAX_ATTEMPTS in all; notify.services.deliver counts them)."""
    outcome = services.deliver(email_id)
    if outcome.retry_in is not None:
        # If this publish fails, the row is still queued and the sweep sends it.
        raise self.retry(countdown=outcome.retry_in)
    return outcome.status


@shared_task(acks_late=True)
def sweep_unsent() -> int:
    return services.sweep_unsent()
