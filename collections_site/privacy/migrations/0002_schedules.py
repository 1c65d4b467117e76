"""The daily `privacy.retention_apply` schedule (03:30 UTC, after the recommender's nightly
jobs), created or updated by name: idempotent."""

from datetime import timedelta

from django.db import migrations
from django.utils import timezone

NAME = "privacy.retention_apply"


def _next_run():
    now = timezone.now()
    run = now.replace(hour=3, minute=30, second=0, microsecond=0)
    return run if run > now else run + timedelta(days=1)


def create_schedule(apps, schema_editor):
    Schedule = apps.get_model("django_q", "Schedule")
    Schedule.objects.update_or_create(
        name=NAME,
        defaults={
            "func": "collections_site.privacy.tasks.retention_apply",
            "schedule_type": "D",  # daily
            "repeats": -1,  # forever
            "next_run": _next_run(),
        },
    )


def remove_schedule(apps, schema_editor):
    apps.get_model("django_q", "Schedule").objects.filter(name=NAME).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("privacy", "0001_initial"),
        ("django_q", "0019_alter_task_options_alter_ormq_key_alter_ormq_lock_and_more"),
    ]

    operations = [migrations.RunPython(create_schedule, remove_schedule)]
