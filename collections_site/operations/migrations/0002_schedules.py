"""The `operations.rollups_refresh` schedule (every five minutes), created or updated by name."""

from django.db import migrations

SCHEDULE = {
    "func": "collections_site.operations.tasks.rollups_refresh_task",
    "schedule_type": "I",  # minutes
    "minutes": 5,
    "repeats": -1,
}


def schedules(apps, schema_editor):
    apps.get_model("django_q", "Schedule").objects.update_or_create(
        name="operations.rollups_refresh", defaults=SCHEDULE
    )


class Migration(migrations.Migration):
    dependencies = [
        ("operations", "0001_rollups"),
        ("django_q", "0019_alter_task_options_alter_ormq_key_alter_ormq_lock_and_more"),
    ]

    operations = [migrations.RunPython(schedules, migrations.RunPython.noop)]
