"""Users sign in by email; an Organization is the tenant every object belongs to."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Self

from django.contrib.auth.models import AbstractUser, BaseUserManager
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q

from accounts import access_cache
from accounts.identity import normalised_email


class AccessQuerySet(models.QuerySet[Any]):
    """Rows that decide what an API token reaches (users, organizations, memberships,
    tokens). update() and bulk_create() send no signals, so they end the cached token
    resolutions themselves (accounts.access_cache); saves and deletes do it by signal."""

    def update(self, **kwargs: Any) -> int:
        if set(kwargs) - access_cache.HARMLESS_FIELDS:
            access_cache.bump()
        return super().update(**kwargs)

    def bulk_create(self, objs: Iterable[Any], *args: Any, **kwargs: Any) -> list[Any]:
        access_cache.bump()
        return super().bulk_create(objs, *args, **kwargs)


class UserManager(BaseUserManager["User"]):
    use_in_migrations = True

    def get_queryset(self) -> AccessQuerySet:
        return AccessQuerySet(self.model, using=self._db)

    def _create_user(self, email: str, password: str | None, **extra: Any) -> User:
        if not email:
            raise ValueError("An email address is required.")
        user = self.model(email=normalised_email(self.normalize_email(email)), **extra)
        user.set_password(password)
        user.save(using=self._db)
        return user

    def create_user(self, email: str, password: str | None = None, **extra: Any) -> User:
        extra.setdefault("is_staff", False)
        extra.setdefault("is_superuser", False)
        return self._create_user(email, password, **extra)

    def create_superuser(self, email: str, password: str | None = None, **extra: Any) -> User:
        extra.setdefault("is_staff", True)
        extra.setdefault("is_superuser", True)
        return self._create_user(email, password, **extra)


class User(AbstractUser):
    username = None  # type: ignore[assignment]  # sign-in is by email
    email = models.EmailField("email address", unique=True)

    USERNAME_FIELD = "email"
    REQUIRED_FIELDS = []  # nothing beyond email and password

    objects = UserManager()  # type: ignore[assignment, misc]  # the email-based manager

    def __str__(self) -> str:
        return self.get_full_name() or self.email


#: Bounds of the organization's settings, stated once: the model's validators, the
#: database constraints, the service (journeys.services.update_scoring_settings), the API
#: and the settings page all read these. k above 100 would let the journey average drown
#: any touch point's own evidence; a min n above 1,000 would leave every map blank.
SMOOTHING_K_MAX = 100.0
MIN_N_MAX = 1000
WINDOW_DAYS_MAX = 3660
TARGET_MIN, TARGET_MAX = 0.0, 100.0


class Organization(models.Model):
    name = models.CharField(max_length=200)
    slug = models.SlugField(max_length=60, unique=True)
    default_target = models.FloatField(
        default=80.0,
        validators=[MinValueValidator(TARGET_MIN), MaxValueValidator(TARGET_MAX)],
        help_text="The target (0–100) a new journey starts with.",
    )
    # Scoring settings (PRODUCT.md "Scores, version 1").
    smoothing_k = models.FloatField(
        default=5.0,
        validators=[MinValueValidator(0.0), MaxValueValidator(SMOOTHING_K_MAX)],
        help_text="Weight of the journey prior in smoothed scores (0–100).",
    )
    min_n = models.PositiveIntegerField(
        default=5,
        validators=[MinValueValidator(1), MaxValueValidator(MIN_N_MAX)],
        help_text="Evaluations a touch point needs before it gets a status (1–1000).",
    )
    window_days = models.PositiveIntegerField(
        default=90,
        validators=[MinValueValidator(1), MaxValueValidator(WINDOW_DAYS_MAX)],
        help_text="Default scoring window, in days of observed time (1–3660).",
    )
    created_at = models.DateTimeField(auto_now_add=True)

    objects = AccessQuerySet.as_manager()

    class Meta:
        ordering = ["name"]
        constraints = [
            models.CheckConstraint(
                condition=Q(smoothing_k__gte=0, smoothing_k__lte=SMOOTHING_K_MAX),
                name="org_k_range",
            ),
            models.CheckConstraint(
                condition=Q(min_n__gte=1, min_n__lte=MIN_N_MAX), name="org_min_n_range"
            ),
            models.CheckConstraint(
                condition=Q(window_days__gte=1, window_days__lte=WINDOW_DAYS_MAX),
                name="org_window_range",
            ),
            models.CheckConstraint(
                condition=Q(default_target__gte=TARGET_MIN, default_target__lte=TARGET_MAX),
                name="org_default_target_0_100",
            ),
        ]

    def __str__(self) -> str:
        return self.name


class Role(models.TextChoices):
    MANAGER = "manager", "Manager"
    EVALUATOR = "evaluator", "Evaluator"
    VIEWER = "viewer", "Viewer"


# What each role may do; every check in the code reads these two sets.
ROLES_THAT_EDIT_STRUCTURE = frozenset({Role.MANAGER})
ROLES_THAT_EVALUATE = frozenset({Role.MANAGER, Role.EVALUATOR})


class Membership(models.Model):
    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="memberships")
    organization = models.ForeignKey(
        Organization, on_delete=models.CASCADE, related_name="memberships"
    )
    role = models.CharField(max_length=16, choices=Role.choices)
    created_at = models.DateTimeField(auto_now_add=True)

    objects = AccessQuerySet.as_manager()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "organization"], name="one_membership_per_org"),
            models.CheckConstraint(condition=Q(role__in=Role.values), name="membership_role_valid"),
        ]

    def __str__(self) -> str:
        return f"{self.user} — {self.organization} ({self.role})"

    @property
    def can_edit_structure(self) -> bool:
        return self.role in ROLES_THAT_EDIT_STRUCTURE

    @property
    def can_evaluate(self) -> bool:
        return self.role in ROLES_THAT_EVALUATE


class TenantQuerySet(models.QuerySet[Any]):
    """Every tenant model's manager: the one way to scope rows to an organization."""

    def for_organization(self, organization: Organization | int) -> Self:
        org_id = organization if isinstance(organization, int) else organization.pk
        return self.filter(organization_id=org_id)

    def for_organizations(self, organizations: Iterable[int]) -> Self:
        return self.filter(organization_id__in=list(organizations))


