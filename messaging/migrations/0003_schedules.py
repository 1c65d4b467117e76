"""The `messaging.dispatch_due` schedule (every minute), created or updated by name."""

from django.db import migrations


def schedules(apps, schema_editor):
    from messaging.schedules import schedules_ensure

    schedules_ensure(schedule_model=apps.get_model("django_q", "Schedule"))


class Migration(migrations.Migration):
    dependencies = [
        ("messaging", "0002_library_setup"),
        ("django_q", "0019_alter_task_options_alter_ormq_key_alter_ormq_lock_and_more"),
    ]

    operations = [migrations.RunPython(schedules, migrations.RunPython.noop)]
