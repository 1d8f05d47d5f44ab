"""Stale marks (the outbox of recomputes) and the score snapshots pages and the API read."""

from __future__ import annotations

from django.db import models

from accounts.models import Organization, TenantQuerySet
from journeys.models import Journey
from touchpoints.models import TouchPoint


class StaleMark(models.Model):
    """A touch point whose scores are behind its evaluations.

    Written in the same transaction as the change that made it stale, so it is the
    durable record; the Celery message queued after commit is only a hint. A recompute
    deletes only the marks it saw when it started (ids up to its claim), so a mark
    written meanwhile survives and gets its own recompute.
    """

    touch_point = models.ForeignKey(TouchPoint, on_delete=models.CASCADE, related_name="+")
    marked_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        indexes = [models.Index(fields=["touch_point", "id"], name="stalemark_tp_id")]

    def __str__(self) -> str:
        return f"touch point {self.touch_point_id} stale since {self.marked_at}"


class TouchPointScore(models.Model):
    """The current score of one touch point over the organization's default window."""

    touch_point = models.OneToOneField(
        TouchPoint, on_delete=models.CASCADE, primary_key=True, related_name="score"
    )
    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="+")
    journey = models.ForeignKey(Journey, on_delete=models.CASCADE, related_name="+")
    window_start = models.DateTimeField()
    window_end = models.DateTimeField()
    n = models.PositiveIntegerField(default=0)
    n_unscored = models.PositiveIntegerField(default=0)
    mean = models.FloatField(null=True)
    sd = models.FloatField(null=True)
    ci_low = models.FloatField(null=True)
    ci_high = models.FloatField(null=True)
    prior = models.FloatField(null=True)
    smoothed = models.FloatField(null=True)
    target = models.FloatField()
    status = models.CharField(max_length=20)
    priority = models.FloatField(null=True)
    previous_mean = models.FloatField(null=True)
    trend_change = models.FloatField(null=True)
    # Whether it was the journey's last touch point when `priority` was computed (the last
    # impression weighs 1.5x): read with the priority, so the two always agree.
    is_last = models.BooleanField(default=False)
    perception_gap = models.FloatField(null=True)
    criteria = models.JSONField(default=list)
    by_source = models.JSONField(default=list)
    by_site = models.JSONField(default=list)
    evaluations_count = models.PositiveIntegerField(default=0)
    latest_submitted_at = models.DateTimeField(null=True)
    # How many recomputes have written this row. Recomputes of a journey run one at a time
    # under its advisory lock and read the evaluations afresh, so each generation is at
    # least as new as the last: a late duplicate task recomputes, it never restores old data.
    generation = models.BigIntegerField(default=0)
    method_version = models.PositiveSmallIntegerField(default=1)
    computed_at = models.DateTimeField()

    objects = TenantQuerySet.as_manager()

    def __str__(self) -> str:
        return f"{self.touch_point_id}: {self.smoothed}"


class JourneyScore(models.Model):
    journey = models.OneToOneField(
        Journey, on_delete=models.CASCADE, primary_key=True, related_name="score"
    )
    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="+")
    window_start = models.DateTimeField()
    window_end = models.DateTimeField()
    score = models.FloatField(null=True)
    n = models.PositiveIntegerField(default=0)
    prior = models.FloatField(null=True)
    computed_at = models.DateTimeField()

    objects = TenantQuerySet.as_manager()

    def __str__(self) -> str:
        return f"{self.journey_id}: {self.score}"


class WeeklyScore(models.Model):
    """Weekly history of a touch point: n and mean of scored evaluations per ISO week."""

    touch_point = models.ForeignKey(TouchPoint, on_delete=models.CASCADE, related_name="weekly")
    week_start = models.DateField()
    n = models.PositiveIntegerField()
    mean = models.FloatField(null=True)
    computed_at = models.DateTimeField()

    class Meta:
        ordering = ["touch_point_id", "week_start"]
        constraints = [
            models.UniqueConstraint(fields=["touch_point", "week_start"], name="weekly_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.touch_point_id} {self.week_start}: {self.mean}"


class DayRollup(models.Model):
    """Evaluation scores of one touch point, one UTC day, one source, one site.

    Maintained in SQL in the transaction that stores the evaluations (scoring.sql.roll_up),
    so a recompute reads days, not evaluations, and costs the same at 1,000 or 10 million
    evaluations. Variance travels as M2 (the sum of squared deviations from the mean) and
    groups merge with Chan's formula, which keeps it exact where sums of squares cancel.
    """

    # No index of their own: dayrollup_unique starts with the touch point and
    # dayrollup_journey_day with the journey, both followed by the day. Beside those, a
    # one-column index is smaller, so the planner picked it for a window and filtered the
    # days out row by row: every day ever rolled up, read for a 90-day window.
    touch_point = models.ForeignKey(
        TouchPoint, on_delete=models.CASCADE, related_name="+", db_index=False
    )
    journey = models.ForeignKey(Journey, on_delete=models.CASCADE, related_name="+", db_index=False)
    day = models.DateField()
    source = models.CharField(max_length=20)
    site_id = models.BigIntegerField(null=True)
    evaluations = models.PositiveIntegerField()
    n = models.PositiveIntegerField()
    mean = models.FloatField(null=True)
    m2 = models.FloatField()
    latest_submitted_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["touch_point", "day", "source", "site_id"],
                name="dayrollup_unique",
                nulls_distinct=False,
            ),
        ]
        indexes = [models.Index(fields=["journey", "day"], name="dayrollup_journey_day")]

    def __str__(self) -> str:
        return f"{self.touch_point_id} {self.day} {self.source}: n={self.n}"


