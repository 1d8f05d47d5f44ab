"""Ordered children (stages, touch points, criteria): positions 0..n-1, no gaps, no duplicates.

Every change of order locks the parent row first, so two managers reordering the same
list at once are applied one after the other, each to the fresh order. The lock is
FOR NO KEY UPDATE: it does not block evaluations being inserted under the parent.
(The renumbering UPDATE itself does briefly: PostgreSQL counts the columns of any unique
index, deferrable or not, as key columns, so rewriting touch point or criterion positions
row-locks them FOR UPDATE, and an evaluation referencing one waits for that commit.)
The unique (parent, position) constraints are deferred to commit, which lets a
renumbering pass through duplicates inside its transaction.
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Case, Value, When


def lock(model: type[models.Model], pk: int) -> Any:
    """Lock and return a parent row for the rest of the transaction."""
    return model._default_manager.select_for_update(no_key=True).get(pk=pk)


def active_ids(children: models.QuerySet[Any]) -> list[int]:
    return list(
        children.filter(archived_at__isnull=True).order_by("position").values_list("pk", flat=True)
    )


def renumber(model: type[models.Model], ordered_ids: list[int]) -> None:
    """Write positions 0..n-1 in one UPDATE."""
    if not ordered_ids:
        return
    model._default_manager.filter(pk__in=ordered_ids).update(
        position=Case(
            *(When(pk=pk, then=Value(i)) for i, pk in enumerate(ordered_ids)),
            output_field=models.PositiveIntegerField(),
        )
    )


def check_position(position: int, size: int) -> None:
    if isinstance(position, bool) or not isinstance(position, int):
        raise ValidationError({"position": ["Position must be a whole number."]})
    if not 0 <= position < max(size, 1):
        raise ValidationError({"position": [f"Position must be between 0 and {max(size - 1, 0)}."]})


def move(children: models.QuerySet[Any], item_id: int, position: int) -> list[int]:
    """Move one active child to `position` among its active siblings; returns the new order."""
    ids = active_ids(children)
    check_position(position, len(ids))
    ids.remove(item_id)
    ids.insert(position, item_id)
    renumber(children.model, ids)
    return ids


def insert(children: models.QuerySet[Any], item_id: int, position: int | None) -> list[int]:
    """Place a child that has just become active (new, restored or moved in) at `position`."""
    ids = [pk for pk in active_ids(children) if pk != item_id]
    if position is None:
        position = len(ids)
    check_position(position, len(ids) + 1)
    ids.insert(position, item_id)
    renumber(children.model, ids)
    return ids


def close_gap(children: models.QuerySet[Any]) -> None:
    """Renumber the active children after one left (archived, deleted or moved out)."""
    renumber(children.model, active_ids(children))
