"""Journey (a customer's path to an outcome) and Stage (an ordered phase of it)."""

from __future__ import annotations

from django.db import models
from django.db.models import Q

from accounts.models import Organization, TenantQuerySet, User


class JourneyStatus(models.TextChoices):
    DRAFT = "draft", "Draft"
    ACTIVE = "active", "Active"
    ARCHIVED = "archived", "Archived"


class Journey(models.Model):
    organization = models.ForeignKey(
        Organization, on_delete=models.PROTECT, related_name="journeys"
    )
    name = models.CharField(max_length=200)
    persona = models.CharField(max_length=200, blank=True)
    description = models.TextField(blank=True, max_length=5000)
    status = models.CharField(
        max_length=16, choices=JourneyStatus.choices, default=JourneyStatus.DRAFT
    )
    target = models.FloatField(
        default=80.0, help_text="Default target score (0–100) for its touch points."
    )
    created_by = models.ForeignKey(User, on_delete=models.SET_NULL, null=True, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = TenantQuerySet.as_manager()

    class Meta:
        ordering = ["name", "id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(status__in=JourneyStatus.values), name="journey_status_valid"
            ),
            models.CheckConstraint(
                condition=Q(target__gte=0, target__lte=100), name="journey_target_0_100"
            ),
        ]

    def __str__(self) -> str:
        return self.name


class Stage(models.Model):
    """An ordered phase. Active stages hold positions 0..n-1; archived ones hold none."""

    organization = models.ForeignKey(Organization, on_delete=models.PROTECT, related_name="+")
    journey = models.ForeignKey(Journey, on_delete=models.CASCADE, related_name="stages")
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True, max_length=5000)
    position = models.PositiveIntegerField(null=True, blank=True)
    archived_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    objects = TenantQuerySet.as_manager()

    class Meta:
        ordering = ["journey_id", "position", "id"]
        constraints = [
            # Deferred, so a reorder can pass through duplicates inside its transaction.
            models.UniqueConstraint(
                fields=["journey", "position"],
                name="stage_position_unique",
                deferrable=models.Deferrable.DEFERRED,
            ),
            models.CheckConstraint(
                condition=Q(archived_at__isnull=True, position__isnull=False)
                | Q(archived_at__isnull=False, position__isnull=True),
                name="stage_positioned_iff_active",
            ),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def is_archived(self) -> bool:
        return self.archived_at is not None
