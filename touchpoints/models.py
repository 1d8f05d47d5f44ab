"""TouchPoint, Criterion with its immutable CriterionVersion rows, Site, Evaluation, Answer.

Evaluations are facts. Each Answer points at the CriterionVersion it was given under,
so changing a criterion's kind, scale, target or weight later creates a new version
and never changes what a stored answer means or scores.
"""

from __future__ import annotations

from datetime import timedelta

from django.db import models
from django.db.models import Exists, F, OuterRef, Q

from accounts.models import Organization, TenantQuerySet, User
from journeys.models import Journey, JourneyStatus, Stage


class Channel(models.TextChoices):
    PHONE = "phone", "Phone"
    IN_PERSON = "in_person", "In person"
    WEB = "web", "Web"
    APP = "app", "App"
    EMAIL = "email", "Email"
    CHAT = "chat", "Chat"
    PHYSICAL = "physical", "Physical environment"
    MAIL = "mail", "Mail"
    OTHER = "other", "Other"


def on_map_q(prefix: str = "") -> Q:
    """The condition for a touch point to be on its journey's map: neither it nor its stage
    archived. `prefix` reaches it through a relation ("touch_point__"). Only the map is
    scored: this is the one definition the recompute, the on-demand reads, the pages and
    the evaluation form share."""
    return Q(**{f"{prefix}archived_at__isnull": True, f"{prefix}stage__archived_at__isnull": True})


class TouchPointQuerySet(TenantQuerySet):
    def on_map(self) -> TouchPointQuerySet:
        """Touch points on their journey's map (on_map_q)."""
        return self.filter(on_map_q())

    def evaluable(self) -> TouchPointQuerySet:
        """Touch points that take evaluations: on the map, in a journey that is not
        archived, with at least one active criterion to answer."""
        return (
            self.on_map()
            .exclude(journey__status=JourneyStatus.ARCHIVED)
            .filter(
                Exists(
                    Criterion.objects.filter(
                        touch_point_id=OuterRef("pk"), archived_at__isnull=True
                    )
                )
            )
        )


class TouchPoint(models.Model):
    """A moment of truth: an ordered interaction inside a stage."""

    organization = models.ForeignKey(Organization, on_delete=models.PROTECT, related_name="+")
    # Denormalised from the stage so scoring can group a journey's evaluations cheaply.
    journey = models.ForeignKey(Journey, on_delete=models.CASCADE, related_name="touch_points")
    stage = models.ForeignKey(Stage, on_delete=models.CASCADE, related_name="touch_points")
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True, max_length=5000)
    channel = models.CharField(max_length=16, choices=Channel.choices, default=Channel.OTHER)
    owner_team = models.CharField(max_length=120, blank=True)
    importance = models.PositiveSmallIntegerField(
        default=3, help_text="1 (minor) to 5 (make or break)."
    )
    target = models.FloatField(
        null=True, blank=True, help_text="Target score 0–100; empty inherits the journey's."
    )
    position = models.PositiveIntegerField(null=True, blank=True)
    archived_at = models.DateTimeField(null=True, blank=True)
    # Bumped whenever its set of criteria or any criterion's rubric changes.
    rubric_version = models.PositiveIntegerField(default=1)
    created_at = models.DateTimeField(auto_now_add=True)

    objects = TouchPointQuerySet.as_manager()

    class Meta:
        ordering = ["stage_id", "position", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["stage", "position"],
                name="touch_point_position_unique",
                deferrable=models.Deferrable.DEFERRED,
            ),
            models.CheckConstraint(
                condition=Q(archived_at__isnull=True, position__isnull=False)
                | Q(archived_at__isnull=False, position__isnull=True),
                name="touch_point_positioned_iff_active",
            ),
            models.CheckConstraint(
                condition=Q(importance__gte=1, importance__lte=5), name="touch_point_importance_1_5"
            ),
            models.CheckConstraint(
                condition=Q(target__isnull=True) | Q(target__gte=0, target__lte=100),
                name="touch_point_target_0_100",
            ),
            models.CheckConstraint(
                condition=Q(channel__in=Channel.values), name="touch_point_channel_valid"
            ),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def is_archived(self) -> bool:
        return self.archived_at is not None

    @property
    def is_on_map(self) -> bool:
        """on_map_q for one loaded touch point (its stage is read)."""
        return self.archived_at is None and self.stage.archived_at is None

    @property
    def effective_target(self) -> float:
        return self.target if self.target is not None else self.journey.target


class CriterionKind(models.TextChoices):
    SCALE = "scale", "Scale"
    YES_NO = "yes_no", "Yes / no"
    NUMERIC = "numeric", "Numeric"


