"""Celery tasks of the alerts app: a few lines each, calling its services."""

from __future__ import annotations

from celery import shared_task

from alerts import delivery, emails, services


@shared_task(acks_late=True)
def process() -> dict[str, int]:
    """Beat, every ALERTS_PROCESS_SECONDS: events from the outboxes, verdicts of actions,
    digests whose time has come; then the sending, in a task of its own so a slow
    receiver never delays the next round of events."""
    done = {
        "events": services.drain_outboxes(),
        "judged": services.judge_awaiting(),
        "digests": emails.send_digests(),
    }
    send_pending.delay()
    return done


@shared_task(acks_late=True)
def send_pending() -> dict[str, int]:
    """Immediate emails, then webhook attempts that are due (retries included)."""
    return {"emails": emails.send_immediate(), "webhooks": delivery.deliver_due()}
