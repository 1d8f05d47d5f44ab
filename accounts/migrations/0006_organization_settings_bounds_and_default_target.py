"""Bounds on the organization's settings (issue 14): smoothing k 0–100 (it had no upper
bound), min n 1–1000 (the service allowed up to a million), and the new default target
(0–100) a journey starts with.

Rows outside the new bounds are brought to the nearest bound before the constraints are
added, and their journeys are marked stale (core_journeystalemark, as map_changed does) so
the sweep rescores them with the settings now stored."""

import django.core.validators
from django.db import migrations, models

CLAMP = """
INSERT INTO core_journeystalemark (journey_id, marked_at)
SELECT j.id, now() FROM journeys_journey j JOIN accounts_organization o ON o.id = j.organization_id
WHERE o.smoothing_k > 100 OR o.min_n > 1000;
UPDATE accounts_organization SET smoothing_k = LEAST(smoothing_k, 100), min_n = LEAST(min_n, 1000)
WHERE smoothing_k > 100 OR min_n > 1000;
"""


class Migration(migrations.Migration):
    dependencies = [
        ("core", "0001_initial"),
        ("journeys", "0001_initial"),
        ("accounts", "0005_api_token_expiry"),
    ]

    operations = [
        migrations.RemoveConstraint(
            model_name="organization",
            name="org_k_not_negative",
        ),
        migrations.RemoveConstraint(
            model_name="organization",
            name="org_min_n_positive",
        ),
        migrations.AddField(
            model_name="organization",
            name="default_target",
            field=models.FloatField(
                default=80.0,
                help_text="The target (0–100) a new journey starts with.",
                validators=[
                    django.core.validators.MinValueValidator(0.0),
                    django.core.validators.MaxValueValidator(100.0),
                ],
            ),
        ),
        migrations.AlterField(
            model_name="organization",
            name="min_n",
            field=models.PositiveIntegerField(
                default=5,
                help_text="Evaluations a touch point needs before it gets a status (1–1000).",
                validators=[
                    django.core.validators.MinValueValidator(1),
                    django.core.validators.MaxValueValidator(1000),
                ],
            ),
        ),
        migrations.AlterField(
            model_name="organization",
            name="smoothing_k",
            field=models.FloatField(
                default=5.0,
                help_text="Weight of the journey prior in smoothed scores (0–100).",
                validators=[
                    django.core.validators.MinValueValidator(0.0),
                    django.core.validators.MaxValueValidator(100.0),
                ],
            ),
        ),
        migrations.AlterField(
            model_name="organization",
            name="window_days",
            field=models.PositiveIntegerField(
                default=90,
                help_text="Default scoring window, in days of observed time (1–3660).",
                validators=[
                    django.core.validators.MinValueValidator(1),
                    django.core.validators.MaxValueValidator(3660),
                ],
            ),
        ),
        migrations.RunSQL(CLAMP, migrations.RunSQL.noop),
        migrations.AddConstraint(
            model_name="organization",
            constraint=models.CheckConstraint(
                condition=models.Q(("smoothing_k__gte", 0), ("smoothing_k__lte", 100.0)),
                name="org_k_range",
            ),
        ),
        migrations.AddConstraint(
            model_name="organization",
            constraint=models.CheckConstraint(
                condition=models.Q(("min_n__gte", 1), ("min_n__lte", 1000)), name="org_min_n_range"
            ),
        ),
        migrations.AddConstraint(
            model_name="organization",
            constraint=models.CheckConstraint(
                condition=models.Q(("default_target__gte", 0.0), ("default_target__lte", 100.0)),
                name="org_default_target_0_100",
            ),
        ),
    ]