class Criterion(models.Model):
    """One thing evaluated at a touch point. Its rubric lives in `current_version`."""

    organization = models.ForeignKey(Organization, on_delete=models.PROTECT, related_name="+")
    touch_point = models.ForeignKey(TouchPoint, on_delete=models.CASCADE, related_name="criteria")
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True, max_length=5000)
    position = models.PositiveIntegerField(null=True, blank=True)
    archived_at = models.DateTimeField(null=True, blank=True)
    # RESTRICT, not PROTECT: a version may go only together with its criterion (deleting a
    # touch point, stage or journey nobody evaluated cascades to both); PROTECT would refuse
    # even that. Answered versions stay protected by Answer.criterion_version.
    current_version = models.OneToOneField(
        "CriterionVersion", on_delete=models.RESTRICT, null=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    objects = TenantQuerySet.as_manager()

    class Meta:
        ordering = ["touch_point_id", "position", "id"]
        verbose_name_plural = "criteria"
        constraints = [
            models.UniqueConstraint(
                fields=["touch_point", "position"],
                name="criterion_position_unique",
                deferrable=models.Deferrable.DEFERRED,
            ),
            models.CheckConstraint(
                condition=Q(archived_at__isnull=True, position__isnull=False)
                | Q(archived_at__isnull=False, position__isnull=True),
                name="criterion_positioned_iff_active",
            ),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def is_archived(self) -> bool:
        return self.archived_at is not None

    @property
    def rubric(self) -> CriterionVersion:
        """The current rubric; every criterion gets one in the service that creates it."""
        if self.current_version is None:
            raise RuntimeError(f"Criterion {self.pk} has no rubric version.")
        return self.current_version


class CriterionVersion(models.Model):
    """The rubric of a criterion at one point in time. Never edited once answered."""

    criterion = models.ForeignKey(Criterion, on_delete=models.CASCADE, related_name="versions")
    number = models.PositiveIntegerField()
    kind = models.CharField(max_length=16, choices=CriterionKind.choices)
    scale_size = models.PositiveSmallIntegerField(null=True, blank=True)
    scale_labels = models.JSONField(default=list, blank=True)
    unit = models.CharField(max_length=30, blank=True)
    target_value = models.FloatField(null=True, blank=True)
    worst_value = models.FloatField(null=True, blank=True)
    weight = models.FloatField(default=1.0)
    critical = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["criterion_id", "number"]
        constraints = [
            models.UniqueConstraint(
                fields=["criterion", "number"], name="criterion_version_unique"
            ),
            models.CheckConstraint(
                condition=Q(kind__in=CriterionKind.values), name="criterion_kind_valid"
            ),
            models.CheckConstraint(
                condition=Q(weight__gt=0, weight__lt=float("inf")), name="criterion_weight_positive"
            ),
            models.CheckConstraint(
                # isnull=False spelled out: a CHECK passes when it evaluates to NULL.
                condition=~Q(kind=CriterionKind.SCALE)
                | Q(scale_size__isnull=False, scale_size__gte=2, scale_size__lte=11),
                name="criterion_scale_size_2_11",
            ),
            models.CheckConstraint(
                condition=~Q(kind=CriterionKind.NUMERIC)
                | (
                    Q(target_value__isnull=False, worst_value__isnull=False)
                    & ~Q(target_value=F("worst_value"))
                ),
                name="criterion_numeric_has_target_and_worst",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.criterion_id} v{self.number} ({self.kind})"


class Site(models.Model):
    """A place an evaluation was made at: a branch, a store, a call centre."""

    organization = models.ForeignKey(Organization, on_delete=models.PROTECT, related_name="sites")
    name = models.CharField(max_length=200)
    code = models.CharField(max_length=40, blank=True)
    archived_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    objects = TenantQuerySet.as_manager()

    class Meta:
        ordering = ["name", "id"]
        constraints = [
            models.UniqueConstraint(fields=["organization", "name"], name="site_name_unique"),
        ]

    def __str__(self) -> str:
        return self.name


class Source(models.TextChoices):
    SELF_CHECK = "self_check", "Self-check"
    SUPERVISOR = "supervisor", "Supervisor"
    MYSTERY_SHOPPER = "mystery_shopper", "Mystery shopper"
    CUSTOMER_SURVEY = "customer_survey", "Customer survey"
    AUDIT = "audit", "Audit"


# The observed time may run ahead of the server clock by this much (phones' clocks drift).
OBSERVED_AT_CLOCK_SKEW = timedelta(minutes=5)
COMMENT_MAX_LENGTH = 5000


class Evaluation(models.Model):
    """One observation of one touch point. A fact: never silently changed or lost."""

    organization = models.ForeignKey(Organization, on_delete=models.PROTECT, related_name="+")
    journey = models.ForeignKey(Journey, on_delete=models.PROTECT, related_name="+")
    touch_point = models.ForeignKey(
        TouchPoint, on_delete=models.PROTECT, related_name="evaluations"
    )
    # NULL only for a customer answering through a feedback link (the feedback app records
    # which link): nobody signed in, and nobody to name. Staff entries always have a user.
    evaluator = models.ForeignKey(
        User, on_delete=models.PROTECT, null=True, blank=True, related_name="evaluations"
    )
    source = models.CharField(max_length=20, choices=Source.choices)
    site = models.ForeignKey(
        Site, on_delete=models.PROTECT, null=True, blank=True, related_name="evaluations"
    )
    observed_at = models.DateTimeField()
    submitted_at = models.DateTimeField()
    comment = models.TextField(blank=True, max_length=COMMENT_MAX_LENGTH)
    # NULL, not "", when absent: the unique constraint below applies to given keys only.
    client_key = models.CharField(  # noqa: DJ001
        max_length=200,
        null=True,
        blank=True,
        help_text="The client's own id for this evaluation; a second submission with it is refused.",
    )
    rubric_version = models.PositiveIntegerField()
    # Derived in SQL from the answers in the same transaction that stores them (touchpoints.answer_scores);
    # NULL when no answer applies. Rubric versions never change, so neither does this.
    score = models.FloatField(null=True, blank=True, editable=False)

    objects = TenantQuerySet.as_manager()

    class Meta:
        ordering = ["-observed_at", "-id"]
        indexes = [
            models.Index(fields=["touch_point", "observed_at"], name="evaluation_tp_observed"),
            models.Index(fields=["journey", "observed_at"], name="evaluation_journey_observed"),
            models.Index(fields=["organization", "-observed_at"], name="evaluation_org_observed"),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "client_key"],
                condition=Q(client_key__isnull=False),
                name="evaluation_client_key_unique",
            ),
            models.CheckConstraint(
                condition=Q(source__in=Source.values), name="evaluation_source_valid"
            ),
            models.CheckConstraint(
                condition=Q(observed_at__lte=F("submitted_at") + OBSERVED_AT_CLOCK_SKEW),
                name="evaluation_not_observed_in_future",
            ),
            models.CheckConstraint(
                condition=Q(evaluator__isnull=False) | Q(source=Source.CUSTOMER_SURVEY),
                name="evaluation_without_user_is_customer_survey",
            ),
        ]

    def __str__(self) -> str:
        return f"Evaluation {self.pk} of {self.touch_point_id}"


class Answer(models.Model):
    """One criterion's answer: a value, or NULL for "not applicable"."""

    evaluation = models.ForeignKey(Evaluation, on_delete=models.CASCADE, related_name="answers")
    criterion = models.ForeignKey(Criterion, on_delete=models.PROTECT, related_name="answers")
    criterion_version = models.ForeignKey(
        CriterionVersion, on_delete=models.PROTECT, related_name="answers"
    )
    value = models.FloatField(null=True, blank=True)
    # The answer score 0–100 under its criterion version, derived in SQL (touchpoints.answer_scores).
    score = models.FloatField(null=True, blank=True, editable=False)

    class Meta:
        ordering = ["evaluation_id", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["evaluation", "criterion"], name="answer_once_per_criterion"
            ),
            # PostgreSQL orders NaN above +Infinity, so this range excludes NaN and both infinities.
            models.CheckConstraint(
                condition=Q(value__isnull=True)
                | Q(value__gt=float("-inf"), value__lt=float("inf")),
                name="answer_value_finite",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.criterion_id}={self.value}"


class CriticalFailure(models.Model):
    """An evaluation that failed a critical criterion (its answer scored 0), written in the
    submission's transaction (touchpoints.outbox). The apps above that tell people about it
    read and delete these rows; the submission knows nothing of them."""

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="+")
    evaluation = models.ForeignKey(Evaluation, on_delete=models.CASCADE, related_name="+")
    criterion = models.ForeignKey(Criterion, on_delete=models.CASCADE, related_name="+")
    at = models.DateTimeField(auto_now_add=True)

    objects = TenantQuerySet.as_manager()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["evaluation", "criterion"], name="critical_failure_once"
            ),
        ]

    def __str__(self) -> str:
        return f"evaluation {self.evaluation_id} failed criterion {self.criterion_id}"
