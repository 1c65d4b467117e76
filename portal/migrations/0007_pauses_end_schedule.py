"""The hourly `pauses_end` schedule, created (or updated) by name: idempotent.

Hourly, because a pause ends at midnight on its debtor's calendar, and debtors live in many
time zones."""

from django.db import migrations

NAME = "portal.pauses_end"


def create_schedule(apps, schema_editor):
    Schedule = apps.get_model("django_q", "Schedule")
    Schedule.objects.update_or_create(
        name=NAME,
        defaults={
            "func": "portal.tasks.pauses_end",
            "schedule_type": "H",  # hourly
            "repeats": -1,  # forever
        },
    )


def remove_schedule(apps, schema_editor):
    apps.get_model("django_q", "Schedule").objects.filter(name=NAME).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("portal", "0006_promises_schedule"),
        ("django_q", "0018_task_success_index"),
    ]

    operations = [migrations.RunPython(create_schedule, remove_schedule)]
