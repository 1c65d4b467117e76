"""The `webhooks.deliver_due` (every minute) and `webhooks.events_prune` (daily) schedules,
created or updated by name."""

from django.db import migrations


def schedules(apps, schema_editor):
    from accounts.webhooks.schedules import schedules_ensure

    schedules_ensure(schedule_model=apps.get_model("django_q", "Schedule"))


def schedules_remove(apps, schema_editor):
    from accounts.webhooks.schedules import SCHEDULES

    apps.get_model("django_q", "Schedule").objects.filter(
        name__in=[spec["name"] for spec in SCHEDULES]
    ).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("webhooks", "0001_initial"),
        ("django_q", "0019_alter_task_options_alter_ormq_key_alter_ormq_lock_and_more"),
    ]

    operations = [migrations.RunPython(schedules, schedules_remove)]
