"""Housekeeping tasks of the core, run by Celery beat."""

from celery import shared_task

from core.api.idempotency import purge_expired_records


@shared_task(name="core.tasks.purge_idempotency_records")
def purge_idempotency_records() -> int:
    """Delete Idempotency-Key records past their 24 h life; returns how many went."""
    return purge_expired_records()
