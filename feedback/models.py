"""Customer feedback: which questions a touch point asks its customers, the links (and QR
posters) that reach them, and which link each stored response came through.

A response is an ordinary touchpoints.Evaluation (source customer survey, no user),
stored by the same submit service as every staff entry; FeedbackResponse only adds the
link it came through. Layering: this app imports the domain apps, never the reverse.
"""

from __future__ import annotations

from django.db import models
from django.db.models import Q
from django.utils import timezone

from accounts.models import Organization, TenantQuerySet, User
from touchpoints.models import Criterion, Evaluation, Site, TouchPoint

QUESTION_MAX_LENGTH = 200
LABEL_MAX_LENGTH = 80
# Two answers and one tap on Send: the public page's three-tap promise (issue 15).
MAX_QUESTIONS = 2
# Public comments are shorter than staff comments: a phone, a moment, a thought.
PUBLIC_COMMENT_MAX_LENGTH = 1000


class Language(models.TextChoices):
    """What the public page speaks. BROWSER follows the visitor's Accept-Language."""

    BROWSER = "", "The visitor's browser language"
    ENGLISH = "en", "English"
    GERMAN = "de", "Deutsch"


class FeedbackSetup(models.Model):
    """Per touch point: whether customers may add a free-text comment."""

    organization = models.ForeignKey(Organization, on_delete=models.PROTECT, related_name="+")
    touch_point = models.OneToOneField(
        TouchPoint, on_delete=models.CASCADE, related_name="feedback_setup"
    )
    ask_comment = models.BooleanField(default=False)
    updated_at = models.DateTimeField(auto_now=True)

    objects = TenantQuerySet.as_manager()

    def __str__(self) -> str:
        return f"Feedback set-up of {self.touch_point}"


class FeedbackQuestion(models.Model):
    """A criterion customers answer, with the plain-language question shown for it."""

    organization = models.ForeignKey(Organization, on_delete=models.PROTECT, related_name="+")
    touch_point = models.ForeignKey(
        TouchPoint, on_delete=models.CASCADE, related_name="feedback_questions"
    )
    criterion = models.ForeignKey(Criterion, on_delete=models.CASCADE, related_name="+")
    text = models.CharField(max_length=QUESTION_MAX_LENGTH)
    position = models.PositiveSmallIntegerField(default=0)

    objects = TenantQuerySet.as_manager()

    class Meta:
        ordering = ["touch_point_id", "position", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["touch_point", "criterion"], name="feedback_question_once_per_criterion"
            ),
        ]

    def __str__(self) -> str:
        return self.text


class FeedbackLinkQuerySet(TenantQuerySet):
    def open(self) -> FeedbackLinkQuerySet:
        """Links that still take answers: not revoked, not expired."""
        return self.filter(revoked_at__isnull=True).filter(
            Q(expires_at__isnull=True) | Q(expires_at__gt=timezone.now())
        )


class FeedbackLink(models.Model):
    """An unguessable public URL (and its QR poster) through which customers answer."""

    organization = models.ForeignKey(Organization, on_delete=models.PROTECT, related_name="+")
    touch_point = models.ForeignKey(
        TouchPoint, on_delete=models.CASCADE, related_name="feedback_links"
    )
    site = models.ForeignKey(
        Site, on_delete=models.PROTECT, null=True, blank=True, related_name="feedback_links"
    )
    # secrets.token_urlsafe(16): 128 random bits, 22 URL-safe characters.
    token = models.CharField(max_length=43, unique=True)
    label = models.CharField(max_length=LABEL_MAX_LENGTH, blank=True)
    language = models.CharField(max_length=8, choices=Language.choices, blank=True, default="")
    expires_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    created_by = models.ForeignKey(User, on_delete=models.SET_NULL, null=True, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    objects = FeedbackLinkQuerySet.as_manager()

    class Meta:
        ordering = ["touch_point_id", "-created_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(language__in=Language.values), name="feedback_link_language_valid"
            ),
        ]

    def __str__(self) -> str:
        return self.label or f"Link {self.pk}"

    @property
    def is_revoked(self) -> bool:
        return self.revoked_at is not None

    @property
    def is_expired(self) -> bool:
        return self.expires_at is not None and self.expires_at <= timezone.now()

    @property
    def is_open(self) -> bool:
        return not self.is_revoked and not self.is_expired


class FeedbackResponse(models.Model):
    """Which link a customer's evaluation came through (one row per such evaluation)."""

    evaluation = models.OneToOneField(
        Evaluation, on_delete=models.CASCADE, primary_key=True, related_name="feedback_response"
    )
    link = models.ForeignKey(FeedbackLink, on_delete=models.PROTECT, related_name="responses")
    received_at = models.DateTimeField()

    class Meta:
        indexes = [models.Index(fields=["link", "received_at"], name="feedback_response_link_at")]

    def __str__(self) -> str:
        return f"Response {self.evaluation_id} via link {self.link_id}"
