"""The journey-level stale mark: the durable half of the one "map changed" hook."""

from __future__ import annotations

from django.db import models


class JourneyStaleMark(models.Model):
    """A journey whose map or scoring settings changed after its scores were computed.

    Written by core.map_changes.map_changed in the same transaction as the change, so it
    is the record (the Celery message queued after commit is only a hint): the scores read
    `pending` while one exists, the recompute deletes the marks it saw, and the sweep
    re-queues journeys whose mark outlived a lost message.

    `journey_id` is a plain column, not a foreign key: core sits below journeys and knows
    none of its models. A mark whose journey was deleted is dropped by the recompute that
    finds no journey.
    """

    journey_id = models.BigIntegerField()
    marked_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        indexes = [models.Index(fields=["journey_id", "id"], name="journeystalemark_journey")]

    def __str__(self) -> str:
        return f"journey {self.journey_id} stale since {self.marked_at}"
