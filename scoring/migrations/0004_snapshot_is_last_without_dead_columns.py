"""Snapshots store "is last" beside the priority it weighed; the journey snapshot's
weak_links, blind_spots and status_counts (written, never read: the reads derive them from
the touch point rows) go. Every journey with a snapshot is marked stale so the sweep
rewrites its rows with is_last filled in."""

from django.db import migrations, models


def mark_every_snapshot_stale(apps, schema_editor):  # type: ignore[no-untyped-def]
    JourneyScore = apps.get_model("scoring", "JourneyScore")
    JourneyStaleMark = apps.get_model("core", "JourneyStaleMark")
    JourneyStaleMark.objects.bulk_create(
        JourneyStaleMark(journey_id=pk)
        for pk in JourneyScore.objects.values_list("journey_id", flat=True)
    )


class Migration(migrations.Migration):
    dependencies = [
        ("core", "0001_initial"),
        ("scoring", "0003_rollups_without_one_column_indexes"),
    ]

    operations = [
        migrations.RemoveField(model_name="journeyscore", name="blind_spots"),
        migrations.RemoveField(model_name="journeyscore", name="status_counts"),
        migrations.RemoveField(model_name="journeyscore", name="weak_links"),
        migrations.AddField(
            model_name="touchpointscore",
            name="is_last",
            field=models.BooleanField(default=False),
        ),
        migrations.RunPython(mark_every_snapshot_stale, migrations.RunPython.noop),
    ]
