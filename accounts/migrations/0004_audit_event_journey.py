"""AuditEvent.journey: the journey each structure change belongs to, filled in for the
events already recorded whose object still exists."""

import django.db.models.deletion
from django.db import migrations, models

BACKFILL = [
    "UPDATE accounts_auditevent SET journey_id = object_id WHERE object_type = 'journey'",
    "UPDATE accounts_auditevent e SET journey_id = s.journey_id FROM journeys_stage s"
    " WHERE e.object_type = 'stage' AND s.id = e.object_id",
    "UPDATE accounts_auditevent e SET journey_id = t.journey_id FROM touchpoints_touchpoint t"
    " WHERE e.object_type = 'touchpoint' AND t.id = e.object_id",
    "UPDATE accounts_auditevent e SET journey_id = t.journey_id"
    " FROM touchpoints_criterion c JOIN touchpoints_touchpoint t ON t.id = c.touch_point_id"
    " WHERE e.object_type = 'criterion' AND c.id = e.object_id",
]


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0003_idempotency_records"),
        ("journeys", "0001_initial"),
        ("touchpoints", "0001_initial"),
    ]

    operations = [
        migrations.AddField(
            model_name="auditevent",
            name="journey",
            field=models.ForeignKey(
                blank=True,
                db_constraint=False,
                null=True,
                on_delete=django.db.models.deletion.DO_NOTHING,
                related_name="+",
                to="journeys.journey",
            ),
        ),
        migrations.AddIndex(
            model_name="auditevent",
            index=models.Index(fields=["journey", "-at"], name="audit_journey_at"),
        ),
        migrations.RunSQL(BACKFILL, migrations.RunSQL.noop),
    ]
