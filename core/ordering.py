"""Ordered items (stages, touch points, criteria): positions 0..n-1 among the active ones,
no gaps, no duplicates, and one lifecycle (create, move, archive, restore, remove) for
every kind, each step audited and announced through the one "map changed" hook.

Every change of order locks the parent row first, so two managers reordering the same
list at once are applied one after the other, each to the fresh order. The lock is
FOR NO KEY UPDATE: it does not block evaluations being inserted under the parent.
(The renumbering UPDATE itself does briefly: PostgreSQL counts the columns of any unique
index, deferrable or not, as key columns, so rewriting touch point or criterion positions
row-locks them FOR UPDATE, and an evaluation referencing one waits for that commit.)
The unique (parent, position) constraints are deferred to commit, which lets a
renumbering pass through duplicates inside its transaction.

A kind of item is described by an `Ordered`: its model, the field naming its parent, how
to lock the parent, and what a change means for the scores (`changed`). The domain
services keep what differs between kinds (roles, validation, when a delete must archive
instead) and call these functions for the rest.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Case, Value, When
from django.utils import timezone

from accounts.models import User
from accounts.services import record_audit
from core.text import conflict

# --- Positions -----------------------------------------------------------------------------


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


def move_in(children: models.QuerySet[Any], item_id: int, position: int) -> list[int]:
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


# --- Lifecycle -----------------------------------------------------------------------------

CREATE, REORDER, ARCHIVE, RESTORE, DELETE = "create", "reorder", "archive", "restore", "delete"


@dataclass(frozen=True)
class Ordered:
    """One kind of ordered item.

    `lock_parent(parent_id, action)` locks the parent row for the transaction (a kind may
    need a stronger lock for some actions: criteria lock their touch point FOR UPDATE
    when the rubric changes). `changed(item, action)` runs after every change in the same
    transaction; it is where a kind calls the "map changed" hook (and, for criteria, bumps
    the touch point's rubric version).
    """

    model: type[models.Model]
    parent: str  # the foreign key naming the parent: "journey", "stage", "touch_point"
    lock_parent: Callable[[int, str], object]
    changed: Callable[[Any, str], None]

    def parent_id(self, item: Any) -> int:
        return int(getattr(item, f"{self.parent}_id"))

    def siblings(self, parent_id: int) -> models.QuerySet[Any]:
        return self.model._default_manager.filter(**{f"{self.parent}_id": parent_id})


def create(
    kind: Ordered,
    *,
    actor: User,
    organization_id: int,
    parent_id: int,
    position: int | None,
    values: dict[str, Any],
    prepare: Callable[[Any], object] | None = None,
) -> Any:
    """Create an active item at `position` (default: the end). `prepare(item)` runs right
    after the insert (criteria make their first rubric version there)."""
    kind.lock_parent(parent_id, CREATE)
    siblings = kind.siblings(parent_id)
    item = kind.model._default_manager.create(
        organization_id=organization_id,
        **{f"{kind.parent}_id": parent_id},
        position=siblings.filter(archived_at__isnull=True).count(),
        **values,
    )
    if prepare is not None:
        prepare(item)
    if position is not None:
        insert(siblings, item.pk, position)
        item.refresh_from_db(fields=["position"])
    record_audit(actor=actor, organization=organization_id, action=CREATE, obj=item)
    kind.changed(item, CREATE)
    return item


def move(kind: Ordered, *, actor: User, item: Any, position: int) -> list[int]:
    """Move an active item to `position` among its siblings; returns the new order of ids."""
    kind.lock_parent(kind.parent_id(item), REORDER)
    item.refresh_from_db(fields=["position", "archived_at"])
    if item.archived_at is not None:
        name = kind.model._meta.verbose_name
        raise ValidationError({"position": [conflict(f"Restore the {name} before moving it.")]})
    old_position = item.position
    order = move_in(kind.siblings(kind.parent_id(item)), item.pk, position)
    record_audit(
        actor=actor,
        organization=item.organization_id,
        action=REORDER,
        obj=item,
        changes={"position": [old_position, order.index(item.pk)]},
    )
    kind.changed(item, REORDER)
    return order


def archive(kind: Ordered, *, actor: User, item: Any) -> Any:
    """Take an item off its list (it keeps its history); nothing if already archived."""
    kind.lock_parent(kind.parent_id(item), ARCHIVE)
    item.refresh_from_db(fields=["position", "archived_at"])
    if item.archived_at is None:
        item.archived_at = timezone.now()
        item.position = None
        item.save(update_fields=["archived_at", "position"])
        close_gap(kind.siblings(kind.parent_id(item)))
        record_audit(actor=actor, organization=item.organization_id, action=ARCHIVE, obj=item)
        kind.changed(item, ARCHIVE)
    return item


def restore(kind: Ordered, *, actor: User, item: Any, position: int | None = None) -> Any:
    """Put an archived item back at `position` (default: the end); nothing if active."""
    kind.lock_parent(kind.parent_id(item), RESTORE)
    item.refresh_from_db(fields=["position", "archived_at"])
    if item.archived_at is not None:
        siblings = kind.siblings(kind.parent_id(item))
        item.archived_at = None
        item.position = siblings.filter(archived_at__isnull=True).count()
        item.save(update_fields=["archived_at", "position"])
        insert(siblings, item.pk, position)
        item.refresh_from_db(fields=["position"])
        record_audit(actor=actor, organization=item.organization_id, action=RESTORE, obj=item)
        kind.changed(item, RESTORE)
    return item


def remove(
    kind: Ordered, *, actor: User, item: Any, delete: Callable[[Any], None] | None = None
) -> None:
    """Delete an item for good (the caller has checked nothing hangs off it) and close the
    gap it leaves. `delete(item)` replaces item.delete() where a kind needs more."""
    parent_id = kind.parent_id(item)
    kind.lock_parent(parent_id, DELETE)
    record_audit(actor=actor, organization=item.organization_id, action=DELETE, obj=item)
    kind.changed(item, DELETE)
    if delete is None:
        item.delete()
    else:
        delete(item)
    close_gap(kind.siblings(parent_id))