class TouchPointDayRollup(models.Model):
    """Evaluation scores of one touch point on one UTC day, every source and site together.

    The same figures as DayRollup without its source and site split: what every read
    without a site or source filter needs (a recompute's headline figures and weekly
    series), in about a fifth of the rows. Maintained beside DayRollup by the same
    statement batch (scoring.sql.roll_up), in the transaction that stores the evaluations.
    """

    # Indexed by tpdayrollup_unique (touch point, day) and tpdayrollup_journey_day: see
    # DayRollup for why no one-column index.
    touch_point = models.ForeignKey(
        TouchPoint, on_delete=models.CASCADE, related_name="+", db_index=False
    )
    journey = models.ForeignKey(Journey, on_delete=models.CASCADE, related_name="+", db_index=False)
    day = models.DateField()
    evaluations = models.PositiveIntegerField()
    n = models.PositiveIntegerField()
    mean = models.FloatField(null=True)
    m2 = models.FloatField()
    latest_submitted_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["touch_point", "day"], name="tpdayrollup_unique"),
        ]
        indexes = [models.Index(fields=["journey", "day"], name="tpdayrollup_journey_day")]

    def __str__(self) -> str:
        return f"{self.touch_point_id} {self.day}: n={self.n}"


class CriterionDayRollup(models.Model):
    """Answer scores of one criterion, one UTC day, one source, one site (see DayRollup)."""

    # Indexed by criteriondayrollup_unique (criterion, day, ...) and criterionrollup_tp_day
    # (touch point, day): see DayRollup.
    criterion = models.ForeignKey(
        "touchpoints.Criterion", on_delete=models.CASCADE, related_name="+", db_index=False
    )
    touch_point = models.ForeignKey(
        TouchPoint, on_delete=models.CASCADE, related_name="+", db_index=False
    )
    day = models.DateField()
    source = models.CharField(max_length=20)
    site_id = models.BigIntegerField(null=True)
    n = models.PositiveIntegerField()
    mean = models.FloatField(null=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["criterion", "day", "source", "site_id"],
                name="criteriondayrollup_unique",
                nulls_distinct=False,
            ),
        ]
        indexes = [
            models.Index(fields=["touch_point", "day"], name="criterionrollup_tp_day"),
        ]

    def __str__(self) -> str:
        return f"{self.criterion_id} {self.day}: n={self.n}"


class ScoreTransition(models.Model):
    """A change the recompute saw between a journey's old and new snapshot, with the
    figures at that moment: a touch point becoming or leaving a weak link, a blind spot
    getting a status, the journey score crossing its target.

    The recompute writes these in its own transaction (scoring.transitions.record) and
    knows nothing of who hears about them: the apps above read and delete them (an
    outbox), so a crashed reader loses nothing and a rolled-back recompute records nothing.
    """

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="+")
    journey = models.ForeignKey(Journey, on_delete=models.CASCADE, related_name="+")
    touch_point = models.ForeignKey(
        TouchPoint, on_delete=models.CASCADE, null=True, blank=True, related_name="+"
    )
    kind = models.CharField(max_length=40)
    figures = models.JSONField(default=dict)
    at = models.DateTimeField()

    objects = TenantQuerySet.as_manager()

    def __str__(self) -> str:
        return f"{self.kind} journey {self.journey_id} touch point {self.touch_point_id}"


class CriterionTotalDayRollup(models.Model):
    """Answer scores of one criterion on one UTC day, every source and site together: the
    criteria means of unfiltered reads (a recompute's breakdowns) from a fifth of the rows
    of CriterionDayRollup, maintained beside it (scoring.sql.roll_up)."""

    # Indexed by criteriontotal_unique (criterion, day) and criteriontotal_tp_day.
    criterion = models.ForeignKey(
        "touchpoints.Criterion", on_delete=models.CASCADE, related_name="+", db_index=False
    )
    touch_point = models.ForeignKey(
        TouchPoint, on_delete=models.CASCADE, related_name="+", db_index=False
    )
    day = models.DateField()
    n = models.PositiveIntegerField()
    mean = models.FloatField(null=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["criterion", "day"], name="criteriontotal_unique"),
        ]
        indexes = [models.Index(fields=["touch_point", "day"], name="criteriontotal_tp_day")]

    def __str__(self) -> str:
        return f"{self.criterion_id} {self.day}: n={self.n}"