class AuditEvent(models.Model):
    """Who changed which piece of journey structure, and when. Append-only."""

    organization = models.ForeignKey(
        Organization, on_delete=models.CASCADE, related_name="audit_events"
    )
    actor = models.ForeignKey(User, on_delete=models.SET_NULL, null=True, related_name="+")
    # The journey the changed object belongs to (none for sites), so a journey's history is
    # one indexed read. No database constraint: the history outlives a deleted journey.
    journey = models.ForeignKey(
        "journeys.Journey",
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        null=True,
        blank=True,
        related_name="+",
    )
    action = models.CharField(max_length=40)
    object_type = models.CharField(max_length=40)
    object_id = models.BigIntegerField()
    object_repr = models.CharField(max_length=300)
    changes = models.JSONField(default=dict, blank=True)
    at = models.DateTimeField(auto_now_add=True, db_index=True)

    objects = TenantQuerySet.as_manager()

    class Meta:
        ordering = ["-at", "-id"]
        indexes = [
            models.Index(fields=["organization", "-at"]),
            models.Index(fields=["journey", "-at"], name="audit_journey_at"),
        ]

    def __str__(self) -> str:
        return f"{self.actor} {self.action} {self.object_type} {self.object_repr}"


class ApiToken(models.Model):
    """A REST client's credential. Only a SHA-256 of the secret is stored: the token is
    shown once, at creation. Tokens are random (256 bits), so a fast hash is enough."""

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="api_tokens")
    name = models.CharField(max_length=100)
    prefix = models.CharField(max_length=12, unique=True, help_text="Public part, shown in lists.")
    key_hash = models.CharField(max_length=64)
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    # None: never expires. After it, the token is refused like a revoked one.
    expires_at = models.DateTimeField(null=True, blank=True)

    objects = AccessQuerySet.as_manager()

    # Not a column: the user's memberships, loaded with the token when it authenticates a
    # request (accounts.tokens.authenticate_token), so the request needs no second query.
    memberships: tuple[Membership, ...] | None = None

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None


class IdempotencyRecord(models.Model):
    """The first response to a request sent with an `Idempotency-Key` header (core.api.idempotency).

    Written in the same transaction as whatever the request stored, so a request that
    never committed leaves no record and its retry runs afresh. Keys are scoped to an
    organization and kept for 24 hours; `purge_expired_records` deletes older ones.
    """

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="+")
    key = models.CharField(max_length=200)
    # SHA-256 of caller, method, path and canonical JSON body: a reused key must come with
    # the same request to be replayed.
    fingerprint = models.CharField(max_length=64)
    response_status = models.PositiveSmallIntegerField()
    # The rendered JSON text, replayed byte for byte (jsonb would reorder its keys).
    response_body = models.TextField()
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    objects = TenantQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "key"], name="idempotency_key_unique_per_org"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.key} ({self.response_status})"
